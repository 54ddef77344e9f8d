#pragma once
// FORCE learning (Sussillo & Abbott 2009; SPEC §4): the readout of a chaotic
// echo-state network is trained online by recursive least squares while its
// output is fed back, so learning reshapes the dynamics it learns from.
//
// A pass runs the network from a0 over the target sequence; a training pass
// updates wO (and P) after every `update_every`-th step, and P and wO carry
// over from pass to pass. A test pass runs the same way without learning.
// Every step is backend ops on buffers sized in the constructor: no
// allocation in the time loop. One trajectory has no independent trials to
// share out; on the CPU its large products (wR h, P h, P's update) are
// shared by the context's product team when it has one
// (cpu::context's product_threads; benchmarks/bench_force.cpp measures one
// thread and two).
#include <cmath>
#include <string>

#include "ctd/cells/esn.hpp"
#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/replay.hpp"
#include "ctd/force/rls.hpp"

namespace ctd {

struct ForceOptions {
  Index update_every = 1;  // RLS after every k-th step (k = 1 by default; the paper used 2)
  RlsOptions rls;          // P(0) = rls.p0_diagonal * I
};

template <class B, class S>
class ForceTrainer {
 public:
  using Cell = EsnCell<B, S>;

  // targets: (m x T), column t the target f for the output after step t+1.
  // inputs: (u x T), or empty for the tutorial's zero input. The tensors w
  // (whose wO is trained in place) must outlive the trainer.
  ForceTrainer(typename B::context& ctx, const Cell& cell, const typename Cell::Tensors& w,
               const HostMatrix<S>& targets, const HostMatrix<S>& inputs = {}, const ForceOptions& opt = {})
      : cell_(cell), w_(w), update_every_(opt.update_every), rls_(ctx, cell.state_size(), opt.rls) {
    check_tensors(w);
    require(opt.update_every > 0,
            "FORCE: update_every must be positive, got " + std::to_string(opt.update_every));
    require(targets.rows() == cell.output_size(),
            "FORCE targets: expected " + std::to_string(cell.output_size()) +
                " rows (one per readout output, m), got " + std::to_string(targets.rows()));
    require(targets.cols() > 0, "FORCE targets: need at least one time step");
    require_finite(targets, "FORCE targets");
    if (inputs.size() > 0) {
      require(inputs.rows() == cell.input_size() && inputs.cols() == targets.cols(),
              "FORCE inputs: expected (" + std::to_string(cell.input_size()) + " x " +
                  std::to_string(targets.cols()) + ") (u x T, one column per target step), got (" +
                  std::to_string(inputs.rows()) + " x " + std::to_string(inputs.cols()) + ")");
      require_finite(inputs, "FORCE inputs");
      inputs_ = upload<B, S>(ctx, inputs);
    }
    targets_ = upload<B, S>(ctx, targets);
    outputs_.resize(targets.rows(), targets.cols());
    residuals_.resize(targets.rows(), targets.cols());
    state_ = cell.make_state(ctx, 1);
  }

  // One pass with learning; returns the RMS of z_t - f_t over the pass
  // (over steps and outputs), the readout changing as it goes.
  double train_pass(typename B::context& ctx) { return run_pass(ctx, true); }
  // One pass without learning; returns the RMS error.
  double test_pass(typename B::context& ctx) { return run_pass(ctx, false); }

  // The outputs z_t of the last pass (m x T), in backend memory.
  ConstView<S> outputs() const { return outputs_.view(); }
  Index steps() const { return targets_.cols(); }
  const RlsState<B, S>& rls() const { return rls_; }

 private:
  // A pass is the same launches every time (a training pass starts and
  // ends with no RLS samples pending), so on the GPU it is replayed as a
  // CUDA graph from the second on (core/replay.hpp).
  double run_pass(typename B::context& ctx, bool learn) {
    (learn ? train_pass_ : test_pass_)(ctx, [&] { enqueue_pass(ctx, learn); });
    B::copy(ctx, outputs_.view(), residuals_.view());
    B::axpy(ctx, S(-1), targets_.view(), residuals_.view());
    return std::sqrt(double(B::sum_squares(ctx, residuals_.view())) / double(residuals_.size()));
  }

  void enqueue_pass(typename B::context& ctx, bool learn) {
    const Index T = targets_.cols();
    cell_.reset(ctx, w_, state_);
    for (Index t = 0; t < T; ++t) {
      cell_.step(ctx, w_, inputs_.size() > 0 ? inputs_.col_block(t, 1) : ConstView<S>{}, state_);
      auto z = outputs_.col_block(t, 1);
      B::copy(ctx, state_.z.view(), z);
      if (learn && (t + 1) % update_every_ == 0) {
        // The a-priori error e = z - f; z in the state stays as computed
        // (before the update), the feedback of the next step.
        auto e = residuals_.col_block(t, 1);
        B::copy(ctx, z, e);
        B::axpy(ctx, S(-1), targets_.col_block(t, 1), e);
        rls_.update(ctx, state_.h.view(), e, w_.wO);
      }
    }
    if (learn) rls_.flush(ctx);
  }

  void check_tensors(const typename Cell::Tensors& w) const {
    const Index n = cell_.state_size(), u = cell_.input_size(), m = cell_.output_size();
    const auto shape_is = [](ConstView<S> v, Index r, Index c) { return v.rows == r && v.cols == c; };
    require(shape_is(w.a0, n, 1) && shape_is(w.wI, n, u) && shape_is(w.wR, n, n) && shape_is(w.wO, m, n) &&
                shape_is(w.wF, n, m),
            "FORCE: the ESN tensors do not match the cell (n = " + std::to_string(n) + ", u = " +
                std::to_string(u) + ", m = " + std::to_string(m) + ")");
  }
  static void require_finite(const HostMatrix<S>& x, const std::string& what) {
    for (Index t = 0; t < x.cols(); ++t)
      for (Index i = 0; i < x.rows(); ++i)
        if (!std::isfinite(x(i, t)))
          throw Error(what + ": " + (std::isnan(x(i, t)) ? "NaN" : "Inf") + " at row " + std::to_string(i) +
                      ", step " + std::to_string(t) + "; every value must be finite");
  }

  Cell cell_;
  typename Cell::Tensors w_;
  Index update_every_;
  RlsState<B, S> rls_;
  typename Cell::State state_;
  Matrix<B, S> targets_, inputs_, outputs_, residuals_;
  Replayed<B> train_pass_, test_pass_;
};

}  // namespace ctd
