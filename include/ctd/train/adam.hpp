#pragma once
// Adam with the semantics of jax.example_libraries.optimizers.adam (SPEC §3):
// bias-corrected moments, eps added after the square root, and the step
// counter i starting at 0. One fused pass over the flat parameter buffer.
#include <cmath>

#include "ctd/core/error.hpp"
#include "ctd/core/matrix.hpp"

namespace ctd {

struct AdamOptions {
  double lr0 = 1e-3;    // learning rate at step 0
  double decay = 1.0;   // lr(i) = lr0 * decay^i
  double b1 = 0.9;
  double b2 = 0.999;
  double eps = 1e-8;

  double learning_rate(Index step) const { return lr0 * std::pow(decay, double(step)); }
};

template <class B, class S>
class Adam {
 public:
  Adam(Index size, AdamOptions options) : options_(options), m_(size, 1), v_(size, 1) {
    require(options.lr0 > 0, "Adam: lr0 must be positive");
    require(options.b1 >= 0 && options.b1 < 1 && options.b2 >= 0 && options.b2 < 1,
            "Adam: b1 and b2 must lie in [0, 1)");
    require(options.eps > 0, "Adam: eps must be positive");
  }

  // x -= lr(i) * mhat / (sqrt(vhat) + eps); advances the step counter.
  void update(typename B::context& ctx, MatrixView<S> x, ConstView<S> g) {
    update_block(ctx, x, g, 0);
    advance();
  }
  // The same step on entries [first, first + x.rows) of the flat buffer
  // (x and g columns), without advancing: for a caller that updates its
  // parameters block by block while each block is still in cache, then
  // calls advance() once.
  void update_block(typename B::context& ctx, MatrixView<S> x, ConstView<S> g, Index first) {
    B::adam_update(ctx, x, g, m_.view().row_block(first, x.rows), v_.view().row_block(first, x.rows),
                   S(options_.learning_rate(step_)), S(options_.b1), S(options_.b2), S(options_.eps), step_);
  }
  void advance() { ++step_; }

  const AdamOptions& options() const { return options_; }
  Index step() const { return step_; }
  // For checkpoints: the moments and the counter are the whole state.
  Matrix<B, S>& first_moment() { return m_; }
  Matrix<B, S>& second_moment() { return v_; }
  void set_step(Index s) { step_ = s; }

 private:
  AdamOptions options_;
  Matrix<B, S> m_, v_;
  Index step_ = 0;
};

}  // namespace ctd
