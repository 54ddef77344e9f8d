#pragma once
// The contract every backend fulfils. Model code (cells, training, LFADS,
// the fixed-point finder, RLS) is written once against it; the CPU backend
// runs it on Eigen, the CUDA backend on cuBLAS plus our kernels.
//
// A backend is a type with a `context` (CPU: empty; CUDA: the stream and the
// cuBLAS handle) and static functions that take the context first. The
// operations are named for what the models need: the GEMM family, and the
// element-wise families of core/fused_ops.hpp (one fused pass per cell
// phase, so a GRU gate update is one trip over memory on either device).
#include <concepts>

#include "ctd/core/fused_ops.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/core/view.hpp"

namespace ctd {

#define CTD_CONCEPT_REQUIREMENT(ret, name, params, args) { B::name args } -> std::same_as<ret>;

template <class B, class S>
concept BackendFor = requires(typename B::context& ctx, MatrixView<S> y, ConstView<S> x,
                              S s, Index i, Rng& rng, const S* host_src, S* host_dst) {
  // storage
  { B::template allocate<S>(i) } -> std::same_as<S*>;
  B::deallocate(y.data);
  B::copy_from_host(ctx, host_src, y);
  B::copy_to_host(ctx, x, host_dst);
  B::copy(ctx, x, y);
  B::synchronize(ctx);
  // parallelism over independent work items (trials): shards(ctx) of them
  // at once; a GPU backend, parallel inside each op already, runs 1.
  { B::shards(ctx) } -> std::same_as<Index>;
  // points per chunk of a batched analysis step (the fixed-point finder's
  // evaluation and VJP); 0: all points in one chunk
  { B::point_chunk } -> std::convertible_to<Index>;
  // whether a sequence projects its inputs step by step (each shard its
  // own trials) or over all steps in one GEMM before the sweep
  { B::projects_per_step } -> std::convertible_to<bool>;
  // held by a thread through its share of a sweep, whose products' left
  // operands (the weights) stay fixed meanwhile: the backend may reuse
  // what it made of them (the CPU's packed forms)
  typename B::fixed_left_operands;
  B::parallel_for(ctx, i, [](Index) {});
  // dense linear algebra
  B::gemm(ctx, Trans::no, Trans::yes, s, x, x, s, y);
  B::gemv(ctx, Trans::no, s, x, x, s, y);
  B::ger(ctx, s, x, x, y);
  B::symv(ctx, s, x, x, s, y);  // symmetric A, lower triangle read (RLS)
  B::syrk(ctx, s, x, y);        // lower triangle of A += s X X^T (RLS)
  // the element-wise families
  CTD_FUSED_OPS(CTD_CONCEPT_REQUIREMENT, S)
};

#undef CTD_CONCEPT_REQUIREMENT

template <class B>
concept Backend = BackendFor<B, float> && BackendFor<B, double>;

}  // namespace ctd
