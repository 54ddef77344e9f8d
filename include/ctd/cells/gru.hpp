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

  static std::vector<ParamSpec> specs(index n, index u) {
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
    const index n = w.wCHX.rows, u = w.wCHX.cols - n;
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

  GruCell(index state_size, index input_size) : n_(state_size), u_(input_size) {}
  index state_size() const { return n_; }
  index input_size() const { return u_; }

  // Same contract as VanillaRnnCell::forward.
  ConstView<S> forward(typename B::context& ctx, const Tensors& w, ConstView<S> inputs,
                       ConstView<S> initial, index T, index batch) {
    const index n = n_;
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
    for (index t = 0; t < T; ++t) {
      const auto h = states_.col_block(t * batch, batch);
      auto ru = gates_.col_block(t * batch, batch);
      auto rh = reset_state_.col_block(t * batch, batch);
      auto c = cand_.col_block(t * batch, batch);
      B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wRUHX), h, S(1), ru);
      B::gru_gates(ctx, ru, h, rh, S(forget_bias));
      B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_cols(w.wCHX), rh, S(1), c);
      B::gru_state(ctx, c, ru.row_block(n, n), h, states_.col_block((t + 1) * batch, batch));
    }
    return states_.view();
  }
  ConstView<S> states() const { return states_.view(); }

  // Same contract as VanillaRnnCell::backward.
  void backward(typename B::context& ctx, const Tensors& w, const Tensors* g, ConstView<S> inputs,
                MatrixView<S> d_states, MatrixView<S> d_inputs, MatrixView<S> d_initial) {
    const index n = n_, T = T_, batch = B_;
    d_gates_.resize(2 * n, T * batch);
    d_cand_.resize(n, T * batch);
    d_reset_state_.resize(n, batch);
    d_first_.resize(n, batch);
    B::fill(ctx, d_first_.view(), S(0));
    for (index t = T - 1; t >= 0; --t) {
      const auto h = states_.col_block(t * batch, batch);
      const auto gates = gates_.col_block(t * batch, batch);
      auto dru = d_gates_.col_block(t * batch, batch);
      auto dc = d_cand_.col_block(t * batch, batch);
      // Cotangent of h_t: the loss's share is already in d_states block t-1.
      auto dh = t > 0 ? d_states.col_block((t - 1) * batch, batch) : d_first_.view();
      B::gru_candidate_backward(ctx, d_states.col_block(t * batch, batch), h, gates.row_block(n, n),
                                cand_.col_block(t * batch, batch), dc, dru.row_block(n, n), dh);
      B::gemm(ctx, Trans::yes, Trans::no, S(1), hidden_cols(w.wCHX), dc, S(0),
              d_reset_state_.view());
      B::gru_reset_backward(ctx, d_reset_state_.view(), h, gates.row_block(0, n),
                            dru.row_block(0, n), dh);
      B::gemm(ctx, Trans::yes, Trans::no, S(1), hidden_cols(w.wRUHX), dru, S(1), dh);
    }
    if (g) {
      const auto h_prev = states_.col_block(0, T * batch);
      B::gemm(ctx, Trans::no, Trans::yes, S(1), d_gates_.view(), h_prev, S(1), hidden_cols(g->wRUHX));
      B::gemm(ctx, Trans::no, Trans::yes, S(1), d_gates_.view(), inputs, S(1), input_cols(g->wRUHX));
      B::add_row_sums(ctx, d_gates_.view(), g->bRU);
      B::gemm(ctx, Trans::no, Trans::yes, S(1), d_cand_.view(), reset_state_.view(), S(1),
              hidden_cols(g->wCHX));
      B::gemm(ctx, Trans::no, Trans::yes, S(1), d_cand_.view(), inputs, S(1), input_cols(g->wCHX));
      B::add_row_sums(ctx, d_cand_.view(), g->bC);
    }
    if (d_inputs.data) {
      B::gemm(ctx, Trans::yes, Trans::no, S(1), input_cols(w.wRUHX), d_gates_.view(), S(0), d_inputs);
      B::gemm(ctx, Trans::yes, Trans::no, S(1), input_cols(w.wCHX), d_cand_.view(), S(1), d_inputs);
    }
    route_initial_gradient<B, S>(ctx, d_first_.view(), had_initial_, d_initial,
                                 g ? g->h0 : MatrixView<S>{});
  }

 private:
  MatrixView<S> hidden_cols(MatrixView<S> m) const { return m.col_block(0, n_); }
  MatrixView<S> input_cols(MatrixView<S> m) const { return m.col_block(n_, u_); }

  index n_, u_;
  index T_ = 0, B_ = 0;
  bool had_initial_ = false;
  Matrix<B, S> states_, gates_, cand_, reset_state_;
  Matrix<B, S> d_gates_, d_cand_, d_reset_state_, d_first_;
};

}  // namespace ctd
