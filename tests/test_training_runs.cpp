// Training through the library's trainer, as the examples run it: the
// integrator reaches the tutorial's accuracy (vanilla RNN and LSTM),
// checkpoints resume the exact run, a NaN loss stops training with the last
// checkpoint intact, and parameter files are validated.
#include <catch2/catch.hpp>

#include <Eigen/Eigenvalues>
#include <cmath>
#include <filesystem>
#include <limits>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/lstm.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/io/checkpoint.hpp"
#include "ctd/io/parameters_io.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "ctd/train/trainer.hpp"
#include "temp_dir.hpp"

using namespace ctd;

namespace {

using testing::TempDir;

using Vanilla = RnnRegressor<VanillaRnnCell, cpu, float>;

constexpr double integrator_l2 = 2e-4;

TrainerOptions integrator_options(Index steps) {
  TrainerOptions opt;
  opt.steps = steps;
  opt.adam = {0.025, 0.99975, 0.9, 0.999, 0.1};
  opt.checkpoint_every = 10;
  opt.seed = 3;
  return opt;
}

// Trains on fresh integrator batches with checkpoints in `checkpoint`.
template <class Model, class MakeBatch>
void train(cpu::context& ctx, Model& model, MakeBatch make_batch, const TrainerOptions& opt,
           const std::filesystem::path& checkpoint) {
  Trainer<cpu, float> trainer(model.parameters(), opt);
  io::CheckpointFile<cpu, float> store(checkpoint);
  trainer.run(ctx, fresh_batch_loss(model, make_batch, integrator_l2), &store);
}

HostMatrix<float> trained_values(Index steps, const std::filesystem::path& checkpoint, bool resume) {
  cpu::context ctx;
  Vanilla model(16, 1, 1);
  Rng init(1);
  model.initialize(ctx, init, {});
  auto opt = integrator_options(steps);
  opt.resume = resume;
  train(ctx, model, [](Rng& rng) { return integrator_batch<float>(rng, 32); }, opt, checkpoint);
  return download<cpu, float>(ctx, model.parameters().values());
}

}  // namespace

TEST_CASE("integrator RNN with the tutorial's settings: eval MSE <= 1e-4 and a line attractor",
          "[training][slow]") {
  cpu::context ctx;
  TempDir dir;
  Vanilla model(100, 1, 1);
  Rng init(11);
  model.initialize(ctx, init, {0.85f, 0.1f});
  train(ctx, model, [](Rng& rng) { return integrator_batch<float>(rng, 128); }, integrator_options(10000),
        dir.path / "checkpoint.h5");
  Rng eval(12);
  model.load(ctx, integrator_batch<float>(eval, 1024));
  const double mse = model.evaluate(ctx);
  CHECK(mse <= 1e-4);
  const HostMatrix<float> wR = download<cpu, float>(ctx, model.parameters().value("wR"));
  const Eigen::VectorXcd ev = Eigen::EigenSolver<Eigen::MatrixXd>(wR.cast<double>(), false).eigenvalues();
  double closest = 1e9;
  for (Index i = 0; i < ev.size(); ++i) closest = std::min(closest, std::abs(ev(i) - 1.0));
  CHECK(closest < 0.02);
}

TEST_CASE("LSTM on the integrator through the same regressor and trainer: eval MSE <= 1e-3", "[training][lstm]") {
  cpu::context ctx;
  TempDir dir;
  RnnRegressor<LstmCell, cpu, float> model(32, 1, 1);
  Rng init(21);
  model.initialize(ctx, init, {});
  auto opt = integrator_options(4000);
  opt.adam.lr0 = 0.01;
  train(ctx, model, [](Rng& rng) { return integrator_batch<float>(rng, 64); }, opt, dir.path / "checkpoint.h5");
  Rng eval(22);
  model.load(ctx, integrator_batch<float>(eval, 1024));
  CHECK(model.evaluate(ctx) <= 1e-3);
}

TEST_CASE("checkpoints: 20 steps equal 10 steps and a resume of 10 more, bit for bit", "[training][checkpoint]") {
  TempDir straight, resumed;
  const HostMatrix<float> a = trained_values(20, straight.path / "c.h5", false);
  trained_values(10, resumed.path / "c.h5", false);
  const HostMatrix<float> b = trained_values(20, resumed.path / "c.h5", true);
  CHECK(a == b);
}

TEST_CASE("a NaN loss stops training with a clear message and the last checkpoint intact", "[training][errors]") {
  TempDir dir;
  const auto file = dir.path / "c.h5";
  cpu::context ctx;
  Vanilla model(8, 1, 1);
  Rng init(1);
  model.initialize(ctx, init, {});
  auto opt = integrator_options(30);
  int calls = 0;
  const auto make = [&](Rng& rng) {
    auto b = integrator_batch<float>(rng, 16);
    if (++calls > 15) b.inputs(0, 3) = std::numeric_limits<float>::quiet_NaN();
    return b;
  };
  CHECK_THROWS_WITH(train(ctx, model, make, opt, file),
                    Catch::Contains("step 15") && Catch::Contains("nan") && Catch::Contains("c.h5"));
  // The checkpoint of step 10 is whole and loads.
  Vanilla fresh(8, 1, 1);
  Adam<cpu, float> adam(fresh.parameters().total_size(), opt.adam);
  const auto state = io::CheckpointFile<cpu, float>(file).load(ctx, fresh.parameters(), adam);
  CHECK(state.step == 10);
  CHECK(adam.step() == 10);
  CHECK(std::filesystem::directory_iterator(dir.path)->path().filename() == "c.h5");
}

TEST_CASE("parameter files: tutorial layout round trip and clear errors", "[io][parameters]") {
  TempDir dir;
  cpu::context ctx;
  RnnRegressor<GruCell, cpu, float> model(5, 2, 1);
  Rng rng(4);
  model.initialize(ctx, rng, {});
  io::Dict d;
  io::save_parameters(ctx, model.parameters(), d);
  CHECK(d.at("wRUHX").shape == std::vector<std::size_t>{10, 7});
  CHECK(d.at("h0").shape == std::vector<std::size_t>{5});
  // Row-major in the file: element (i, j) of wRUHX at i*7 + j.
  const HostMatrix<float> w = download<cpu, float>(ctx, model.parameters().value("wRUHX"));
  CHECK(std::get<std::vector<float>>(d.at("wRUHX").data)[std::size_t(2 * 7 + 5)] == w(2, 5));
  io::write_h5(dir.path / "params.h5", d);

  RnnRegressor<GruCell, cpu, float> loaded(5, 2, 1);
  io::load_parameters(ctx, io::read_h5(dir.path / "params.h5"), loaded.parameters());
  CHECK(download<cpu, float>(ctx, loaded.parameters().values()) ==
        download<cpu, float>(ctx, model.parameters().values()));

  RnnRegressor<GruCell, cpu, float> wider(6, 2, 1);
  CHECK_THROWS_WITH(io::load_parameters(ctx, io::read_h5(dir.path / "params.h5"), wider.parameters()),
                    Catch::Contains("params.h5") && Catch::Contains("'h0'") && Catch::Contains("(6,)"));
  RnnRegressor<VanillaRnnCell, cpu, float> other(5, 2, 1);
  CHECK_THROWS_WITH(io::load_parameters(ctx, io::read_h5(dir.path / "params.h5"), other.parameters()),
                    Catch::Contains("params.h5") && Catch::Contains("'wI'"));
  CHECK_THROWS_WITH(io::read_h5(dir.path / "missing.h5"), Catch::Contains("missing.h5"));
}
