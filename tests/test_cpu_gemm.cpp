// cpu::gemm against the product written out, on both of its paths: the
// per-step products on Eigen's own kernel (backend/cpu/small_gemm.hpp) and
// the rest through Eigen's products (the BLAS where one is linked).
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include <catch2/catch.hpp>

#include "ctd/backend/cpu/cpu.hpp"

using namespace ctd;

namespace {

// op(A) op(B) for A and B stored column-major with leading dimensions.
template <class S>
double product_entry(Trans ta, Trans tb, const std::vector<S>& a, Index lda, const std::vector<S>& b, Index ldb,
                     Index i, Index j, Index k) {
  double sum = 0;
  for (Index p = 0; p < k; ++p) {
    const double x = ta == Trans::no ? a[std::size_t(i + p * lda)] : a[std::size_t(p + i * lda)];
    const double y = tb == Trans::no ? b[std::size_t(p + j * ldb)] : b[std::size_t(j + p * ldb)];
    sum += x * y;
  }
  return sum;
}

template <class S>
void check_gemm(Index m, Index n, Index k, bool small) {
  REQUIRE(detail::is_small_product<S>(m, n, k) == small);
  cpu::context ctx(1);
  Rng rng(7);
  for (const Trans ta : {Trans::no, Trans::yes})
    for (const Trans tb : {Trans::no, Trans::yes})
      for (const S beta : {S(0), S(1), S(0.5)}) {
        // Every operand strided: a view into a taller buffer.
        const Index ar = ta == Trans::no ? m : k, ac = ta == Trans::no ? k : m;
        const Index br = tb == Trans::no ? k : n, bc = tb == Trans::no ? n : k;
        const Index lda = ar + 3, ldb = br + 5, ldc = m + 2;
        std::vector<S> a(std::size_t(lda * ac)), b(std::size_t(ldb * bc)), c(std::size_t(ldc * n));
        for (auto& x : a) x = S(rng.normal());
        for (auto& x : b) x = S(rng.normal());
        for (auto& x : c) x = beta == S(0) ? std::numeric_limits<S>::quiet_NaN() : S(rng.normal());
        const std::vector<S> c0 = c;
        const S alpha = S(0.75);
        cpu::gemm(ctx, ta, tb, alpha, ConstView<S>{a.data(), ar, ac, lda}, ConstView<S>{b.data(), br, bc, ldb}, beta,
                  MatrixView<S>{c.data(), m, n, ldc});
        const double tol = (std::is_same_v<S, float> ? 1e-5 : 1e-12) * std::sqrt(double(k)) * 4;
        for (Index j = 0; j < n; ++j) {
          for (Index i = 0; i < m; ++i) {
            const double before = beta == S(0) ? 0.0 : double(beta) * double(c0[std::size_t(i + j * ldc)]);
            const double want = before + double(alpha) * product_entry(ta, tb, a, lda, b, ldb, i, j, k);
            const double got = c[std::size_t(i + j * ldc)];
            if (!(std::abs(got - want) <= tol * (1 + std::abs(want))))
              FAIL("(" << m << " x " << n << " by " << k << ") ta " << int(ta) << " tb " << int(tb) << " beta "
                       << beta << ": C(" << i << ", " << j << ") = " << got << ", expected " << want);
          }
          // The rows between C's columns are not C's: untouched, bit for bit.
          for (Index i = m; i < ldc; ++i)
            CHECK(std::memcmp(&c[std::size_t(i + j * ldc)], &c0[std::size_t(i + j * ldc)], sizeof(S)) == 0);
        }
      }
}

}  // namespace

TEST_CASE("cpu::gemm is the product on Eigen's own kernel (a recurrent step's shapes)", "[backend]") {
  check_gemm<float>(256, 64, 128, true);
  check_gemm<float>(100, 37, 100, true);  // rows and columns off the kernel's 48 x 4 blocks
  check_gemm<double>(45, 19, 71, true);
}

TEST_CASE("cpu::gemm is the product through Eigen's products (shallow, narrow or large shapes)", "[backend]") {
  check_gemm<float>(96, 40, 32, false);     // k < 64
  check_gemm<float>(256, 1, 128, false);    // n < 16: one trial
  check_gemm<float>(128, 1300, 100, false);  // beyond the kernel's one block
  check_gemm<double>(30, 20, 10, false);
}

TEST_CASE("a left operand packed once in a FixedLeftOperands scope, and packed anew after it", "[backend]") {
  cpu::context ctx(1);
  Rng rng(11);
  const Index m = 256, n = 64, k = 128;
  std::vector<float> w(std::size_t(m * k)), w2(std::size_t(m * k)), x(std::size_t(k * n)), y(std::size_t(m * n));
  for (auto* v : {&w, &w2, &x, &y})
    for (auto& e : *v) e = float(rng.normal());
  // op(A) B for A stored (m x k): W x (m x n), or W^T y (k x n).
  const auto product = [&](const std::vector<float>& a, Trans ta) {
    const Index rows = ta == Trans::no ? m : k;
    std::vector<float> c(std::size_t(rows * n));
    const auto& b = ta == Trans::no ? x : y;
    cpu::gemm(ctx, ta, Trans::no, 1.0f, ConstView<float>{a.data(), m, k}, ConstView<float>{b.data(), m + k - rows, n},
              0.0f, MatrixView<float>{c.data(), rows, n});
    return c;
  };
  // The written-out op(A) B, entry by entry, within float rounding.
  const auto matches = [&](const std::vector<float>& c, const std::vector<float>& a, Trans ta) {
    const Index rows = ta == Trans::no ? m : k, depth = m + k - rows;
    for (Index j = 0; j < n; ++j)
      for (Index i = 0; i < rows; ++i) {
        const double want = product_entry(ta, Trans::no, a, m, ta == Trans::no ? x : y, depth, i, j, depth);
        if (std::abs(c[std::size_t(i + j * rows)] - want) > 1e-4 * (1 + std::abs(want))) return false;
      }
    return true;
  };
  std::vector<float> first;
  {
    const cpu::fixed_left_operands fixed;
    first = product(w, Trans::no);
    CHECK(matches(first, w, Trans::no));
    CHECK(product(w, Trans::no) == first);              // the kept pack
    CHECK(matches(product(w2, Trans::no), w2, Trans::no));  // another address: its own pack
    CHECK(matches(product(w, Trans::yes), w, Trans::yes));  // the same address transposed: its own
  }
  for (auto& e : w) e *= -2.0f;  // the scope has ended: a changed operand is packed anew
  CHECK(matches(product(w, Trans::no), w, Trans::no));
}
