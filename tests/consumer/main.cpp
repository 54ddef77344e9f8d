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
  Adam<cpu, float> adam(model.parameters().total_size(), {0.01, 1.0, 0.9, 0.999, 0.1});
  double first = 0, last = 0;
  for (int step = 0; step < 200; ++step) {
    model.load(ctx, integrator_batch<float>(rng, 64));
    last = model.loss_and_gradient(ctx, 0.0f).total();
    if (step == 0) first = last;
    clip_global_norm<cpu, float>(ctx, model.parameters().grads(), 10.0f);
    adam.update(ctx, model.parameters().values(), model.parameters().grads());
  }
  std::printf("consumer: loss %.4f -> %.4f\n", first, last);
  return last < 0.5 * first ? 0 : 1;
}
