#pragma once
// The tutorials' GRU (SPEC §2b) — not cuDNN's: the reset gate multiplies h
// before the candidate's matmul, and the update gate has a bias bfg = 0.5.
//   ru = wRUHX [h; x] + bRU,  r = sigma(ru[0:n]),  u = sigma(ru[n:2n] + bfg)
//   c  = tanh(wCHX [r*h; x] + bC),  h' = u*h + (1-u)*c
// Weights are stored as the tutorials store them, (rows x (n+u)) with the
// hidden columns first, so the hidden and input parts are column blocks.
#include <cmath>
#include <string>
#include <vector>

#include "ctd/cells/sequence_buffers.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/core/rng.hpp"

namespace ctd {

template <class B, class S>
class GruCell {
 public:
  struct Tensors {
    MatrixView<S> h0, wRUHX, wCHX, bRU, bC;
  };
  struct Init {
    S h_factor = S(1);    // hidden columns: h_factor N / sqrt(n)
    S i_factor = S(1);    // input columns: i_factor N / sqrt(u)
    S h0_scale = S(0.1);  // h0 = h0_scale N
  };
  static constexpr double forget_bias = 0.5;  // bfg

  static std::vector<ParamSpec> specs(Index n, Index u) {
    return {vector_param("h0", n), matrix_param("wRUHX", 2 * n, n + u),
            matrix_param("wCHX", n, n + u), vector_param("bRU", 2 * n), vector_param("bC", n)};
  }
  static Tensors values(Parameters<B, S>& p, const std::string& prefix = "") {
    return {p.value(prefix + "h0"), p.value(prefix + "wRUHX"), p.value(prefix + "wCHX"),
            p.value(prefix + "bRU"), p.value(prefix + "bC")};
  }
  static Tensors grads(Parameters<B, S>& p, const std::string& prefix = "") {
    return {p.grad(prefix + "h0"), p.grad(prefix + "wRUHX"), p.grad(prefix + "wCHX"),
            p.grad(prefix + "bRU"), p.grad(prefix + "bC")};
  }
  static void initialize(typename B::context& ctx, const Tensors& w, Rng& rng, const Init& init) {
    const Index n = w.wCHX.rows, u = w.wCHX.cols - n;
    const S hs = init.h_factor / std::sqrt(S(n));
    const S is = u > 0 ? init.i_factor / std::sqrt(S(u)) : S(0);
    for (auto m : {w.wRUHX, w.wCHX}) {
      upload<B, S>(ctx, random_normal<S>(rng, m.rows, n, hs), m.col_block(0, n));
      upload<B, S>(ctx, random_normal<S>(rng, m.rows, u, is), m.col_block(n, u));
    }
    upload<B, S>(ctx, random_normal<S>(rng, n, 1, init.h0_scale), w.h0);
    B::fill(ctx, w.bRU, S(0));
    B::fill(ctx, w.bC, S(0));
  }

  GruCell(Index state_size, Index input_size) : n_(state_size), u_(input_size) {}
  Index state_size() const { return n_; }
  Index input_size() const { return u_; }

