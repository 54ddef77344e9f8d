#pragma once
// The CUDA backend: cuBLAS for the dense algebra, our own kernels for the
// fused element-wise passes, reductions and random fills. Same semantics as
// the CPU backend, operation for operation, so every model runs unchanged.
//
// How it is built. This header is plain host C++: model code that uses the
// backend (cells, trainers, finders, FORCE) is compiled by the host compiler
// like any other C++. The kernels live in src/cuda/kernels.cu, the one file
// nvcc compiles (for float and double), built into the ctd::cuda CMake
// target's static library, which cmake --install installs. Keeping model code away
// from nvcc is deliberate: cudafe++ (CUDA 13) rejects valid C++20 the models
// use, and g++ compiles it several times faster.
//
// Memory is plain cudaMalloc (never managed memory); everything runs on the
// context's stream in order. Operations that return a scalar (sum_squares,
// dot, masked_mse and the LFADS losses) wait for it; copies to and from the host wait too, so a
// host buffer may be reused as soon as they return. Everything else only
// enqueues work.
#include <algorithm>
#include <cassert>
#include <cstdint>
#include <type_traits>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "ctd/backend/cuda/blas.hpp"
#include "ctd/backend/cuda/context.hpp"
#include "ctd/backend/cuda/error.hpp"
#include "ctd/backend/cuda/graph.hpp"
#include "ctd/core/backend.hpp"
#include "ctd/core/fused_ops.hpp"

namespace ctd {

struct cuda {
  using context = CudaContext;
  // Recorded work replayed with one launch (core/replay.hpp uses it).
  using graph = CudaGraph;

  // ---- storage ------------------------------------------------------------
  // Zero-filled, like the CPU backend's memory. The fill runs on the legacy
  // default stream, which every context's (blocking) stream waits for.
  template <class S>
  static S* allocate(Index count) {
    if (count <= 0) return nullptr;
    const std::size_t bytes = static_cast<std::size_t>(count) * sizeof(S);
    void* p = nullptr;
    CTD_CUDA_CHECK(cudaMalloc(&p, bytes));
    const cudaError_t status = cudaMemsetAsync(p, 0, bytes, cudaStreamLegacy);
    if (status != cudaSuccess) cudaFree(p);
    CTD_CUDA_CHECK(status);
    return static_cast<S*>(p);
  }
  // Errors are ignored: this runs in destructors, possibly while an earlier
  // CUDA failure's exception is on its way to the caller (a failing
  // cudaFree of our own pointer can only repeat that failure).
  template <class S>
  static void deallocate(S* p) noexcept {
    cudaFree(const_cast<std::remove_const_t<S>*>(p));
  }
  // src: a contiguous column-major host array of dst's shape.
  template <class S>
  static void copy_from_host(context& ctx, const S* src, MatrixView<S> dst) {
    if (dst.size() == 0) return;
    CTD_CUDA_CHECK(cudaMemcpy2DAsync(dst.data, dst.ld * sizeof(S), src, dst.rows * sizeof(S),
                                     dst.rows * sizeof(S), dst.cols, cudaMemcpyHostToDevice, ctx.stream()));
    synchronize(ctx);
  }
  // dst: a contiguous column-major host array of src's shape.
  template <class S>
  static void copy_to_host(context& ctx, ConstView<S> src, S* dst) {
    if (src.size() == 0) return;
    CTD_CUDA_CHECK(cudaMemcpy2DAsync(dst, src.rows * sizeof(S), src.data, src.ld * sizeof(S),
                                     src.rows * sizeof(S), src.cols, cudaMemcpyDeviceToHost, ctx.stream()));
    synchronize(ctx);
  }
  template <class S>
  static void copy(context& ctx, ConstView<S> src, MatrixView<S> dst) {
    assert(src.rows == dst.rows && src.cols == dst.cols);
    if (dst.size() == 0) return;
    CTD_CUDA_CHECK(cudaMemcpy2DAsync(dst.data, dst.ld * sizeof(S), src.data, src.ld * sizeof(S),
                                     dst.rows * sizeof(S), dst.cols, cudaMemcpyDeviceToDevice, ctx.stream()));
  }
  static void synchronize(context& ctx) { CTD_CUDA_CHECK(cudaStreamSynchronize(ctx.stream())); }

  // ---- parallelism over independent trials ------------------------------------
  // One shard: every operation is already parallel over the whole batch on
  // the device, and one stream keeps them in order.
  static Index shards(const context&) { return 1; }
  // The fixed-point finder's candidates all in one chunk: a launch over
  // 10000 points fills the device, a chunk of 256 would leave it idle.
  static constexpr Index point_chunk = 0;
  // A sequence's input projection over all its steps in one GEMM: one
  // launch that fills the device, not one per step.
  static constexpr bool projects_per_step = false;
  // cuBLAS keeps no packed operands between calls: nothing to hold.
  struct fixed_left_operands {
    fixed_left_operands() {}  // user-provided: a holder is not an unused variable
  };
  template <class F>
  static void parallel_for(context&, Index count, F&& f) {
    for (Index k = 0; k < count; ++k) f(k);
  }
  // Two independent pieces of work on two streams (core/shards.hpp).
  template <class F, class G>
  static void concurrently(context& ctx, F&& f, G&& g) {
    ctx.concurrently(f, g);
  }

