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

  static std::vector<ParamSpec> specs(index n, index u) {
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
    const index n = w.wR.rows, u = w.wI.cols;
    upload<B, S>(ctx, random_normal<S>(rng, n, 1, init.h0_scale), w.h0);
    upload<B, S>(ctx, random_normal<S>(rng, n, u, S(1) / std::sqrt(S(u))), w.wI);
    upload<B, S>(ctx, random_normal<S>(rng, n, n, init.g / std::sqrt(S(n))), w.wR);
    B::fill(ctx, w.bR, S(0));
  }

  VanillaRnnCell(index state_size, index input_size) : n_(state_size), u_(input_size) {}
  index state_size() const { return n_; }
  index input_size() const { return u_; }

  // Runs T steps for B trials. inputs: (u x T*B), time-major blocks.
  // initial: (n x B), or empty to start every trial from h0.
  // Returns the states (n x (T+1)*B); block 0 is the initial state.
  ConstView<S> forward(typename B::context& ctx, const Tensors& w, ConstView<S> inputs,
                       ConstView<S> initial, index T, index batch) {
    T_ = T;
    B_ = batch;
    had_initial_ = initial.data != nullptr;
    states_.resize(n_, (T + 1) * batch);
    pre_.resize(n_, T * batch);
    place_initial_state<B, S>(ctx, w.h0, initial, states_.col_block(0, batch));
    // One GEMM projects the inputs of every time step.
    B::gemm(ctx, Trans::no, Trans::no, S(1), w.wI, inputs, S(0), pre_.view());
    for (index t = 0; t < T; ++t) {
      auto z = pre_.col_block(t * batch, batch);
      B::gemm(ctx, Trans::no, Trans::no, S(1), w.wR, states_.col_block(t * batch, batch), S(1), z);
      B::tanh_bias(ctx, z, w.bR, states_.col_block((t + 1) * batch, batch));
    }
    return states_.view();
  }
  ConstView<S> states() const { return states_.view(); }

  // BPTT for the last forward(). d_states (n x T*B) holds dLoss/dh_t for
  // t = 1..T and is overwritten. Accumulates parameter gradients into *g
  // (skipped when g is null); writes d_inputs (u x T*B) and d_initial
  // (n x B) where given (non-empty).
  void backward(typename B::context& ctx, const Tensors& w, const Tensors* g, ConstView<S> inputs,
                MatrixView<S> d_states, MatrixView<S> d_inputs, MatrixView<S> d_initial) {
    const index T = T_, batch = B_;
    d_pre_.resize(n_, T * batch);
    d_first_.resize(n_, batch);
    for (index t = T - 1; t >= 0; --t) {
      auto dz = d_pre_.col_block(t * batch, batch);
      B::tanh_backward(ctx, d_states.col_block(t * batch, batch),
                       states_.col_block((t + 1) * batch, batch), dz);
      // The recurrent term feeds the cotangent of the previous state.
      auto target = t > 0 ? d_states.col_block((t - 1) * batch, batch) : d_first_.view();
      B::gemm(ctx, Trans::yes, Trans::no, S(1), w.wR, dz, t > 0 ? S(1) : S(0), target);
    }
    // Weight gradients: one GEMM each over all time steps.
    if (g) {
      B::gemm(ctx, Trans::no, Trans::yes, S(1), d_pre_.view(), states_.col_block(0, T * batch), S(1),
              g->wR);
      B::gemm(ctx, Trans::no, Trans::yes, S(1), d_pre_.view(), inputs, S(1), g->wI);
      B::add_row_sums(ctx, d_pre_.view(), g->bR);
    }
    if (d_inputs.data)
      B::gemm(ctx, Trans::yes, Trans::no, S(1), w.wI, d_pre_.view(), S(0), d_inputs);
    route_initial_gradient<B, S>(ctx, d_first_.view(), had_initial_, d_initial,
                                 g ? g->h0 : MatrixView<S>{});
  }

 private:
  index n_, u_;
  index T_ = 0, B_ = 0;
  bool had_initial_ = false;
  Matrix<B, S> states_, pre_, d_pre_, d_first_;
};

}  // namespace ctd
