#pragma once
// The vanilla RNN of the integrator tutorial (SPEC §2a):
//   h' = tanh(wI x + bR + wR h)
// batched over trials and run over whole sequences, with BPTT.
#include <string>
#include <vector>

#include "ctd/cells/sequence_buffers.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/core/rng.hpp"

namespace ctd {

template <class B, class S>
class VanillaRnnCell {
 public:
  // Views of the cell's tensors inside a Parameters buffer (values or grads).
  struct Tensors {
    MatrixView<S> h0, wI, wR, bR;
  };
  struct Init {
    S g = S(0.85);        // recurrent gain
    S h0_scale = S(0.1);  // h0 = h0_scale * N(0,1)
  };

  static std::vector<ParamSpec> specs(Index n, Index u) {
    return {vector_param("h0", n), matrix_param("wI", n, u), matrix_param("wR", n, n),
            vector_param("bR", n)};
  }
  static Tensors values(Parameters<B, S>& p, const std::string& prefix = "") {
    return {p.value(prefix + "h0"), p.value(prefix + "wI"), p.value(prefix + "wR"),
            p.value(prefix + "bR")};
  }
  static Tensors grads(Parameters<B, S>& p, const std::string& prefix = "") {
    return {p.grad(prefix + "h0"), p.grad(prefix + "wI"), p.grad(prefix + "wR"),
            p.grad(prefix + "bR")};
  }
  // Tutorial initialisation: wI = N/sqrt(u), wR = g N/sqrt(n), biases 0.
  static void initialize(typename B::context& ctx, const Tensors& w, Rng& rng, const Init& init) {
    const Index n = w.wR.rows, u = w.wI.cols;
    upload<B, S>(ctx, random_normal<S>(rng, n, 1, init.h0_scale), w.h0);
    upload<B, S>(ctx, random_normal<S>(rng, n, u, S(1) / std::sqrt(S(u))), w.wI);
    upload<B, S>(ctx, random_normal<S>(rng, n, n, init.g / std::sqrt(S(n))), w.wR);
    B::fill(ctx, w.bR, S(0));
  }

  VanillaRnnCell(Index state_size, Index input_size) : n_(state_size), u_(input_size) {}
  Index state_size() const { return n_; }
  Index input_size() const { return u_; }

