#pragma once
// The CPU backend: Eigen for the dense algebra, plain loops that Eigen's
// array expressions vectorise for the fused element-wise passes.
//
// Each fused pass walks columns (one trial each): contiguous columns keep
// Eigen's vectorised tanh inlined (a whole strided-matrix expression falls
// back to a scalar call per element, 10x slower), and strided views such as
// the r/u halves of the GRU gate block need no copies.
#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <new>

#include <Eigen/Core>

#include "ctd/core/backend.hpp"
#include "ctd/core/error.hpp"

namespace ctd {

struct cpu {
  struct context {};

  template <class S>
  using Map = Eigen::Map<Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>, Eigen::Unaligned,
                         Eigen::OuterStride<>>;
  template <class S>
  using ConstMap = Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>,
                              Eigen::Unaligned, Eigen::OuterStride<>>;

  template <class S>
  static Map<S> map(MatrixView<S> v) {
    return Map<S>(v.data, v.rows, v.cols, Eigen::OuterStride<>(std::max<index>(v.ld, 1)));
  }
  template <class S>
  static ConstMap<S> map(ConstView<S> v) {
    return ConstMap<S>(v.data, v.rows, v.cols, Eigen::OuterStride<>(std::max<index>(v.ld, 1)));
  }
  // Column j of a view as an Eigen array (contiguous).
  template <class S>
  static auto col(MatrixView<S> v, index j) {
    return Eigen::Map<Eigen::Array<S, Eigen::Dynamic, 1>>(v.data + j * v.ld, v.rows);
  }
  template <class S>
  static auto col(ConstView<S> v, index j) {
    return Eigen::Map<const Eigen::Array<S, Eigen::Dynamic, 1>>(v.data + j * v.ld, v.rows);
  }

  // ---- storage ------------------------------------------------------------
  template <class S>
  static S* allocate(index count) {
    if (count <= 0) return nullptr;
    // 64-byte alignment: one AVX-512 register, one cache line.
    const std::size_t bytes = (static_cast<std::size_t>(count) * sizeof(S) + 63) / 64 * 64;
    void* p = std::aligned_alloc(64, bytes);
    if (!p) throw std::bad_alloc();
    std::memset(p, 0, bytes);
    return static_cast<S*>(p);
  }
  template <class S>
  static void deallocate(S* p) {
    std::free(const_cast<std::remove_const_t<S>*>(p));
  }
  template <class S>
  static void copy_from_host(context&, const S* src, MatrixView<S> dst) {
    map(dst) = ConstMap<S>(src, dst.rows, dst.cols, Eigen::OuterStride<>(std::max<index>(dst.rows, 1)));
  }
  template <class S>
  static void copy_to_host(context&, ConstView<S> src, S* dst) {
    Map<S>(dst, src.rows, src.cols, Eigen::OuterStride<>(std::max<index>(src.rows, 1))) = map(src);
  }
  template <class S>
  static void copy(context&, ConstView<S> src, MatrixView<S> dst) {
    map(dst) = map(src);
  }
  template <class S>
  static void fill(context&, MatrixView<S> y, S value) {
    map(y).setConstant(value);
  }
  static void synchronize(context&) {}

