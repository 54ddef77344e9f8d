#pragma once
// y += alpha A x for a symmetric A of which only the lower triangle is read
// (column-major, leading dimension ld): the CPU backend's symv, the product
// k = P h of every RLS sample (force/rls.hpp).
//
// Why not BLAS: OpenBLAS 0.3.21's ssymv reads the triangle at about half the
// rate its sgemv reads a full matrix (n = 500: 10.2 us for half the bytes of
// sgemv's 10.0), and within FORCE's step, beside the 1 MB wR, it took
// 14.9 us; this kernel 8.7 us alone and 10.4 us there.
//
// How: panels of four columns j..j+3. The 4 x 4 diagonal block is done
// element by element; below it, one pass over the rows both adds the four
// columns times x[j..j+3] into y (the lower triangle's part) and
// accumulates their dot products with x (the mirrored upper triangle's part,
// added to y[j..j+3] after the pass), so each element of the triangle is
// loaded once, with Eigen's packets of the target instruction set.
//
// The columns [first, end) alone give the part of the product that lies in
// them (rows first..n-1 of y): threads that share one product each take a
// block of columns (cpu::symv with product_threads).
#include <Eigen/Core>

#include "ctd/core/types.hpp"

namespace ctd::detail {

template <class S>
void symv_lower(Index n, Index first, Index end, S alpha, const S* a, Index ld, const S* x, S* y) {
  using namespace Eigen::internal;
  using Packet = typename packet_traits<S>::type;
  constexpr Index lanes = packet_traits<S>::size;
  constexpr int W = 4;
  Index j = first;
  for (; j + W <= end; j += W) {
    const S* column[W];
    S xs[W], mirrored[W];
    Packet xp[W], dots[W];
    for (int c = 0; c < W; ++c) {
      column[c] = a + (j + c) * ld;
      xs[c] = alpha * x[j + c];
      xp[c] = pset1<Packet>(xs[c]);
      dots[c] = pset1<Packet>(S(0));
      mirrored[c] = S(0);
    }
    for (int c = 0; c < W; ++c) {
      y[j + c] += column[c][j + c] * xs[c];
      for (int r = c + 1; r < W; ++r) {
        y[j + r] += column[c][j + r] * xs[c];
        mirrored[c] += column[c][j + r] * x[j + r];
      }
    }
    Index i = j + W;
    for (; i + lanes <= n; i += lanes) {
      const Packet xi = ploadu<Packet>(x + i);
      Packet yi = ploadu<Packet>(y + i);
      for (int c = 0; c < W; ++c) {
        const Packet p = ploadu<Packet>(column[c] + i);
        yi = pmadd(p, xp[c], yi);
        dots[c] = pmadd(p, xi, dots[c]);
      }
      pstoreu(y + i, yi);
    }
    for (int c = 0; c < W; ++c) mirrored[c] += predux(dots[c]);
    for (; i < n; ++i)
      for (int c = 0; c < W; ++c) {
        y[i] += column[c][i] * xs[c];
        mirrored[c] += column[c][i] * x[i];
      }
    for (int c = 0; c < W; ++c) y[j + c] += alpha * mirrored[c];
  }
  for (; j < end; ++j) {  // the last (end - first) mod W columns
    const S* column = a + j * ld;
    const S xj = alpha * x[j];
    S mirrored = 0;
    y[j] += column[j] * xj;
    for (Index i = j + 1; i < n; ++i) {
      y[i] += column[i] * xj;
      mirrored += column[i] * x[i];
    }
    y[j] += alpha * mirrored;
  }
}

}  // namespace ctd::detail
