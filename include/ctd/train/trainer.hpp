#pragma once
// The training loop, owned by the library (tiny-cuda-nn's Trainer): any
// model with a flat Parameters buffer trains through it. Each step asks the
// caller's loss function for the loss and its gradient (in the parameters'
// gradient buffer) at that step, from the data generator's position; the
// loss is any type with a total(). The trainer then stops on a NaN or Inf
// loss (the last good checkpoint stays as it was), clips the global norm,
// takes an Adam step, keeps the loss history, reports progress and writes
// a checkpoint every so often, from which a later run resumes the very same
// run (the data generator's position is part of the state).
//
// The step passed to the loss function is the schedule hook: a KL warm-up
// or any other schedule is a function of it.
#include <chrono>
#include <cmath>
#include <concepts>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/regularize.hpp"

namespace ctd {

// Where a run is: what a checkpoint holds besides parameters and Adam.
struct TrainingState {
  Index step = 0;   // optimisation steps done
  Rng rng;          // the data generator, positioned after `step`
  std::vector<double> loss_history;
};

// Where checkpoints go (io::CheckpointFile writes HDF5 files atomically).
template <class B, class S>
class CheckpointStore {
 public:
  virtual ~CheckpointStore() = default;
  virtual void save(typename B::context& ctx, Parameters<B, S>& params, Adam<B, S>& adam,
                    const TrainingState& state) = 0;
  virtual TrainingState load(typename B::context& ctx, Parameters<B, S>& params, Adam<B, S>& adam) = 0;
  virtual bool exists() const = 0;
  virtual std::string describe() const = 0;  // for messages: e.g. the file's path
};

struct TrainingProgress {
  Index step = 0;   // steps done
  Index steps = 0;  // of the whole run
  double loss = 0;  // total of the last step
  double learning_rate = 0;
  double steps_per_second = 0;  // this invocation's
  double seconds_left = 0;
};

struct TrainerOptions {
  Index steps = 1000;
  double max_grad_norm = 10;  // global-norm clipping
  AdamOptions adam;
  Index checkpoint_every = 1000;
  bool resume = false;     // continue from the store's checkpoint
  std::uint64_t seed = 0;  // of the data generator on a fresh start
  std::function<void(const TrainingProgress&)> progress = {};  // after every step
};

struct TrainingResult {
  std::vector<double> loss_history;  // total loss of every step, from step 0
  double seconds = 0;                // this invocation's training time
  double steps_per_second = 0;
  Index resumed_from = 0;
};

template <class F, class B, class S>
concept LossFunction = requires(F& f, typename B::context& ctx, Rng& rng, Index step) {
  { f(ctx, rng, step).total() } -> std::convertible_to<double>;
};

template <class B, class S>
class Trainer {
 public:
  Trainer(Parameters<B, S>& params, TrainerOptions options)
      : params_(params), options_(std::move(options)), adam_(params.total_size(), options_.adam) {
    require(options_.steps >= 0, "training: steps must not be negative, got " + std::to_string(options_.steps));
    require(options_.checkpoint_every > 0, "training: the checkpoint interval must be positive, got " +
                                               std::to_string(options_.checkpoint_every));
    require(options_.max_grad_norm > 0, "training: max_grad_norm must be positive");
  }

  Adam<B, S>& adam() { return adam_; }

  // Trains to options.steps; `store` may be null (no checkpoints).
  template <LossFunction<B, S> F>
  TrainingResult run(typename B::context& ctx, F&& loss_and_gradient, CheckpointStore<B, S>* store) {
    TrainingState state{0, Rng(options_.seed), {}};
    if (options_.resume) {
      if (!store || !store->exists())
        throw Error("resume: no checkpoint at " + (store ? store->describe() : std::string("(no checkpoint store)")));
      state = store->load(ctx, params_, adam_);
      require(state.step <= options_.steps, "resume: " + store->describe() + " is at step " +
                                                std::to_string(state.step) + ", beyond this run's " +
                                                std::to_string(options_.steps) + " steps");
    }
    TrainingResult result;
    result.resumed_from = state.step;
    const auto start = std::chrono::steady_clock::now();
    const auto seconds = [&] {
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    for (Index step = state.step; step < options_.steps; ++step) {
      const double loss = double(loss_and_gradient(ctx, state.rng, step).total());
      if (!std::isfinite(loss))
        throw Error("training stopped at step " + std::to_string(step) + ": the loss is " + std::to_string(loss) +
                    (store ? "; the last good checkpoint (" + store->describe() + ") is intact" : std::string()) +
                    " — lower the learning rate or check the data");
      clip_global_norm<B, S>(ctx, params_.grads(), S(options_.max_grad_norm));
      adam_.update(ctx, params_.values(), params_.grads());
      state.loss_history.push_back(loss);
      state.step = step + 1;
      if (options_.progress) {
        const double elapsed = seconds(), rate = elapsed > 0 ? double(state.step - result.resumed_from) / elapsed : 0;
        options_.progress({state.step, options_.steps, loss, options_.adam.learning_rate(step), rate,
                           rate > 0 ? double(options_.steps - state.step) / rate : 0.0});
      }
      if (store && (state.step % options_.checkpoint_every == 0 || state.step == options_.steps))
        store->save(ctx, params_, adam_, state);
    }
    result.loss_history = std::move(state.loss_history);
    result.seconds = seconds();
    result.steps_per_second =
        result.seconds > 0 ? double(options_.steps - result.resumed_from) / result.seconds : 0.0;
    return result;
  }

 private:
  Parameters<B, S>& params_;
  TrainerOptions options_;
  Adam<B, S> adam_;
};

}  // namespace ctd