  // ---- dense linear algebra -----------------------------------------------
  // C = alpha * op(A) op(B) + beta * C; beta == 0 overwrites C (even NaN).
  template <class S>
  static void gemm(context&, Trans ta, Trans tb, S alpha, ConstView<S> a, ConstView<S> b, S beta,
                   MatrixView<S> c) {
    auto C = map(c);
    auto A = map(a);
    auto Bm = map(b);
    if (beta == S(0))
      C.setZero();
    else if (beta != S(1))
      C *= beta;
    if (ta == Trans::no && tb == Trans::no)
      C.noalias() += alpha * A * Bm;
    else if (ta == Trans::no)
      C.noalias() += alpha * A * Bm.transpose();
    else if (tb == Trans::no)
      C.noalias() += alpha * A.transpose() * Bm;
    else
      C.noalias() += alpha * A.transpose() * Bm.transpose();
  }
  // y = alpha * op(A) x + beta * y, x and y column vectors.
  template <class S>
  static void gemv(context&, Trans ta, S alpha, ConstView<S> a, ConstView<S> x, S beta,
                   MatrixView<S> y) {
    auto Y = map(y).col(0);
    if (beta == S(0))
      Y.setZero();
    else if (beta != S(1))
      Y *= beta;
    if (ta == Trans::no)
      Y.noalias() += alpha * map(a) * map(x).col(0);
    else
      Y.noalias() += alpha * map(a).transpose() * map(x).col(0);
  }
  // A += alpha * x y^T
  template <class S>
  static void ger(context&, S alpha, ConstView<S> x, ConstView<S> y, MatrixView<S> a) {
    map(a).noalias() += (alpha * map(x).col(0)) * map(y).col(0).transpose();
  }
  template <class S>
  static void axpy(context&, S alpha, ConstView<S> x, MatrixView<S> y) {
    map(y) += alpha * map(x);
  }
  template <class S>
  static void scale(context&, S alpha, MatrixView<S> y) {
    map(y) *= alpha;
  }

  // ---- reductions and broadcasts ------------------------------------------
  template <class S>
  static S sum_squares(context&, ConstView<S> x) {
    return map(x).squaredNorm();
  }
  template <class S>
  static S dot(context&, ConstView<S> x, ConstView<S> y) {
    return map(x).cwiseProduct(map(y)).sum();
  }
  // y (rows x 1) += sum over the columns of x: bias gradients.
  template <class S>
  static void add_row_sums(context&, ConstView<S> x, MatrixView<S> y) {
    map(y).col(0) += map(x).rowwise().sum();
  }
  // y[:, j] += v for every column j: bias adds.
  template <class S>
  static void add_columnwise(context&, ConstView<S> v, MatrixView<S> y) {
    map(y).colwise() += map(v).col(0);
  }
  // y[:, j] = v for every column j: a shared initial state for a batch.
  template <class S>
  static void broadcast_columns(context&, ConstView<S> v, MatrixView<S> y) {
    map(y).colwise() = map(v).col(0);
  }
  // sum(mask * (out - target)^2) / sum(mask); writes its gradient to dout.
  template <class S>
  static S masked_mse(context&, ConstView<S> out, ConstView<S> target, ConstView<S> mask,
                      MatrixView<S> dout) {
    const S count = map(mask).sum();
    require(count > 0, "masked_mse: the mask selects no entries");
    auto diff = (map(out) - map(target)).array() * map(mask).array();
    map(dout) = (S(2) / count) * diff.matrix();
    return (diff * (map(out) - map(target)).array()).sum() / count;
  }

  // ---- optimiser ------------------------------------------------------------
  // Adam as jax.example_libraries.optimizers.adam; `step` counts from 0.
  template <class S>
  static void adam_update(context&, MatrixView<S> x, ConstView<S> g, MatrixView<S> m,
                          MatrixView<S> v, S lr, S b1, S b2, S eps, index step) {
    const S c1 = S(1) / (S(1) - std::pow(b1, S(step + 1)));
    const S c2 = S(1) / (S(1) - std::pow(b2, S(step + 1)));
    auto M = map(m).array();
    auto V = map(v).array();
    auto G = map(g).array();
    M = b1 * M + (S(1) - b1) * G;
    V = b2 * V + (S(1) - b2) * G.square();
    map(x).array() -= lr * (M * c1) / ((V * c2).sqrt() + eps);
  }

  // ---- random fills -----------------------------------------------------------
  // Column-major order of draws, so a device fill can use the same counters.
  template <class S>
  static void fill_normal(context&, MatrixView<S> y, S mean, S stddev, Rng& rng) {
    for (index j = 0; j < y.cols; ++j)
      for (index i = 0; i < y.rows; ++i)
        y.data[i + j * y.ld] = mean + stddev * static_cast<S>(rng.normal());
  }

