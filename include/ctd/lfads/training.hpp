#pragma once
// LFADS's loss function for the library's trainer (train/trainer.hpp): each
// step draws a batch of trials at random from the training set and the
// step's dropout masks and normal draws, all from the trainer's data
// generator (so a resumed run repeats them exactly), weights the KL terms
// by the warm-up at that step, and leaves the gradient in the parameters.
// The tutorial's optimiser settings come with it (SPEC §7). The model's
// forward and backward passes are the same launches at every step, so on
// the GPU they are replayed as CUDA graphs from the second step on
// (core/replay.hpp); the batch, the draws and the loss terms stay eager.
#include <algorithm>
#include <numeric>

#include "ctd/core/replay.hpp"
#include "ctd/lfads/batch.hpp"
#include "ctd/lfads/model.hpp"
#include "ctd/train/trainer.hpp"

namespace ctd {

// The tutorial's Adam, decay and clipping for `steps` steps.
inline TrainerOptions lfads_trainer_options(Index steps = 20000) {
  TrainerOptions o;
  o.steps = steps;
  o.max_grad_norm = 10;
  o.adam = AdamOptions{0.05, 0.9999, 0.9, 0.999, 0.1};
  return o;
}

template <class B, class S>
class LfadsTrainingLoss {
 public:
  LfadsTrainingLoss(const Lfads<B, S>& model, const LfadsData<S>& train, Index batch, KlWarmup warmup = {})
      : model_(model), train_(train), batch_(batch), warmup_(warmup), order_(std::size_t(train.trials())) {
    require(batch > 0, "LFADS training: the batch size must be positive");
    require(train.trials() >= batch, "LFADS training: " + std::to_string(train.trials()) +
                                         " training trials are fewer than one batch of " + std::to_string(batch));
    train.require_fits(model.config(), "LFADS training");
  }

  LfadsLosses operator()(typename B::context& ctx, Rng& rng, Index step) {
    // A batch without repeats: the first `batch` places of a partial shuffle.
    std::iota(order_.begin(), order_.end(), Index(0));
    for (Index k = 0; k < batch_; ++k) {
      const Index n = train_.trials();
      const Index pick = k + std::min(Index(rng.uniform() * double(n - k)), n - k - 1);
      std::swap(order_[std::size_t(k)], order_[std::size_t(pick)]);
    }
    batch_data_.load(ctx, train_, std::vector<Index>(order_.begin(), order_.begin() + batch_));
    noise_.draw(ctx, model_.config(), train_.encod_steps(), train_.steps(), batch_, model_.config().keep_rate, rng);
    const LfadsInputs<S> in = batch_data_.inputs();
    forward_pass_(ctx, [&] { model_.forward_pass(ctx, in, noise_, tape_); });
    last_ = model_.loss_terms(ctx, noise_, warmup_.scale(step), tape_);
    model_.weigh_kl_gradients(ctx, tape_);
    backward_pass_(ctx, [&] { model_.backward_pass(ctx, noise_, tape_); });
    return last_;
  }

  // The parts of the last step's loss (for a progress line).
  const LfadsLosses& last() const { return last_; }

 private:
  const Lfads<B, S>& model_;
  const LfadsData<S>& train_;
  Index batch_;
  KlWarmup warmup_;
  std::vector<Index> order_;
  LfadsBatch<B, S> batch_data_;
  LfadsNoise<B, S> noise_;
  LfadsTape<B, S> tape_;
  Replayed<B> forward_pass_, backward_pass_;
  LfadsLosses last_;
};

}  // namespace ctd
