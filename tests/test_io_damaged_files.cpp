// The io layer's defences against damaged files and interrupted writes:
// declared sizes are checked before anything is allocated, the signature
// and length of a file before libhdf5 opens it, links that could loop are
// refused, a failed write leaves the old file, stale temporary files are
// told from live ones, and a checkpoint's counters must agree.
// (tests/malformed_files.py runs the example programs on every kind of
// malformed file; these are the library's own guarantees.)
#include <catch2/catch.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/io/atomic_file.hpp"
#include "ctd/io/checkpoint.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "error_of.hpp"
#include "temp_dir.hpp"

namespace fs = std::filesystem;
using Catch::Matchers::Contains;
using ctd::testing::error_of;
using ctd::testing::TempDir;
using namespace ctd;

namespace {

// A file with one chunked float32 dataset of the given shape whose chunks
// are never written: a few hundred bytes declaring any size.
void declare(const fs::path& file, std::vector<hsize_t> dims) {
  H5::H5File h5(file.string(), H5F_ACC_TRUNC);
  H5::DSetCreatPropList plist;
  const std::vector<hsize_t> chunk(dims.size(), 1);
  plist.setChunk(int(dims.size()), chunk.data());
  h5.createDataSet("x", H5::PredType::IEEE_F32LE, H5::DataSpace(int(dims.size()), dims.data()), plist);
}

}  // namespace

TEST_CASE("damaged files: declared sizes are checked before anything is read", "[io][h5]") {
  TempDir dir;
  const fs::path file = dir.path / "declared.h5";
  declare(file, {hsize_t(1) << 30, hsize_t(1) << 20});
  CHECK_THAT(error_of([&] { io::read_h5(file); }),
             Contains(file.string() + ": key 'x': declares shape (1073741824, 1048576)") &&
                 Contains("more than this machine's memory"));
  declare(file, {hsize_t(1) << 40, hsize_t(1) << 40, hsize_t(1) << 40});
  CHECK_THAT(error_of([&] { io::read_h5(file); }), Contains("key 'x'") && Contains("whose size overflows"));
  declare(file, {1024, 1024});
  CHECK_THAT(error_of([&] { io::read_h5(file); }),
             Contains("key 'x': declares shape (1024, 1024) (4194304 bytes) but the file stores 0 bytes of it"));
}

TEST_CASE("damaged files: signature and length are checked before libhdf5 opens the file", "[io][h5]") {
  TempDir dir;
  const fs::path file = dir.path / "cut.h5";
  io::Dict d;
  d.set<float>("w", {100, 10}, std::vector<float>(1000, 0.5f));
  io::write_h5(file, d);
  const auto size = fs::file_size(file);
  fs::resize_file(file, size / 2);
  CHECK_THAT(error_of([&] { io::read_h5(file); }),
             Contains(file.string() + ": truncated HDF5 file: its superblock says it ends at byte " +
                      std::to_string(size) + ", the file has " + std::to_string(size / 2) + " bytes"));
  fs::resize_file(file, 0);
  CHECK_THAT(error_of([&] { io::read_h5(file); }), Contains("empty file (0 bytes)"));
  CHECK_THAT(error_of([&] { io::read_h5(dir.path); }), Contains("not a regular file"));
}

TEST_CASE("damaged files: a link back to a parent is refused, not followed forever", "[io][h5]") {
  TempDir dir;
  const fs::path file = dir.path / "loop.h5";
  {
    H5::H5File h5(file.string(), H5F_ACC_TRUNC);
    h5.createGroup("/g");
    REQUIRE(H5Lcreate_hard(h5.getId(), "/", h5.getId(), "/g/loop", H5P_DEFAULT, H5P_DEFAULT) >= 0);
  }
  CHECK_THAT(error_of([&] { io::read_h5(file); }), Contains("key 'g/loop': linked under 2 names"));
}

TEST_CASE("atomic writes: a failed write leaves the old file, and stale temporaries are told apart", "[io]") {
  TempDir dir;
  const fs::path file = dir.path / "summary.json";
  std::ofstream(file) << "old\n";
  CHECK_THAT(error_of([&] {
               io::write_atomically(file, [](const fs::path& tmp) {
                 std::ofstream(tmp) << "half";
                 throw Error("disk full");
               });
             }),
             Contains("disk full"));
  CHECK(dir.entries() == std::vector<std::string>{"summary.json"});
  CHECK(std::ifstream(file).get() == 'o');

  CHECK_FALSE(io::stale_temp_target(io::temp_path(file)));  // ours: alive
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ::waitpid(child, nullptr, 0);
  CHECK(io::stale_temp_target(dir.path / ("data.h5.tmp." + std::to_string(child))) == "data.h5");
  CHECK_FALSE(io::stale_temp_target(dir.path / "data.h5"));
  CHECK_FALSE(io::stale_temp_target(dir.path / "data.h5.tmp.x1"));
}

TEST_CASE("checkpoints: only this model's keys, with counters that agree", "[io][checkpoint]") {
  TempDir dir;
  cpu::context ctx;
  RnnRegressor<VanillaRnnCell, cpu, float> model(3, 1, 1);
  Adam<cpu, float> adam(model.parameters().total_size(), {});
  const fs::path file = dir.path / "checkpoint.h5";
  io::CheckpointFile<cpu, float> store(file);
  TrainingState state;
  state.step = 2;
  state.loss_history = {1.0, 0.5};
  adam.set_step(2);
  store.save(ctx, model.parameters(), adam, state);
  CHECK(store.load(ctx, model.parameters(), adam).step == 2);

  const io::Dict saved = io::read_h5(file);
  const auto edited = [&](const std::string& key, io::Array a) {
    io::Dict d = saved;
    d.set(key, std::move(a));
    io::write_h5(file, d);
    return error_of([&] { store.load(ctx, model.parameters(), adam); });
  };
  CHECK_THAT(edited("adam/step", io::Array{{}, std::vector<std::int64_t>{5}}),
             Contains("key 'adam/step': expected 2 (the checkpoint's step), found 5"));
  CHECK_THAT(edited("loss_history", io::Array{{1}, std::vector<double>{1.0}}),
             Contains("key 'loss_history': expected shape (2,), found (1,)"));
  CHECK_THAT(edited("params/wRUHX", io::Array{{1}, std::vector<float>{1.0f}}),
             Contains("key 'params/wRUHX' is not part of this model's checkpoint"));
}