  // ---- fused cell passes ------------------------------------------------------
  // Vanilla RNN: h = tanh(z + b).
  template <class S>
  static void tanh_bias(context&, ConstView<S> z, ConstView<S> b, MatrixView<S> h) {
    const auto bias = col(b, 0);
    for (index j = 0; j < z.cols; ++j) col(h, j) = (col(z, j) + bias).tanh();
  }
  // dz = dh * (1 - h^2).
  template <class S>
  static void tanh_backward(context&, ConstView<S> dh, ConstView<S> h, MatrixView<S> dz) {
    for (index j = 0; j < h.cols; ++j) col(dz, j) = col(dh, j) * (S(1) - col(h, j).square());
  }

  // GRU gates, in place on the (2n x B) pre-activations ru:
  // r = sigma(ru[0:n]), u = sigma(ru[n:2n] + bfg); also rh = r * h.
  template <class S>
  static void gru_gates(context&, MatrixView<S> ru, ConstView<S> h, MatrixView<S> rh, S bfg) {
    const index n = h.rows;
    for (index j = 0; j < h.cols; ++j) {
      auto g = col(ru, j);
      g.head(n) = S(0.5) * ((S(0.5) * g.head(n)).tanh() + S(1));
      g.tail(n) = S(0.5) * ((S(0.5) * (g.tail(n) + bfg)).tanh() + S(1));
      col(rh, j) = g.head(n) * col(h, j);
    }
  }
  // GRU state, in place on the candidate pre-activation c:
  // c = tanh(c); h_next = u * h + (1 - u) * c.
  template <class S>
  static void gru_state(context&, MatrixView<S> c, ConstView<S> u, ConstView<S> h,
                        MatrixView<S> h_next) {
    for (index j = 0; j < h.cols; ++j) {
      auto cj = col(c, j);
      cj = cj.tanh();
      const auto uj = col(u, j);
      col(h_next, j) = uj * col(h, j) + (S(1) - uj) * cj;
    }
  }
  // Backward through h_next = u h + (1-u) c given dh_next:
  // dc_pre = dh_next (1-u)(1-c^2), du_pre = dh_next (h-c) u(1-u), dh += dh_next u.
  template <class S>
  static void gru_candidate_backward(context&, ConstView<S> dh_next, ConstView<S> h, ConstView<S> u,
                                     ConstView<S> c, MatrixView<S> dc_pre, MatrixView<S> du_pre,
                                     MatrixView<S> dh) {
    for (index j = 0; j < h.cols; ++j) {
      const auto d = col(dh_next, j), hj = col(h, j), uj = col(u, j), cj = col(c, j);
      col(dc_pre, j) = d * (S(1) - uj) * (S(1) - cj.square());
      col(du_pre, j) = d * (hj - cj) * uj * (S(1) - uj);
      col(dh, j) += d * uj;
    }
  }
  // Backward through rh = r * h given drh: dr_pre = drh h r(1-r); dh += drh r.
  template <class S>
  static void gru_reset_backward(context&, ConstView<S> drh, ConstView<S> h, ConstView<S> r,
                                 MatrixView<S> dr_pre, MatrixView<S> dh) {
    for (index j = 0; j < h.cols; ++j) {
      const auto d = col(drh, j), rj = col(r, j);
      col(dr_pre, j) = d * col(h, j) * rj * (S(1) - rj);
      col(dh, j) += d * rj;
    }
  }

  // ESN Euler step, in place: a += dt_over_tau * (drive - a); h = tanh(a).
  template <class S>
  static void esn_euler(context&, S dt_over_tau, ConstView<S> drive, MatrixView<S> a,
                        MatrixView<S> h) {
    for (index j = 0; j < a.cols; ++j) {
      auto aj = col(a, j);
      aj += dt_over_tau * (col(drive, j) - aj);
      col(h, j) = aj.tanh();
    }
  }
};

static_assert(Backend<cpu>);

}  // namespace ctd
