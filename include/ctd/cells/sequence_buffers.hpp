#pragma once
// Shared bookkeeping of the sequence cells: how a batch is split over the
// backend's shards, where the initial state of a batch comes from, and the
// helpers that place it.
#include <algorithm>

#include "ctd/core/matrix.hpp"

namespace ctd {

// Splits [0, total) into near-equal ranges, one per shard of the backend,
// and calls f(first, count) for each, in parallel. Trials are independent
// through a whole sequence, so a shard runs its trials through every time
// step without waiting for the others; weight gradients split by rows.
template <class B, class F>
void for_each_shard(typename B::context& ctx, Index total, F&& f) {
  const Index shards = std::max<Index>(1, std::min<Index>(B::shards(ctx), total));
  B::parallel_for(ctx, shards, [&](Index k) {
    const Index base = total / shards, extra = total % shards;
    f(k * base + std::min(k, extra), base + (k < extra ? 1 : 0));
  });
}

// Writes the initial state block: a given (n x B) batch, or the trained h0
// broadcast over B trials when `initial` is empty.
template <class B, class S>
void place_initial_state(typename B::context& ctx, ConstView<S> h0, ConstView<S> initial,
                         MatrixView<S> first_block) {
  if (initial.data)
    B::copy(ctx, initial, first_block);
  else
    B::broadcast_columns(ctx, h0, first_block);
}

// Routes the cotangent of the initial state: to the caller's buffer when the
// batch brought its own initial states, else into the gradient of h0.
template <class B, class S>
void route_initial_gradient(typename B::context& ctx, ConstView<S> d_first, bool had_initial,
                            MatrixView<S> d_initial, MatrixView<S> grad_h0) {
  if (had_initial) {
    if (d_initial.data) B::copy(ctx, d_first, d_initial);
  } else if (grad_h0.data) {
    B::add_row_sums(ctx, d_first, grad_h0);
  }
}

}  // namespace ctd
