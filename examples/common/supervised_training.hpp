#pragma once
// The training loop of the supervised tutorials (integrator, decision, toy
// language): fresh batch, loss and BPTT gradient, global-norm clipping,
// Adam; a progress line; a checkpoint every so often, written atomically,
// from which --resume continues the very same run (the batch generator's
// position is part of the checkpoint).
#include <cmath>
#include <filesystem>
#include <functional>

#include <fmt/core.h>

#include "common/progress.hpp"
#include "ctd/core/error.hpp"
#include "ctd/io/checkpoint.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/regularize.hpp"
#include "ctd/train/rnn_regressor.hpp"

namespace ctd::examples {

struct SupervisedOptions {
  Index steps = 1000;
  double l2 = 0;
  double max_grad_norm = 10;
  AdamOptions adam;
  Index checkpoint_every = 1000;
  std::filesystem::path checkpoint;  // where checkpoints go
  bool resume = false;               // continue from `checkpoint`
  std::uint64_t seed = 0;            // of the batch generator
};

struct SupervisedResult {
  std::vector<double> loss_history;  // loss (MSE + L2) of every step
  double seconds = 0;                // this invocation's training time
  double steps_per_second = 0;
  Index resumed_from = 0;
};

template <class Model, class B, class S>
SupervisedResult train_supervised(typename B::context& ctx, Model& model,
                                  const std::function<SequenceBatch<S>(Rng&)>& make_batch,
                                  const SupervisedOptions& opt) {
  require(opt.steps >= 0, "--steps must not be negative");
  require(opt.checkpoint_every > 0, "checkpoint interval must be positive");
  auto& params = model.parameters();
  Adam<B, S> adam(params.total_size(), opt.adam);
  io::TrainingState state{0, Rng(opt.seed), {}};
  if (opt.resume) {
    require(std::filesystem::exists(opt.checkpoint),
            "--resume: no checkpoint at " + opt.checkpoint.string());
    state = io::load_checkpoint(ctx, opt.checkpoint, params, adam);
    fmt::print("resuming at step {} from {}\n", state.step, opt.checkpoint.string());
  }
  SupervisedResult result;
  result.resumed_from = state.step;
  Progress progress(long(state.step), long(opt.steps));
  for (Index step = state.step; step < opt.steps; ++step) {
    model.load(ctx, make_batch(state.rng));
    const double loss = model.loss_and_gradient(ctx, S(opt.l2)).total();
    if (!std::isfinite(loss))
      throw Error(fmt::format("training stopped at step {}: the loss is {}; the last good checkpoint ({}) "
                              "is intact — lower the learning rate or check the data",
                              step, loss, opt.checkpoint.string()));
    clip_global_norm<B, S>(ctx, params.grads(), S(opt.max_grad_norm));
    adam.update(ctx, params.values(), params.grads());
    state.loss_history.push_back(loss);
    state.step = step + 1;
    progress.update(long(step), loss, opt.adam.learning_rate(step));
    if (state.step % opt.checkpoint_every == 0 || state.step == opt.steps)
      io::save_checkpoint(ctx, opt.checkpoint, params, adam, state);
  }
  result.loss_history = state.loss_history;
  result.seconds = progress.seconds();
  result.steps_per_second = progress.steps_per_second(long(opt.steps));
  return result;
}

}  // namespace ctd::examples
