#pragma once
// How independent work (the trials of a batch, the rows of a weight
// gradient, the points of a Jacobian batch) is split over a backend's
// shards.
#include <algorithm>

#include "ctd/core/gradient_mode.hpp"
#include "ctd/core/types.hpp"
#include "ctd/core/view.hpp"

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

// Runs two independent pieces of work of about the same size. A backend
// with streams of its own (CUDA) puts them on two. On a two-shard backend
// each runs alone on a shard of its own, and inside it for_each_shard sees
// one shard: every GEMM covers the whole batch, twice as wide as a
// half-batch shard's, and no barrier separates the two. Otherwise one
// after the other, each spread over all the shards.
template <class B, class F, class G>
void concurrently(typename B::context& ctx, F&& f, G&& g) {
  if constexpr (requires { B::concurrently(ctx, f, g); }) {
    B::concurrently(ctx, f, g);
  } else if (B::shards(ctx) != 2) {
    f();
    g();
  } else {
    B::parallel_for(ctx, 2, [&](Index k) {
      if (k == 0)
        f();
      else
        g();
    });
  }
}

}  // namespace ctd

namespace ctd {

// C = alpha op(A) op(B) + beta C as one GEMM per shard: C's columns split
// (the steps and trials of a hoisted projection or a cotangent), or its
// rows when C is taller than wide (a weight gradient summed over steps).
// Eigen's own threading stays off (cpu.hpp says why); inside a parallel
// region, or on a one-shard backend, this is one plain GEMM.
template <class B, class S>
void parallel_gemm(typename B::context& ctx, Trans ta, Trans tb, S alpha, ConstView<S> a, ConstView<S> b, S beta,
                   MatrixView<S> c) {
  if (c.cols >= c.rows)
    for_each_shard<B>(ctx, c.cols, [&](Index c0, Index ck) {
      B::gemm(ctx, ta, tb, alpha, a, tb == Trans::no ? b.col_block(c0, ck) : b.row_block(c0, ck), beta,
              c.col_block(c0, ck));
    });
  else
    for_each_shard<B>(ctx, c.rows, [&](Index r0, Index rk) {
      B::gemm(ctx, ta, tb, alpha, ta == Trans::no ? a.row_block(r0, rk) : a.col_block(r0, rk), b, beta,
              c.row_block(r0, rk));
    });
}

// y = W x + b, the bias broadcast over y's columns, or y += W x where
// `mode` accumulates (the bias is in y already): one GEMM per shard of y's
// columns, each shard's bias broadcast first and the GEMM adding to it, so
// y is written once, in parallel (no zeroing pass, no serial bias pass).
template <class B, class S>
void parallel_affine(typename B::context& ctx, ConstView<S> w, ConstView<S> x, ConstView<S> bias, MatrixView<S> y,
                     Grad mode = Grad::overwrite) {
  if (mode == Grad::ignore) return;
  for_each_shard<B>(ctx, y.cols, [&](Index c0, Index ck) {
    const auto yk = y.col_block(c0, ck);
    if (mode == Grad::overwrite) B::broadcast_columns(ctx, bias, yk);
    B::gemm(ctx, Trans::no, Trans::no, S(1), w, x.col_block(c0, ck), S(1), yk);
  });
}

}  // namespace ctd
