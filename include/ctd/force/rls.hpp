#pragma once
// Recursive least squares on a linear readout z = W h (SPEC §4): after each
// sample h with a-priori error e = W h - f,
//   k = P h;  c = 1 / (1 + h.k);  P -= c k k^T;  W -= c e k^T.
// With P(0) = p0_diagonal * I, after any number of samples W is exactly the
// ridge solution  argmin_W  sum_t |W h_t - f_t|^2 + (1/p0_diagonal) |W - W(0)|^2
// and P = (sum_t h_t h_t^T + I / p0_diagonal)^-1.
//
// P0 convention — the three sources disagree on what "alpha" means:
//   this library       P(0) = p0_diagonal * I                     (default 1)
//   the JAX tutorial   P = alpha * I, alpha = 1                  -> p0_diagonal = alpha
//   Sussillo & Abbott  P(0) = I / alpha                          -> p0_diagonal = 1 / alpha
//   reservoirpy FORCE  P = I / alpha, alpha = 1e-6 by default    -> p0_diagonal = 1e6
// In every case the ridge regulariser is lambda = 1 / p0_diagonal.
//
// P is symmetric, so it is stored as such: its lower triangle, read by
// symv and updated by syrk, which keeps P exactly symmetric however long it
// runs; the strictly upper triangle is never read or written. The rank-1
// updates are applied `batched_updates` at a time: between two such rank-k
// updates P = P0 - U U^T, the samples since the last one held as columns
// u = sqrt(c) k of U (c = 1 / (1 + h.P h) lies in (0, 1] while P is
// positive definite), and k = P0 h - U (U^T h). P0 is then read once a
// sample (symv) and written once a batch, instead of being read and written
// once more by every rank-1 update: FORCE's pass over a 500-unit network is
// bound by these passes over P (11 % less time with 16 samples a batch).
#include <cassert>
#include <cmath>
#include <string>

#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/matrix.hpp"

namespace ctd {

struct RlsOptions {
  double p0_diagonal = 1.0;   // P(0) = p0_diagonal * I; ridge lambda = 1 / p0_diagonal
  Index batched_updates = 16;  // rank-1 updates of P applied together (1: each at once)
};

template <class B, class S>
class RlsState {
 public:
  // For a readout with `state_size` inputs h (the reservoir size n).
  RlsState(typename B::context& ctx, Index state_size, const RlsOptions& opt = {})
      : n_(state_size), p0_diagonal_(opt.p0_diagonal) {
    require(n_ > 0, "RlsState: state size must be positive, got " + std::to_string(n_));
    require(std::isfinite(opt.p0_diagonal) && opt.p0_diagonal > 0,
            "RlsState: p0_diagonal (P(0) = p0_diagonal * I) must be positive and finite, got " +
                std::to_string(opt.p0_diagonal));
    require(opt.batched_updates > 0,
            "RlsState: batched_updates must be positive, got " + std::to_string(opt.batched_updates));
    P_.resize(n_, n_);
    pending_.resize(n_, opt.batched_updates);
    work_.resize(n_ + 2 + opt.batched_updates, 1);
    reset(ctx);
  }

  // P = p0_diagonal * I: forget every sample seen.
  void reset(typename B::context& ctx) {
    upload<B, S>(ctx, HostMatrix<S>::Identity(n_, n_) * S(p0_diagonal_), P_.view());
    pending_count_ = 0;
  }

  // One sample: h (n x 1), its a-priori error e = W h - f (m x 1), and the
  // readout W (m x n) updated in place. No allocation, and on a GPU no wait
  // for the host (the backend's fused rls_update).
  void update(typename B::context& ctx, ConstView<S> h, ConstView<S> error, MatrixView<S> readout) {
    assert(h.rows == n_ && h.cols == 1 && readout.cols == n_ && error.rows == readout.rows && error.cols == 1);
    B::rls_update(ctx, P_.view(), pending_.col_block(0, pending_count_ + 1), work_.view(), h, error, readout);
    if (++pending_count_ == pending_.cols()) flush(ctx);
  }

  // Applies the pending updates to the stored P0 (update() does every
  // batched_updates samples), so the next sample starts a batch.
  void flush(typename B::context& ctx) {
    if (pending_count_ == 0) return;
    B::syrk(ctx, S(-1), pending_.col_block(0, pending_count_), P_.view());
    pending_count_ = 0;
  }

  Index state_size() const { return n_; }
  double p0_diagonal() const { return p0_diagonal_; }
  double ridge_regulariser() const { return 1.0 / p0_diagonal_; }
  // P as a full symmetric host matrix, the pending updates applied.
  HostMatrix<S> P(typename B::context& ctx) const {
    const HostMatrix<S> p0 = download<B, S>(ctx, P_.view());
    const HostMatrix<S> u = download<B, S>(ctx, pending_.col_block(0, pending_count_));
    return HostMatrix<S>(p0.template selfadjointView<Eigen::Lower>()) - u * u.transpose();
  }

 private:
  Index n_;
  double p0_diagonal_;
  Matrix<B, S> P_;        // lower triangle holds P0 = P + U U^T
  Matrix<B, S> pending_;  // U: its first pending_count_ columns
  Index pending_count_ = 0;
  Matrix<B, S> work_;  // k, -c, sqrt(c), U^T h (rls_update)
};

}  // namespace ctd
