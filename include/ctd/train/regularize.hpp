#pragma once
// Gradient clipping by global norm and the L2 penalty, both over the flat
// parameter buffer (every tensor of the model together, as SPEC §3 asks).
#include <algorithm>
#include <cmath>

#include "ctd/core/matrix.hpp"

namespace ctd {

// g *= min(1, max_norm / ||g||). Returns the norm before clipping.
template <class B, class S>
S clip_global_norm(typename B::context& ctx, MatrixView<S> grads, S max_norm) {
  const S norm = std::sqrt(B::sum_squares(ctx, grads));
  if (norm > max_norm) B::scale(ctx, max_norm / norm, grads);
  return norm;
}

// Adds l2 * sum(p^2) to the loss's gradient and returns the penalty.
template <class B, class S>
S add_l2_penalty(typename B::context& ctx, ConstView<S> values, MatrixView<S> grads, S l2) {
  if (l2 == S(0)) return S(0);
  B::axpy(ctx, S(2) * l2, values, grads);
  return l2 * B::sum_squares(ctx, values);
}

}  // namespace ctd
