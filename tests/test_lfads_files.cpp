// LFADS and files (SPEC §7, §8): parameters written by h5py in the
// tutorial's lfads_params layout load into the model; the model's loss
// agrees with an independent NumPy implementation of the tutorial's
// equations (tests/lfads_reference.py) to 1e-10 given the same parameters,
// data and random draws; our parameter files have the tutorial's keys and
// shapes and round-trip bit for bit; a bad parameter file is a ctd::Error
// naming the file and the key; training resumes from its checkpoint file
// bit for bit.

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/io/checkpoint.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/parameters_io.hpp"
#include "ctd/lfads/model.hpp"
#include "ctd/lfads/training.hpp"
#include "lfads_fixtures.hpp"
#include "error_of.hpp"
#include "temp_dir.hpp"

using namespace ctd;
namespace fs = std::filesystem;
using Catch::Matchers::Contains;

namespace {

const fs::path reference_script = fs::path(__FILE__).parent_path() / "lfads_reference.py";

using testing::error_of;
using testing::TempDir;

struct PythonRun {
  int rc;
  std::string output;
};

// Runs /usr/bin/python3 (the system python with h5py) on the reference
// script with the given arguments; stdout and stderr together.
PythonRun run_reference(const TempDir& dir, const std::vector<std::string>& args) {
  const fs::path log = dir.path / "python.log";
  std::string cmd = "/usr/bin/python3 '" + reference_script.string() + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " > '" + log.string() + "' 2>&1";
  const int rc = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  return {rc, s.str()};
}

void require_h5py() {
  if (std::system("/usr/bin/python3 -c 'import h5py, numpy' > /dev/null 2>&1") != 0)
    FAIL("h5py is not available to /usr/bin/python3: install python3-h5py (apt-get install python3-h5py)");
  REQUIRE(fs::is_regular_file(reference_script));
}


LfadsConfig config_of(const std::vector<Index>& sizes) {
  LfadsConfig c;
  c.data_dim = sizes[0];
  c.enc_dim = sizes[1];
  c.con_dim = sizes[2];
  c.ii_dim = sizes[3];
  c.gen_dim = sizes[4];
  c.factors_dim = sizes[5];
  c.l2 = 1e-3;
  c.keep_rate = 0.7;
  return c;
}

std::vector<std::string> size_args(const std::vector<Index>& sizes) {
  std::vector<std::string> out;
  for (Index s : sizes) out.push_back(std::to_string(s));
  return out;
}

// A (dim x T*B) time-major sequence as the tutorial's (B, T, dim) array.
void set_sequence(io::Dict& d, const std::string& key, const HostMatrix<double>& m, Index T, Index batch) {
  const Index dim = m.rows();
  std::vector<double> v(static_cast<std::size_t>(dim * T * batch));
  for (Index b = 0; b < batch; ++b)
    for (Index t = 0; t < T; ++t)
      for (Index i = 0; i < dim; ++i) v[static_cast<std::size_t>((b * T + t) * dim + i)] = m(i, t * batch + b);
  d.set<double>(key, {std::size_t(batch), std::size_t(T), std::size_t(dim)}, std::move(v));
}

// A (dim x B) per-trial matrix as a (B, dim) array.
void set_trials(io::Dict& d, const std::string& key, const HostMatrix<double>& m) {
  d.set(key, io::to_array(HostMatrix<double>(m.transpose())));
}

void set_scalar(io::Dict& d, const std::string& key, double v) { d.set<double>(key, {}, {v}); }

}  // namespace

TEST_CASE("LFADS files: h5py parameters load, and the loss matches an independent NumPy LFADS",
          "[lfads][io][h5py]") {
  require_h5py();
  // The brief's small sizes, then all-different sizes so that no transposed
  // or swapped block can hide behind a square shape.
  const auto [sizes, T, batch] = GENERATE(table<std::vector<Index>, Index, Index>(
      {{{5, 4, 3, 2, 4, 3}, 4, 3}, {{7, 3, 5, 1, 6, 2}, 6, 4}}));
  CAPTURE(sizes, T, batch);
  const LfadsConfig c = config_of(sizes);
  TempDir dir;
  const fs::path params_file = dir.path / "params.h5", check_file = dir.path / "check.h5";

  auto write_args = std::vector<std::string>{"write-params", params_file.string()};
  for (auto& s : size_args(sizes)) write_args.push_back(s);
  write_args.push_back("7");
  const PythonRun written = run_reference(dir, write_args);
  INFO("write-params output:\n" << written.output);
  REQUIRE(written.rc == 0);

  cpu::context ctx(2);
  Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
  io::load_parameters<cpu, double>(ctx, io::read_h5(params_file), params);

  Rng rng(2024);
  const HostMatrix<double> counts = testing::poisson_counts<double>(rng, c.data_dim, T * batch, 2.0);
  const Matrix<cpu, double> x = upload<cpu, double>(ctx, counts);
  LfadsNoise<cpu, double> noise;
  noise.draw(ctx, c, T, T, batch, c.keep_rate, rng);
  const Lfads<cpu, double> model(c, params);
  LfadsTape<cpu, double> tape;
  const double kl_scale = 0.7;
  const LfadsLosses losses = model.forward(ctx, LfadsInputs<double>::spikes(x.view(), T, batch), noise, kl_scale, tape);

  io::Dict out;
  io::save_parameters<cpu, double>(ctx, params, out);
  const auto host = [&](const Matrix<cpu, double>& m) { return download<cpu, double>(ctx, m.view()); };
  set_sequence(out, "counts", counts, T, batch);
  set_sequence(out, "noise/data_mask", host(noise.data_mask), T, batch);
  set_sequence(out, "noise/enc_mask", host(noise.enc_mask), T, batch);
  set_trials(out, "noise/ends_mask", host(noise.ends_mask));
  set_sequence(out, "noise/gen_mask", host(noise.gen_mask), T, batch);
  set_trials(out, "noise/ic_eps", host(noise.ic_eps));
  set_sequence(out, "noise/ii_eps", host(noise.ii_eps), T, batch);
  set_sequence(out, "noise/kl_eps", host(noise.kl_eps), T, batch);
  out.set<std::int64_t>("config/sizes", {6}, std::vector<std::int64_t>(sizes.begin(), sizes.end()));
  set_scalar(out, "config/var_min", c.var_min);
  set_scalar(out, "config/l2", c.l2);
  set_scalar(out, "config/kl_scale", kl_scale);
  set_scalar(out, "losses/nll", losses.nll);
  set_scalar(out, "losses/kl_ic", losses.kl_ic);
  set_scalar(out, "losses/kl_ii", losses.kl_ii);
  set_scalar(out, "losses/l2", losses.l2);
  set_scalar(out, "losses/total", losses.total());
  io::write_h5(check_file, out);

  const PythonRun checked = run_reference(dir, {"check", check_file.string(), params_file.string()});
  INFO("lfads_reference.py check:\n" << checked.output);
  CHECK(checked.rc == 0);
}