  // ---- dense linear algebra (cuBLAS) ----------------------------------------
  // C = alpha * op(A) op(B) + beta * C; beta == 0 overwrites C (even NaN).
  template <class S>
  static void gemm(context& ctx, Trans ta, Trans tb, S alpha, ConstView<S> a, ConstView<S> b, S beta,
                   MatrixView<S> c) {
    const Index k = ta == Trans::no ? a.cols : a.rows;
    assert((ta == Trans::no ? a.rows : a.cols) == c.rows);
    assert((tb == Trans::no ? b.rows : b.cols) == k && (tb == Trans::no ? b.cols : b.rows) == c.cols);
    if (c.size() == 0) return;
    if (k == 0) return scale_or_zero(ctx, beta, c);
    CTD_CUDA_CHECK(cuda_detail::gemm(ctx.blas(), op(ta), op(tb), int(c.rows), int(c.cols), int(k), &alpha,
                                     a.data, ld(a), b.data, ld(b), &beta, c.data, ld(c)));
  }
  // y = alpha * op(A) x + beta * y, x and y column vectors.
  template <class S>
  static void gemv(context& ctx, Trans ta, S alpha, ConstView<S> a, ConstView<S> x, S beta, MatrixView<S> y) {
    const Index inner = ta == Trans::no ? a.cols : a.rows;
    assert(x.rows == inner && y.rows == (ta == Trans::no ? a.rows : a.cols));
    if (y.rows == 0) return;
    if (inner == 0) return scale_or_zero(ctx, beta, y);
    CTD_CUDA_CHECK(cuda_detail::gemv(ctx.blas(), op(ta), int(a.rows), int(a.cols), &alpha, a.data, ld(a),
                                     x.data, &beta, y.data));
  }
  // A += alpha * x y^T
  template <class S>
  static void ger(context& ctx, S alpha, ConstView<S> x, ConstView<S> y, MatrixView<S> a) {
    assert(x.rows == a.rows && y.rows == a.cols);
    if (a.size() == 0) return;
    CTD_CUDA_CHECK(cuda_detail::ger(ctx.blas(), int(a.rows), int(a.cols), &alpha, x.data, y.data, a.data, ld(a)));
  }
  // y = alpha * A x + beta * y for symmetric A of which only the lower
  // triangle is read.
  template <class S>
  static void symv(context& ctx, S alpha, ConstView<S> a, ConstView<S> x, S beta, MatrixView<S> y) {
    assert(a.rows == a.cols && x.rows == a.rows && y.rows == a.rows);
    if (y.rows == 0) return;
    CTD_CUDA_CHECK(cuda_detail::symv(ctx.blas(), int(a.rows), &alpha, a.data, ld(a), x.data, &beta, y.data));
  }
  // Lower triangle of A += alpha * X X^T for X (n x k); the strictly upper
  // triangle is left untouched.
  template <class S>
  static void syrk(context& ctx, S alpha, ConstView<S> x, MatrixView<S> a) {
    assert(a.rows == a.cols && x.rows == a.rows);
    if (a.rows == 0 || x.cols == 0) return;
    const S one(1);
    CTD_CUDA_CHECK(cuda_detail::syrk(ctx.blas(), int(a.rows), int(x.cols), &alpha, x.data, ld(x), &one, a.data, ld(a)));
  }

  // ---- the element-wise families (core/fused_ops.hpp) -------------------------
  // Declared by expanding the lists, so they cannot drift from the Backend
  // concept; kernels.cu defines them (one kernel per element-wise pass) and
  // instantiates them from the same lists. Semantics, family by family, as
  // in cpu.hpp:
  //   CTD_CORE_OPS      storage, BLAS-1, reductions, broadcasts, Adam, fills
  //                     (reductions sum in double in a fixed order: the same
  //                     inputs give the same bits; fill_normal draws the
  //                     CPU's numbers from the same counters, except when
  //                     recorded into a CudaGraph: then every replay draws
  //                     new numbers, see kernels.cu's "random draws")
  //   CTD_GRU_OPS       the tutorials' GRU passes
  //   CTD_LSTM_OPS      the LSTM passes
  //   CTD_ESN_OPS       the ESN's Euler step; the RLS update (cuBLAS, its
  //                     scalars kept on the device: no wait for the host)
  //   CTD_ANALYSIS_OPS  fixed-point speeds and batched Jacobian blocks
  //   CTD_LFADS_OPS     dropout masks (drawn as fill_normal's numbers are),
  //                     reparameterised samples, the KL terms (the AR(1) one
  //                     a thread per dimension and trial, core/ar1_kl.hpp),
  //                     the Poisson likelihood and row normalisation (a
  //                     thread per row); the three losses reduce like
  //                     masked_mse and wait for their sum
#define CTD_CUDA_DECLARE(ret, name, params, args) \
  template <class S>                              \
  static ret name(context& ctx, CTD_UNPAREN params);
  CTD_FUSED_OPS(CTD_CUDA_DECLARE, S)
#undef CTD_CUDA_DECLARE

 private:
  static cublasOperation_t op(Trans t) { return t == Trans::no ? CUBLAS_OP_N : CUBLAS_OP_T; }
  // cuBLAS wants a leading dimension of at least 1, also for empty views.
  template <class S>
  static int ld(ConstView<S> v) {
    return int(std::max<Index>(v.ld, 1));
  }
  // y = beta * y, where beta == 0 overwrites (what GEMM/GEMV do with k = 0).
  template <class S>
  static void scale_or_zero(context& ctx, S beta, MatrixView<S> y) {
    if (beta == S(0))
      fill(ctx, y, S(0));
    else if (beta != S(1))
      scale(ctx, beta, y);
  }
};

// Checked by the host compiler: nvcc's front end (CUDA 13) rejects the
// lambda in the concept's parallel_for requirement, so kernels.cu skips it.
#if !defined(__CUDACC__)
static_assert(Backend<cuda>);
#endif

}  // namespace ctd