  // Same contract as VanillaRnnCell::forward.
  ConstView<S> forward(typename B::context& ctx, const Tensors& w, ConstView<S> inputs,
                       ConstView<S> initial, Index T, Index batch) {
    const Index n = n_;
    T_ = T;
    B_ = batch;
    had_initial_ = initial.data != nullptr;
    states_.resize(n, (T + 1) * batch);
    gates_.resize(2 * n, T * batch);
    cand_.resize(n, T * batch);
    reset_state_.resize(n, T * batch);
    place_initial_state<B, S>(ctx, w.h0, initial, states_.col_block(0, batch));
    // Input projections and biases of all time steps before the loop.
    B::gemm(ctx, Trans::no, Trans::no, S(1), input_cols(w.wRUHX), inputs, S(0), gates_.view());
    B::add_columnwise(ctx, w.bRU, gates_.view());
    B::gemm(ctx, Trans::no, Trans::no, S(1), input_cols(w.wCHX), inputs, S(0), cand_.view());
    B::add_columnwise(ctx, w.bC, cand_.view());
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      for (Index t = 0; t < T; ++t) {
        const Index c0 = t * batch + b0;
        const auto h = states_.col_block(c0, bk);
        auto ru = gates_.col_block(c0, bk);
        auto rh = reset_state_.col_block(c0, bk);
        auto c = cand_.col_block(c0, bk);
        B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wRUHX), h, S(1), ru);
        B::gru_gates(ctx, ru, h, rh, S(forget_bias));
        B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wCHX), rh, S(1), c);
        B::gru_state(ctx, c, ru.row_block(n, n), h, states_.col_block(c0 + batch, bk));
      }
    });
    return states_.view();
  }
  ConstView<S> states() const { return states_.view(); }

  // Same contract as VanillaRnnCell::backward.
  void backward(typename B::context& ctx, const Tensors& w, const Tensors* g, ConstView<S> inputs,
                MatrixView<S> d_states, MatrixView<S> d_inputs, MatrixView<S> d_initial) {
    const Index n = n_, T = T_, batch = B_;
    d_gates_.resize(2 * n, T * batch);
    d_cand_.resize(n, T * batch);
    d_reset_state_.resize(n, batch);
    d_first_.resize(n, batch);
    B::fill(ctx, d_first_.view(), S(0));
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      for (Index t = T - 1; t >= 0; --t) {
        const Index c0 = t * batch + b0;
        const auto h = states_.col_block(c0, bk);
        const auto gates = gates_.col_block(c0, bk);
        auto dru = d_gates_.col_block(c0, bk);
        auto dc = d_cand_.col_block(c0, bk);
        auto drh = d_reset_state_.col_block(b0, bk);
        // Cotangent of h_t: the loss's share is already in d_states block t-1.
        auto dh = t > 0 ? d_states.col_block(c0 - batch, bk) : d_first_.col_block(b0, bk);
        B::gru_candidate_backward(ctx, d_states.col_block(c0, bk), h, gates.row_block(n, n),
                                  cand_.col_block(c0, bk), dc, dru.row_block(n, n), dh);
        B::gemm(ctx, Trans::yes, Trans::no, S(1), hidden_cols(w.wCHX), dc, S(0), drh);
        B::gru_reset_backward(ctx, drh, h, gates.row_block(0, n), dru.row_block(0, n), dh);
        B::gemm(ctx, Trans::yes, Trans::no, S(1), hidden_cols(w.wRUHX), dru, S(1), dh);
      }
    });
    // Weight gradients: one GEMM each over all time steps, split by rows.
    if (g) {
      const auto h_prev = states_.col_block(0, T * batch);
      for_each_shard<B>(ctx, 2 * n, [&](Index r0, Index rk) {
        const auto dru = d_gates_.view().row_block(r0, rk);
        B::gemm(ctx, Trans::no, Trans::yes, S(1), dru, h_prev, S(1), hidden_cols(g->wRUHX).row_block(r0, rk));
        B::gemm(ctx, Trans::no, Trans::yes, S(1), dru, inputs, S(1), input_cols(g->wRUHX).row_block(r0, rk));
        B::add_row_sums(ctx, dru, g->bRU.row_block(r0, rk));
      });
      for_each_shard<B>(ctx, n, [&](Index r0, Index rk) {
        const auto dc = d_cand_.view().row_block(r0, rk);
        B::gemm(ctx, Trans::no, Trans::yes, S(1), dc, reset_state_.view(), S(1),
                hidden_cols(g->wCHX).row_block(r0, rk));
        B::gemm(ctx, Trans::no, Trans::yes, S(1), dc, inputs, S(1), input_cols(g->wCHX).row_block(r0, rk));
        B::add_row_sums(ctx, dc, g->bC.row_block(r0, rk));
      });
    }
    if (d_inputs.data) {
      B::gemm(ctx, Trans::yes, Trans::no, S(1), input_cols(w.wRUHX), d_gates_.view(), S(0), d_inputs);
      B::gemm(ctx, Trans::yes, Trans::no, S(1), input_cols(w.wCHX), d_cand_.view(), S(1), d_inputs);
    }
    route_initial_gradient<B, S>(ctx, d_first_.view(), had_initial_, d_initial,
                                 g ? g->h0 : MatrixView<S>{});
  }

  // Jacobians of one step F(h, x) at P points, states (n x P) and inputs
  // (u x P). Block p (columns [p*n, (p+1)*n)) of *dF_dh (n x n*P) is dF/dh
  // at point p, block p of *dF_dx (n x u*P) is dF/dx; a null output is
  // skipped. With e = h r(1-r), a = (h-c) u(1-u), b = (1-u)(1-c^2) and the
  // weight blocks W{r,u,c}_{h,x}:
  //   dF/dh = diag(u) + diag(a) Wu_h + diag(b) Wc_h (diag(r) + diag(e) Wr_h)
  //   dF/dx = diag(a) Wu_x + diag(b) (Wc_x + Wc_h diag(e) Wr_x)
  // so the cost is one GEMM, Wc_h times the blocks side by side. Points are
  // independent: each shard of the backend takes a range of them.
  void jacobians(typename B::context& ctx, const Tensors& w, ConstView<S> states, ConstView<S> inputs,
                 HostMatrix<S>* dF_dh, HostMatrix<S>* dF_dx) {
    const Index n = n_, u = u_, P = states.cols;
    require(states.rows == n && inputs.rows == u && inputs.cols == P,
            "GruCell::jacobians: expected states (" + std::to_string(n) + " x P) and inputs (" +
                std::to_string(u) + " x P), got (" + std::to_string(states.rows) + " x " +
                std::to_string(states.cols) + ") and (" + std::to_string(inputs.rows) + " x " +
                std::to_string(inputs.cols) + ")");
    jac_gates_.resize(2 * n, P);
    jac_cand_.resize(n, P);
    jac_scratch_.resize(n, P);
    jac_coef_.resize(n, 3 * P);
    jac_ones_.resize(n, P);
    jac_blocks_.resize(n, dF_dh ? n * P : 0);
    jac_out_.resize(n, dF_dh ? n * P : 0);
    jac_blocks_x_.resize(n, dF_dx ? u * P : 0);
    jac_out_x_.resize(n, dF_dx ? u * P : 0);
    if (dF_dh) dF_dh->resize(n, n * P);
    if (dF_dx) dF_dx->resize(n, u * P);
    const auto W_r = w.wRUHX.row_block(0, n), W_u = w.wRUHX.row_block(n, n);
    for_each_shard<B>(ctx, P, [&](Index p0, Index pk) {
      const auto h = states.col_block(p0, pk), x = inputs.col_block(p0, pk);
      const auto gates = jac_gates_.col_block(p0, pk), cand = jac_cand_.col_block(p0, pk);
      const auto scratch = jac_scratch_.col_block(p0, pk), ones = jac_ones_.col_block(p0, pk);
      const auto r = gates.row_block(0, n), z = gates.row_block(n, n);
      const auto e = jac_coef_.col_block(p0, pk), a = jac_coef_.col_block(P + p0, pk),
                 b = jac_coef_.col_block(2 * P + p0, pk);
      // The step itself, keeping r, u and c.
      B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wRUHX), h, S(0), gates);
      B::gemm(ctx, Trans::no, Trans::no, S(1), input_cols(w.wRUHX), x, S(1), gates);
      B::add_columnwise(ctx, w.bRU, gates);
      B::gru_gates(ctx, gates, h, scratch, S(forget_bias));
      B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wCHX), scratch, S(0), cand);
      B::gemm(ctx, Trans::no, Trans::no, S(1), input_cols(w.wCHX), x, S(1), cand);
      B::add_columnwise(ctx, w.bC, cand);
      B::gru_state(ctx, cand, z, h, scratch);
      // The backward passes with a cotangent of ones give the coefficients
      // (their state cotangent outputs land in the scratch and are not used).
      B::fill(ctx, ones, S(1));
      B::gru_candidate_backward(ctx, ones, h, z, cand, b, a, scratch);
      B::gru_reset_backward(ctx, ones, h, r, e, scratch);
      if (dF_dh) {
        const auto blocks = jac_blocks_.col_block(p0 * n, pk * n), out = jac_out_.col_block(p0 * n, pk * n);
        B::scale_rows_blocks(ctx, e, hidden_cols(W_r), S(0), blocks);
        B::add_diagonal_blocks(ctx, r, blocks);
        B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wCHX), blocks, S(0), out);
        B::scale_rows_blocks(ctx, b, out, S(0), out);
        B::scale_rows_blocks(ctx, a, hidden_cols(W_u), S(1), out);
        B::add_diagonal_blocks(ctx, z, out);
        B::copy_to_host(ctx, out, dF_dh->data() + p0 * n * n);
      }
      if (dF_dx) {
        const auto blocks = jac_blocks_x_.col_block(p0 * u, pk * u), out = jac_out_x_.col_block(p0 * u, pk * u);
        B::scale_rows_blocks(ctx, e, input_cols(W_r), S(0), blocks);
        B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wCHX), blocks, S(0), out);
        B::scale_rows_blocks(ctx, ones, input_cols(w.wCHX), S(1), out);
        B::scale_rows_blocks(ctx, b, out, S(0), out);
        B::scale_rows_blocks(ctx, a, input_cols(W_u), S(1), out);
        B::copy_to_host(ctx, out, dF_dx->data() + p0 * u * n);
      }
    });
  }

 private:
  MatrixView<S> hidden_cols(MatrixView<S> m) const { return m.col_block(0, n_); }
  MatrixView<S> input_cols(MatrixView<S> m) const { return m.col_block(n_, u_); }

  Index n_, u_;
  Index T_ = 0, B_ = 0;
  bool had_initial_ = false;
  Matrix<B, S> states_, gates_, cand_, reset_state_;
  Matrix<B, S> d_gates_, d_cand_, d_reset_state_, d_first_;
  Matrix<B, S> jac_gates_, jac_cand_, jac_scratch_, jac_coef_, jac_ones_;
  Matrix<B, S> jac_blocks_, jac_out_, jac_blocks_x_, jac_out_x_;
};

}  // namespace ctd
