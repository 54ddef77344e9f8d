#pragma once
// The contract every backend fulfils. Model code (cells, training, LFADS,
// the fixed-point finder, RLS) is written once against it; the CPU backend
// runs it on Eigen, the CUDA backend on cuBLAS plus our kernels.
//
// A backend is a type with a `context` (CPU: empty; CUDA: the stream and the
// cuBLAS handle) and static functions that take the context first. The
// operations are named for what the models need: the GEMM family, a few
// reductions, and one fused element-wise pass per cell phase, so a GRU gate
// update is one trip over memory on either device.
#include <concepts>

#include "ctd/core/rng.hpp"
#include "ctd/core/view.hpp"

namespace ctd {

template <class B, class S>
concept BackendFor = requires(typename B::context& ctx, MatrixView<S> y, ConstView<S> x,
                              S s, Index i, Rng& rng, const S* host_src, S* host_dst) {
  // storage
  { B::template allocate<S>(i) } -> std::same_as<S*>;
  B::deallocate(y.data);
  B::copy_from_host(ctx, host_src, y);
  B::copy_to_host(ctx, x, host_dst);
  B::copy(ctx, x, y);
  B::fill(ctx, y, s);
  B::synchronize(ctx);
  // parallelism over independent work items (trials): shards(ctx) of them
  // at once; a GPU backend, parallel inside each op already, runs 1.
  { B::shards(ctx) } -> std::same_as<Index>;
  B::parallel_for(ctx, i, [](Index) {});
  // dense linear algebra
  B::gemm(ctx, Trans::no, Trans::yes, s, x, x, s, y);
  B::gemv(ctx, Trans::no, s, x, x, s, y);
  B::ger(ctx, s, x, x, y);
  B::symv(ctx, s, x, x, s, y);  // symmetric A, lower triangle read (RLS)
  B::syr(ctx, s, x, y);         // lower triangle of A += s x x^T (RLS)
  B::axpy(ctx, s, x, y);
  B::scale(ctx, s, y);
  // reductions and broadcasts
  { B::sum_squares(ctx, x) } -> std::same_as<S>;
  { B::dot(ctx, x, x) } -> std::same_as<S>;
  B::add_row_sums(ctx, x, y);
  B::add_columnwise(ctx, x, y);
  B::broadcast_columns(ctx, x, y);
  { B::masked_mse(ctx, x, x, x, y) } -> std::same_as<S>;
  // optimiser
  B::adam_update(ctx, y, x, y, y, s, s, s, s, i);
  // random fills
  B::fill_normal(ctx, y, s, s, rng);
  // fused cell passes
  B::tanh_bias(ctx, x, x, y);
  B::tanh_backward(ctx, x, x, y);
  B::gru_gates(ctx, y, x, y, s);
  B::gru_state(ctx, y, x, x, y);
  B::gru_candidate_backward(ctx, x, x, x, x, y, y, y);
  B::gru_reset_backward(ctx, x, x, x, y, y);
  B::esn_euler(ctx, s, x, y, y);
  // analysis: fixed-point speeds and batched Jacobians (blocks of columns,
  // one per point)
  B::scaled_difference(ctx, s, x, x, y);
  B::column_sum_squares(ctx, x, y);
  B::scale_rows_blocks(ctx, x, x, s, y);
  B::add_diagonal_blocks(ctx, x, y);
};

template <class B>
concept Backend = BackendFor<B, float> && BackendFor<B, double>;

}  // namespace ctd