TEST_CASE("LFADS files: a missing key or a wrong shape names the file and the key", "[lfads][io][h5py]") {
  require_h5py();
  const std::vector<Index> sizes{5, 4, 3, 2, 4, 3};
  const LfadsConfig c = config_of(sizes);
  TempDir dir;
  cpu::context ctx(1);
  Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
  Rng rng(3);
  initialize_lfads<cpu, double>(ctx, params, c, rng);
  io::Dict good;
  io::save_parameters<cpu, double>(ctx, params, good);

  SECTION("a missing key") {
    io::Dict bad;
    for (const auto& k : good.keys())
      if (k != "con_out/b") bad.set(k, good.at(k));
    const fs::path file = dir.path / "missing.h5";
    io::write_h5(file, bad);
    const std::string msg = error_of([&] { io::load_parameters<cpu, double>(ctx, io::read_h5(file), params); });
    CHECK_THAT(msg, Contains(file.string()) && Contains("con_out/b") && Contains("missing"));
  }
  SECTION("a transposed matrix") {
    io::Dict bad = good;
    const auto& w = good.at("logrates/w");  // (data, factors) = (5, 3)
    bad.set("logrates/w", io::Array{{w.shape[1], w.shape[0]}, w.data});
    const fs::path file = dir.path / "transposed.h5";
    io::write_h5(file, bad);
    const std::string msg = error_of([&] { io::load_parameters<cpu, double>(ctx, io::read_h5(file), params); });
    CHECK_THAT(msg, Contains(file.string()) && Contains("logrates/w") && Contains("expected shape (5, 3)") &&
                        Contains("found (3, 5)"));
  }
  SECTION("an h5py file made for other sizes") {
    // data_dim 6 instead of 5: the first parameter it changes is the
    // forward encoder's wRUHX, (2E, E + D).
    const fs::path file = dir.path / "other_sizes.h5";
    const PythonRun written =
        run_reference(dir, {"write-params", file.string(), "6", "4", "3", "2", "4", "3", "1"});
    INFO(written.output);
    REQUIRE(written.rc == 0);
    const std::string msg = error_of([&] { io::load_parameters<cpu, double>(ctx, io::read_h5(file), params); });
    CHECK_THAT(msg, Contains(file.string()) && Contains("ic_enc/fwd_rnn/wRUHX") &&
                        Contains("expected shape (8, 9)") && Contains("found (8, 10)"));
  }
}


TEST_CASE("LFADS training resumes from its checkpoint bit for bit", "[lfads][io][training]") {
  cpu::context ctx;
  LfadsConfig c;
  c.data_dim = 7;
  c.enc_dim = c.con_dim = c.gen_dim = 6;
  c.factors_dim = 3;
  Rng data_rng(1);
  std::vector<float> counts(std::size_t(40 * 5 * c.data_dim));
  for (auto& x : counts) x = float(data_rng.poisson(1.2));
  const LfadsData<float> trials(TrialArray<float>(40, 5, c.data_dim, counts));
  TempDir dir;
  // The KL warm-up spans the break, so the resumed run must also know the step.
  const KlWarmup warmup{2, 5, 0.01, 1.0};
  const auto train = [&](Index steps, bool resume, const fs::path& file) {
    Parameters<cpu, float> params(Lfads<cpu, float>::specs(c));
    Rng init(7);
    initialize_lfads<cpu, float>(ctx, params, c, init);
    const Lfads<cpu, float> model(c, params);
    LfadsTrainingLoss<cpu, float> loss(model, trials, 8, warmup);
    TrainerOptions options = lfads_trainer_options(steps);
    options.checkpoint_every = 3;
    options.resume = resume;
    options.seed = 11;
    io::CheckpointFile<cpu, float> store(file);
    Trainer<cpu, float> trainer(params, options);
    trainer.run(ctx, loss, &store);
    return download<cpu, float>(ctx, params.values());
  };
  const HostMatrix<float> straight = train(7, false, dir.path / "straight.h5");
  train(3, false, dir.path / "resumed.h5");
  const HostMatrix<float> resumed = train(7, true, dir.path / "resumed.h5");
  CHECK((straight.array() == resumed.array()).all());
}
