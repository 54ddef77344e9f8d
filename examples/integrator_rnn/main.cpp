// integrator_rnn — the integrator tutorial: a vanilla RNN trained by BPTT to
// integrate white noise (SPEC §1a, §2a, §3), then the LFADS data set made
// from its trained states (SPEC §3a).
//
//   integrator_rnn --out out/integrator_rnn      # tutorial defaults
//   integrator_rnn --resume --out out/integrator_rnn
//   integrator_rnn --cell lstm --out out/integrator_lstm
//
// Writes params.h5 (h0 wI wR bR wO bO; an LSTM's h0 c0 wIFGOHX bIFGO wO
// bO), data.h5 (inputs hiddens outputs targets h0s; an LSTM's hiddens and
// h0s are its h), training.h5 (loss curve, example trials), summary.json.
#include <algorithm>
#include <complex>
#include <string>
#include <type_traits>

#include <Eigen/Eigenvalues>
#include <fmt/core.h>

#include "common/cli.hpp"
#include "common/supervised_example.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/lstm.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/tasks/white_noise.hpp"

using namespace ctd;

namespace {

struct DataSetOptions {
  Index batches = 20;
  Index trials_per_batch = 1024;
  Index settle_steps = 7;  // integration steps that place the initial states
};

// SPEC §3a: initial states on the line attractor, then 25-step integration
// trials from them; targets offset by the readout of the initial state.
template <class Model>
io::Dict make_lfads_data(cpu::context& ctx, Model& model, Rng& rng, const WhiteNoiseOptions& task,
                         const DataSetOptions& opt) {
  const Index ns = model.state_size(), n = model.cell().hidden_size(), T = task.steps, B = opt.trials_per_batch;
  const Index total = opt.batches * B;
  std::vector<float> inputs, hiddens, outputs, targets, h0s;
  for (auto* v : {&inputs, &outputs, &targets}) v->reserve(std::size_t(total * T));
  hiddens.reserve(std::size_t(total * T * n));
  h0s.reserve(std::size_t(total * n));
  const HostMatrix<float> wO = download<cpu, float>(ctx, model.parameters().value("wO"));
  const HostMatrix<float> bO = download<cpu, float>(ctx, model.parameters().value("bO"));
  for (Index batch = 0; batch < opt.batches; ++batch) {
    // 7 integration steps (T scaled to 7/25, so dt is unchanged) then one zero step.
    WhiteNoiseOptions settle = task;
    settle.steps = opt.settle_steps;
    settle.duration = task.duration * double(opt.settle_steps) / double(T);
    SequenceBatch<float> s = integrator_batch<float>(rng, B, settle);
    s.inputs.conservativeResize(1, (opt.settle_steps + 1) * B);
    s.inputs.rightCols(B).setZero();
    s.targets = HostMatrix<float>::Zero(1, s.inputs.cols());
    s.mask = s.targets;
    s.steps = opt.settle_steps + 1;
    model.load(ctx, s);
    model.forward(ctx);
    const HostMatrix<float> initial =
        download<cpu, float>(ctx, model.states().col_block((s.steps - 1) * B, B));

    SequenceBatch<float> run = integrator_batch<float>(rng, B, task);
    model.load(ctx, run);
    const HostMatrix<float> out =
        download<cpu, float>(ctx, model.forward(ctx, ConstView<float>(initial.data(), ns, B)));
    const HostMatrix<float> states = download<cpu, float>(ctx, model.states());
    const HostMatrix<float> offset = (wO * initial.topRows(n)).colwise() + bO.col(0);
    for (Index b = 0; b < B; ++b) {
      for (Index t = 0; t < T; ++t) {
        const Index c = t * B + b;
        inputs.push_back(run.inputs(0, c));
        outputs.push_back(out(0, c));
        targets.push_back(run.targets(0, c) + offset(0, b));
        for (Index i = 0; i < n; ++i) hiddens.push_back(states(i, c));
      }
      for (Index i = 0; i < n; ++i) h0s.push_back(initial(i, b));
    }
  }
  const auto N = std::size_t(total), Tn = std::size_t(T), nn = std::size_t(n);
  io::Dict d;
  d.set<float>("inputs", {N, Tn, 1}, std::move(inputs));
  d.set<float>("hiddens", {N, Tn, nn}, std::move(hiddens));
  d.set<float>("outputs", {N, Tn, 1}, std::move(outputs));
  d.set<float>("targets", {N, Tn, 1}, std::move(targets));
  d.set<float>("h0s", {N, nn}, std::move(h0s));
  return d;
}

// The three eigenvalues of wR largest in magnitude, as [real, imag].
nlohmann::json top_eigenvalues(const HostMatrix<float>& wR) {
  Eigen::EigenSolver<Eigen::MatrixXd> solver(wR.cast<double>(), false);
  std::vector<std::complex<double>> ev(solver.eigenvalues().begin(), solver.eigenvalues().end());
  std::sort(ev.begin(), ev.end(), [](auto a, auto b) { return std::abs(a) > std::abs(b); });
  nlohmann::json out = nlohmann::json::array();
  for (std::size_t i = 0; i < std::min<std::size_t>(3, ev.size()); ++i) out.push_back({ev[i].real(), ev[i].imag()});
  return out;
}

// The recurrent weight whose spectrum shows the line attractor: wR of the
// vanilla RNN, the hidden columns of an LSTM's cell-input block (g).
template <class Model>
HostMatrix<float> recurrent_matrix(cpu::context& ctx, Model& model) {
  auto& params = model.parameters();
  if constexpr (std::is_same_v<typename Model::Cell, LstmCell<cpu, float>>) {
    const Index n = model.cell().hidden_size();
    return download<cpu, float>(ctx, params.value("wIFGOHX").row_block(2 * n, n).col_block(0, n));
  } else {
    return download<cpu, float>(ctx, params.value("wR"));
  }
}

struct IntegratorCli {
  examples::SupervisedCli cli;
  WhiteNoiseOptions task;
  float gain = 0.85f;
  DataSetOptions data;
};

template <template <class, class> class Cell>
int train_and_write(const IntegratorCli& options) {
  using Model = RnnRegressor<Cell, cpu, float>;
  const auto& cli = options.cli;
  const auto& task = options.task;
  cpu::context ctx;
  Model model(cli.state_size, 1, 1);
  const std::uint64_t seed = cli.train.seed;
  Rng init_rng(examples::init_seed(seed));
  typename Model::Cell::Init init;
  if constexpr (requires { init.g; }) init.g = options.gain;
  model.initialize(ctx, init_rng, init);
  const auto result = examples::train_on_fresh_batches(
      ctx, model, [&](Rng& rng) { return integrator_batch<float>(rng, cli.batch, task); }, cli);

  Rng eval_rng(examples::eval_seed(seed));
  const SequenceBatch<float> eval = integrator_batch<float>(eval_rng, cli.eval_trials, task);
  model.load(ctx, eval);
  const double eval_mse = model.evaluate(ctx);
  const HostMatrix<float> eval_out = download<cpu, float>(ctx, model.forward(ctx));
  fmt::print("evaluation MSE (no L2, {} fresh trials): {:.3e}\n", cli.eval_trials, eval_mse);

  if (const DataSetOptions& data = options.data; data.batches > 0) {
    io::write_h5(cli.out / "data.h5", make_lfads_data(ctx, model, eval_rng, task, data));
    fmt::print("wrote the LFADS data set: {} trials\n", data.batches * data.trials_per_batch);
  }
  examples::write_supervised_outputs<Model, cpu, float>(
      ctx, model, cli, seed, result, eval, eval_out,
      {{"eval_mse", eval_mse},
       {"cell", std::string(Model::Cell::name)},
       {"wR_top_eigenvalues", top_eigenvalues(recurrent_matrix(ctx, model))}});
  return 0;
}

int run(int argc, char** argv) {
  CLI::App app{"Train a vanilla RNN (or an LSTM) to integrate white noise (the integrator tutorial) and write the "
               "LFADS data set"};
  IntegratorCli options;
  auto& [cli, task, gain, data] = options;
  cli.train.steps = 10000;
  cli.train.adam = {0.025, 0.99975, 0.9, 0.999, 0.1};
  cli.l2 = 2e-4;
  cli.out.dir = "out/integrator_rnn";
  cli.add_to(app);
  std::string cell = "vanilla";
  app.add_option("--cell", cell, "the recurrent cell")->capture_default_str()->check(CLI::IsMember({"vanilla", "lstm"}));
  app.add_option("--gain", gain, "recurrent gain g of the initial wR (vanilla)")->capture_default_str();
  app.add_option("--data-batches", data.batches, "batches of the LFADS data set (0: none)")
      ->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--data-batch-size", data.trials_per_batch, "trials per data-set batch")
      ->capture_default_str()->check(examples::positive);
  examples::parse_or_exit(app, argc, argv);
  cli.prepare({"data.h5"});
  return cell == "lstm" ? train_and_write<LstmCell>(options) : train_and_write<VanillaRnnCell>(options);
}

}  // namespace

int main(int argc, char** argv) { return ctd::examples::run_program("integrator_rnn", argc, argv, run); }
