#pragma once
// The per-step products of a recurrent sweep (a weight block times one
// step's states or cotangents: 256 x 64 by 128, its transpose 128 x 64 by
// 256) on Eigen's own GEMM kernel, where a BLAS behind Eigen serves the
// large ones. At these shapes OpenBLAS's sgemm (0.3.21, SkylakeX kernels)
// runs at 98-132 GFLOP/s on one core and Eigen's kernel at 123-144, most
// of all on the backward sweep's transposed weights (99 against 123 at
// 128 x 64 by 256; benchmarks/RESULTS.md). With EIGEN_USE_BLAS, Eigen's
// products of float and double all go to the BLAS, so this calls the
// kernel's parts itself, as Eigen's general_matrix_matrix_product does for
// one cache block: pack op(A), pack op(B), run gebp. These are Eigen 3.4's
// internal classes.
#include <vector>

#include <Eigen/Core>

#include "ctd/core/types.hpp"

namespace ctd::detail {

// Whether C (m x n) += op(A) op(B) over depth k is a product for
// small_gemm: both packed operands together within half a core's L2
// (1 MB of floats), so one block serves, and deep enough (k >= 64) for
// Eigen's kernel to beat the BLAS (at k 32 it does not: 384 x 64 by 32,
// 12.1 against 10.4 us).
template <class S>
bool is_small_product(Index m, Index n, Index k) {
  return k >= 64 && (m + n) * k * Index(sizeof(S)) <= (Index(1) << 19);
}

// C += alpha op(A) op(B), column-major C (m x n, leading dimension ldc);
// A is (m x k) or, transposed, (k x m) with leading dimension lda; B is
// (k x n) or, transposed, (n x k).
template <class S, bool TransA, bool TransB>
void small_gemm(Index m, Index n, Index k, S alpha, const S* a, Index lda, const S* b, Index ldb, S* c, Index ldc) {
  using namespace Eigen::internal;
  constexpr int lhs_order = TransA ? Eigen::RowMajor : Eigen::ColMajor;
  constexpr int rhs_order = TransB ? Eigen::RowMajor : Eigen::ColMajor;
  using Traits = gebp_traits<S, S>;
  using LhsMapper = const_blas_data_mapper<S, Index, lhs_order>;
  using RhsMapper = const_blas_data_mapper<S, Index, rhs_order>;
  using ResMapper = blas_data_mapper<S, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  thread_local std::vector<S, Eigen::aligned_allocator<S>> packed_a, packed_b;
  packed_a.resize(std::size_t(m * k));
  packed_b.resize(std::size_t(k * n));
  gemm_pack_lhs<S, Index, LhsMapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing, lhs_order>()(
      packed_a.data(), LhsMapper(a, lda), k, m);
  gemm_pack_rhs<S, Index, RhsMapper, Traits::nr, rhs_order>()(packed_b.data(), RhsMapper(b, ldb), k, n);
  gebp_kernel<S, S, Index, ResMapper, Traits::mr, Traits::nr, false, false>()(ResMapper(c, ldc), packed_a.data(),
                                                                                packed_b.data(), m, k, n, alpha);
}

}  // namespace ctd::detail
