// Trains a small integrator RNN through the installed headers and checks
// that the loss falls: proof that find_package(ctd) gives a working library.
#include <cstdio>

#include <ctd/ctd.hpp>

int main() {
  using namespace ctd;
  cpu::context ctx;
  Rng rng(42);
  RnnRegressor<VanillaRnnCell, cpu, float> model(32, 1, 1);
  model.initialize(ctx, rng, {});
  TrainerOptions opt;
  opt.steps = 200;
  opt.adam = {0.01, 1.0, 0.9, 0.999, 0.1};
  opt.seed = 42;
  Trainer<cpu, float> trainer(model.parameters(), opt);
  const auto batch = [](Rng& r) { return integrator_batch<float>(r, 64); };
  const TrainingResult result = trainer.run(ctx, fresh_batch_loss(model, batch, 0.0), nullptr);
  const double first = result.loss_history.front(), last = result.loss_history.back();
  std::printf("consumer: loss %.4f -> %.4f\n", first, last);
  return last < 0.5 * first ? 0 : 1;
}
