#pragma once
// How independent work (the trials of a batch, the steps a weight
// gradient sums over, the points of a Jacobian batch) is split over a
// backend's shards.
#include <algorithm>
#include <utility>

#include "ctd/core/gradient_mode.hpp"
#include "ctd/core/matrix.hpp"
#include "ctd/core/types.hpp"
#include "ctd/core/view.hpp"

namespace ctd {

// How many shards split `total` independent pieces: the backend's, at
// most one a piece, at least one.
template <class B>
Index shard_count(typename B::context& ctx, Index total) {
  return std::max<Index>(1, std::min<Index>(B::shards(ctx), total));
}

// Range k of `shards` near-equal ranges of [0, total): {first, count}.
inline std::pair<Index, Index> shard_range(Index total, Index shards, Index k) {
  const Index base = total / shards, extra = total % shards;
  return {k * base + std::min(k, extra), base + (k < extra ? 1 : 0)};
}

// Splits [0, total) into near-equal ranges, one per shard of the backend,
// and calls f(first, count) for each, in parallel. Trials are independent
// through a whole sequence, so a shard runs its trials through every time
// step without waiting for the others.
template <class B, class F>
void for_each_shard(typename B::context& ctx, Index total, F&& f) {
  const Index shards = shard_count<B>(ctx, total);
  B::parallel_for(ctx, shards, [&](Index k) {
    const auto [first, count] = shard_range(total, shards, k);
    f(first, count);
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

// C = alpha op(A) op(B) + beta C as one GEMM per shard of C's columns (the
// steps and trials of a hoisted projection or a cotangent). Eigen's own
// threading stays off (cpu.hpp says why); inside a shard, or on
// a one-shard backend, this is one plain GEMM.
template <class B, class S>
void parallel_gemm(typename B::context& ctx, Trans ta, Trans tb, S alpha, ConstView<S> a, ConstView<S> b, S beta,
                   MatrixView<S> c) {
  for_each_shard<B>(ctx, c.cols, [&](Index c0, Index ck) {
    B::gemm(ctx, ta, tb, alpha, a, tb == Trans::no ? b.col_block(c0, ck) : b.row_block(c0, ck), beta,
            c.col_block(c0, ck));
  });
}

// A weight gradient summed over the steps and trials of a sequence (the
// T*B columns of d and x): dW = beta dW + d x^T and, unless db is empty,
// db = beta db + the row sums of d. Each shard sums a range of the
// columns, the first into dW and db, the others into the calling thread's
// buffer, added in shard order after, so a shard count always gives the
// same sums. Split so, each shard packs its own columns of d and x once;
// split by dW's rows, each packed all of x (the decision GRU's training
// step on two threads: 3.6-3.8 ms against 4.2-5.0, benchmarks/RESULTS.md).
template <class B, class S>
void parallel_weight_gradient(typename B::context& ctx, ConstView<S> d, ConstView<S> x, S beta, MatrixView<S> dW,
                              MatrixView<S> db = {}) {
  const auto sum = [&](Index c0, Index ck, S b, MatrixView<S> w, MatrixView<S> bias) {
    B::gemm(ctx, Trans::no, Trans::yes, S(1), d.col_block(c0, ck), x.col_block(c0, ck), b, w);
    if (bias.empty()) return;
    if (b == S(0))
      B::fill(ctx, bias, S(0));
    else if (b != S(1))
      B::scale(ctx, b, bias);
    B::add_row_sums(ctx, d.col_block(c0, ck), bias);
  };
  const Index shards = shard_count<B>(ctx, d.cols);
  if (shards == 1) return sum(0, d.cols, beta, dW, db);
  const Index n = dW.cols, width = n + 1;  // a shard's sums: dW's, then db's column
  thread_local Matrix<B, S> buffer;  // the calling thread's (a worker names its own)
  buffer.resize(dW.rows, width * (shards - 1));
  const MatrixView<S> partials = buffer.view();
  B::parallel_for(ctx, shards, [&](Index k) {
    const auto [c0, ck] = shard_range(d.cols, shards, k);
    if (k == 0) return sum(c0, ck, beta, dW, db);
    const auto p = partials.col_block((k - 1) * width, width);
    sum(c0, ck, S(0), p.col_block(0, n), db.empty() ? MatrixView<S>{} : p.col_block(n, 1));
  });
  for (Index k = 1; k < shards; ++k) {
    const auto p = partials.col_block((k - 1) * width, width);
    B::axpy(ctx, S(1), ConstView<S>(p.col_block(0, n)), dW);
    if (!db.empty()) B::axpy(ctx, S(1), ConstView<S>(p.col_block(n, 1)), db);
  }
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