  // Runs T steps for B trials. inputs: (u x T*B), time-major blocks.
  // initial: (n x B), or empty to start every trial from h0.
  // Returns the states (n x (T+1)*B); block 0 is the initial state.
  ConstView<S> forward(typename B::context& ctx, const Tensors& w, ConstView<S> inputs,
                       ConstView<S> initial, Index T, Index batch) {
    T_ = T;
    B_ = batch;
    had_initial_ = initial.data != nullptr;
    states_.resize(n_, (T + 1) * batch);
    pre_.resize(n_, T * batch);
    place_initial_state<B, S>(ctx, w.h0, initial, states_.col_block(0, batch));
    // One GEMM projects the inputs of every time step.
    B::gemm(ctx, Trans::no, Trans::no, S(1), w.wI, inputs, S(0), pre_.view());
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      for (Index t = 0; t < T; ++t) {
        auto z = pre_.col_block(t * batch + b0, bk);
        B::gemm(ctx, Trans::no, Trans::no, S(1), w.wR, states_.col_block(t * batch + b0, bk), S(1), z);
        B::tanh_bias(ctx, z, w.bR, states_.col_block((t + 1) * batch + b0, bk));
      }
    });
    return states_.view();
  }
  ConstView<S> states() const { return states_.view(); }

  // BPTT for the last forward(). d_states (n x T*B) holds dLoss/dh_t for
  // t = 1..T and is overwritten. Accumulates parameter gradients into *g
  // (skipped when g is null); writes d_inputs (u x T*B) and d_initial
  // (n x B) where given (non-empty).
  void backward(typename B::context& ctx, const Tensors& w, const Tensors* g, ConstView<S> inputs,
                MatrixView<S> d_states, MatrixView<S> d_inputs, MatrixView<S> d_initial) {
    const Index T = T_, batch = B_;
    d_pre_.resize(n_, T * batch);
    d_first_.resize(n_, batch);
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      for (Index t = T - 1; t >= 0; --t) {
        auto dz = d_pre_.col_block(t * batch + b0, bk);
        B::tanh_backward(ctx, d_states.col_block(t * batch + b0, bk),
                         states_.col_block((t + 1) * batch + b0, bk), dz);
        // The recurrent term feeds the cotangent of the previous state.
        auto target = t > 0 ? d_states.col_block((t - 1) * batch + b0, bk) : d_first_.col_block(b0, bk);
        B::gemm(ctx, Trans::yes, Trans::no, S(1), w.wR, dz, t > 0 ? S(1) : S(0), target);
      }
    });
    // Weight gradients: one GEMM each over all time steps, split by rows.
    if (g) {
      for_each_shard<B>(ctx, n_, [&](Index r0, Index rk) {
        const auto dz = d_pre_.view().row_block(r0, rk);
        B::gemm(ctx, Trans::no, Trans::yes, S(1), dz, states_.col_block(0, T * batch), S(1),
                g->wR.row_block(r0, rk));
        B::gemm(ctx, Trans::no, Trans::yes, S(1), dz, inputs, S(1), g->wI.row_block(r0, rk));
        B::add_row_sums(ctx, dz, g->bR.row_block(r0, rk));
      });
    }
    if (d_inputs.data)
      B::gemm(ctx, Trans::yes, Trans::no, S(1), w.wI, d_pre_.view(), S(0), d_inputs);
    route_initial_gradient<B, S>(ctx, d_first_.view(), had_initial_, d_initial,
                                 g ? g->h0 : MatrixView<S>{});
  }

  // Jacobians of one step F(h, x) at P points, states (n x P) and inputs
  // (u x P): with s = 1 - F(h, x)^2, dF/dh = diag(s) wR and dF/dx =
  // diag(s) wI. Block p (columns [p*n, (p+1)*n)) of *dF_dh (n x n*P) and
  // block p of *dF_dx (n x u*P) belong to point p; a null output is skipped.
  // Each shard of the backend takes a range of the points.
  void jacobians(typename B::context& ctx, const Tensors& w, ConstView<S> states, ConstView<S> inputs,
                 HostMatrix<S>* dF_dh, HostMatrix<S>* dF_dx) {
    const Index n = n_, u = u_, P = states.cols;
    require(states.rows == n && inputs.rows == u && inputs.cols == P,
            "VanillaRnnCell::jacobians: expected states (" + std::to_string(n) + " x P) and inputs (" +
                std::to_string(u) + " x P), got (" + std::to_string(states.rows) + " x " +
                std::to_string(states.cols) + ") and (" + std::to_string(inputs.rows) + " x " +
                std::to_string(inputs.cols) + ")");
    jac_pre_.resize(n, P);
    jac_next_.resize(n, P);
    jac_slope_.resize(n, P);
    jac_out_.resize(n, dF_dh ? n * P : 0);
    jac_out_x_.resize(n, dF_dx ? u * P : 0);
    if (dF_dh) dF_dh->resize(n, n * P);
    if (dF_dx) dF_dx->resize(n, u * P);
    for_each_shard<B>(ctx, P, [&](Index p0, Index pk) {
      const auto pre = jac_pre_.col_block(p0, pk), next = jac_next_.col_block(p0, pk);
      const auto slope = jac_slope_.col_block(p0, pk);
      B::gemm(ctx, Trans::no, Trans::no, S(1), w.wR, states.col_block(p0, pk), S(0), pre);
      B::gemm(ctx, Trans::no, Trans::no, S(1), w.wI, inputs.col_block(p0, pk), S(1), pre);
      B::tanh_bias(ctx, pre, w.bR, next);
      B::fill(ctx, pre, S(1));
      B::tanh_backward(ctx, pre, next, slope);
      if (dF_dh) {
        const auto out = jac_out_.col_block(p0 * n, pk * n);
        B::scale_rows_blocks(ctx, slope, w.wR, S(0), out);
        B::copy_to_host(ctx, out, dF_dh->data() + p0 * n * n);
      }
      if (dF_dx) {
        const auto out = jac_out_x_.col_block(p0 * u, pk * u);
        B::scale_rows_blocks(ctx, slope, w.wI, S(0), out);
        B::copy_to_host(ctx, out, dF_dx->data() + p0 * u * n);
      }
    });
  }

 private:
  Index n_, u_;
  Index T_ = 0, B_ = 0;
  bool had_initial_ = false;
  Matrix<B, S> states_, pre_, d_pre_, d_first_;
  Matrix<B, S> jac_pre_, jac_next_, jac_slope_, jac_out_, jac_out_x_;
};

}  // namespace ctd
