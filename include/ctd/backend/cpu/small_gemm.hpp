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
//
// A sweep multiplies the same few weight blocks by every step's states, so
// while a thread holds a FixedLeftOperands scope each left operand is
// packed once and its packed form reused: about 4 % of LFADS's training
// step (benchmarks/RESULTS.md). The scope's holder promises that no left
// operand changes (weights do not, within a sweep); the packs are keyed
// by address, shape and transposition, and forgotten when the scope ends.
#include <cstddef>
#include <vector>

#include <Eigen/Core>

#include "ctd/core/types.hpp"

namespace ctd::detail {

// Whether C (m x n) += op(A) op(B) over depth k is a product for
// small_gemm: both packed operands together within a quarter of a core's
// L2 (2 MB), so one block serves; deep enough (k >= 64) for Eigen's kernel
// to beat the BLAS (at k 32 it does not: 384 x 64 by 32, 12.1 against
// 10.4 us); and wide enough (n >= 16) that packing A, m k values, is
// small beside the product's m n k (a streaming decoder's one trial,
// n = 1, took 42 us a bin this way against 12 through the BLAS).
template <class S>
bool is_small_product(Index m, Index n, Index k) {
  return k >= 64 && n >= 16 && (m + n) * k * Index(sizeof(S)) <= (Index(1) << 19);
}

template <class S>
using PackedBuffer = std::vector<S, Eigen::aligned_allocator<S>>;

// A left operand's packed form and what it was packed from.
template <class S>
struct PackedLeft {
  const S* a = nullptr;
  Index m = 0, k = 0, lda = 0;
  bool transposed = false;
  PackedBuffer<S> packed;
};

// How many FixedLeftOperands scopes this thread holds.
inline thread_local int fixed_left_scopes = 0;
// This thread's packed left operands of type S: inside a scope, the first
// `used` of `kept`, where a product looks its left operand up.
template <class S>
struct PackedLefts {
  std::vector<PackedLeft<S>> kept;
  std::size_t used = 0;
  PackedLeft<S> once;  // outside a scope: packed for one product
};
template <class S>
inline thread_local PackedLefts<S> packed_lefts;

// While one lives on a thread, the left operands of that thread's small
// products are packed once each (see above). Scopes nest.
class FixedLeftOperands {
 public:
  FixedLeftOperands() { ++fixed_left_scopes; }
  ~FixedLeftOperands() {
    if (--fixed_left_scopes > 0) return;
    packed_lefts<float>.used = 0;
    packed_lefts<double>.used = 0;
  }
  FixedLeftOperands(const FixedLeftOperands&) = delete;
  FixedLeftOperands& operator=(const FixedLeftOperands&) = delete;
};

// op(A) packed for Eigen's kernel: from this thread's scope where one is
// open (packed there on first use), else packed now.
template <class S, bool TransA>
const S* packed_left(Index m, Index k, const S* a, Index lda) {
  using namespace Eigen::internal;
  constexpr int order = TransA ? Eigen::RowMajor : Eigen::ColMajor;
  using Traits = gebp_traits<S, S>;
  using Mapper = const_blas_data_mapper<S, Index, order>;
  auto& lefts = packed_lefts<S>;
  PackedLeft<S>* entry = &lefts.once;
  if (fixed_left_scopes > 0) {
    for (std::size_t i = 0; i < lefts.used; ++i) {
      const auto& e = lefts.kept[i];
      if (e.a == a && e.m == m && e.k == k && e.lda == lda && e.transposed == TransA) return e.packed.data();
    }
    if (lefts.used == lefts.kept.size()) lefts.kept.emplace_back();
    entry = &lefts.kept[lefts.used++];
    entry->a = a;
    entry->m = m;
    entry->k = k;
    entry->lda = lda;
    entry->transposed = TransA;
  }
  entry->packed.resize(std::size_t(m * k));
  gemm_pack_lhs<S, Index, Mapper, Traits::mr, Traits::LhsProgress, typename Traits::LhsPacket4Packing, order>()(
      entry->packed.data(), Mapper(a, lda), k, m);
  return entry->packed.data();
}

// C += alpha op(A) op(B), column-major C (m x n, leading dimension ldc);
// A is (m x k) or, transposed, (k x m) with leading dimension lda; B is
// (k x n) or, transposed, (n x k).
template <class S, bool TransA, bool TransB>
void small_gemm(Index m, Index n, Index k, S alpha, const S* a, Index lda, const S* b, Index ldb, S* c, Index ldc) {
  using namespace Eigen::internal;
  constexpr int rhs_order = TransB ? Eigen::RowMajor : Eigen::ColMajor;
  using Traits = gebp_traits<S, S>;
  using RhsMapper = const_blas_data_mapper<S, Index, rhs_order>;
  using ResMapper = blas_data_mapper<S, Index, Eigen::ColMajor, Eigen::Unaligned, 1>;
  const S* packed_a = packed_left<S, TransA>(m, k, a, lda);
  thread_local PackedBuffer<S> packed_b;
  packed_b.resize(std::size_t(k * n));
  gemm_pack_rhs<S, Index, RhsMapper, Traits::nr, rhs_order>()(packed_b.data(), RhsMapper(b, ldb), k, n);
  gebp_kernel<S, S, Index, ResMapper, Traits::mr, Traits::nr, false, false>()(ResMapper(c, ldc), packed_a,
                                                                                packed_b.data(), m, k, n, alpha);
}

}  // namespace ctd::detail
