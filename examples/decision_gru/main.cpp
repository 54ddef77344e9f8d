// decision_gru — the fixed-point tutorial's network: the tutorials' GRU
// trained to report the sign of integrated white noise at the last step
// (SPEC §1b, §2b, §3). Its params.h5 is what `fixed_points` analyses.
//
//   decision_gru --out out/decision_gru          # tutorial defaults
//   decision_gru --resume --out out/decision_gru
//
// Writes params.h5 (h0 wRUHX wCHX bRU bC wO bO), training.h5 (loss curve,
// example trials) and summary.json.

#include <fmt/core.h>

#include "common/cli.hpp"
#include "common/supervised_example.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/tasks/white_noise.hpp"

using namespace ctd;
using Model = RnnRegressor<GruCell, cpu, float>;

namespace {

// Fraction of trials whose last output has the sign of the target.
double accuracy(const SequenceBatch<float>& batch, const HostMatrix<float>& outputs) {
  const Index last = (batch.steps - 1) * batch.trials;
  Index correct = 0;
  for (Index b = 0; b < batch.trials; ++b)
    correct += (outputs(0, last + b) > 0) == (batch.targets(0, last + b) > 0);
  return double(correct) / double(batch.trials);
}

int run(int argc, char** argv) {
  CLI::App app{"Train the tutorials' GRU on the binary decision task (the fixed-point tutorial's network)"};
  examples::SupervisedCli cli;
  cli.train.steps = 20000;
  cli.train.adam = {0.04, 0.9999, 0.9, 0.999, 0.1};
  cli.l2 = 2e-5;
  cli.out.dir = "out/decision_gru";
  cli.add_to(app);
  GruCell<cpu, float>::Init init;
  app.add_option("--h0-scale", init.h0_scale, "h0 = h0_scale * N(0,1) at initialisation")->capture_default_str();
  examples::parse_or_exit(app, argc, argv);
  cli.prepare();

  const WhiteNoiseOptions task;
  cpu::context ctx;
  Model model(cli.state_size, 1, 1);
  const std::uint64_t seed = cli.train.seed;
  Rng init_rng(examples::init_seed(seed));
  model.initialize(ctx, init_rng, init);
  const auto result = examples::train_on_fresh_batches(
      ctx, model, [&](Rng& rng) { return decision_batch<float>(rng, cli.batch, task); }, cli);

  Rng eval_rng(examples::eval_seed(seed));
  const SequenceBatch<float> eval = decision_batch<float>(eval_rng, cli.eval_trials, task);
  model.load(ctx, eval);
  const double eval_loss = model.evaluate(ctx);
  const HostMatrix<float> eval_out = download<cpu, float>(ctx, model.forward(ctx));
  const double eval_accuracy = accuracy(eval, eval_out);
  fmt::print("evaluation (no L2, {} fresh trials): loss {:.4f}, accuracy {:.4f}\n", cli.eval_trials, eval_loss,
             eval_accuracy);

  examples::write_supervised_outputs<Model, cpu, float>(
      ctx, model, cli, seed, result, eval, eval_out, {{"eval_loss", eval_loss}, {"eval_accuracy", eval_accuracy}});
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ctd::examples::run_program("decision_gru", argc, argv, run); }
