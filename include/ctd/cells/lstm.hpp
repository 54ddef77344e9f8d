#pragma once
// The standard LSTM, one step, with a forget-gate bias (Jozefowicz et al.
// 2015; the common choice when GRU and LSTM dynamics are compared):
//   [i; f; g; o] = wIFGOHX [h; x] + bIFGO
//   i = sigma(i), f = sigma(f + 1), g = tanh(g), o = sigma(o)
//   c' = f c + i g,  h' = o tanh(c')
// Its state is [h; c] (2n rows): the readout and the sequence outputs read
// the first n rows, the fixed-point analysis sees all 2n. Weights are
// stored like the GRU's, (4n x (n+u)) with the hidden columns first.
// A step's cache (5n rows): the activated gates (4n, the first 4n rows
// take the input projection) and tanh(c') (n).
#include <array>
#include <cmath>
#include <string_view>
#include <vector>

#include "ctd/cells/step_cell.hpp"
#include "ctd/core/shards.hpp"

namespace ctd {

// The names of the cell's tensors, in the order of its Tensors.
inline constexpr std::array<std::string_view, 4> lstm_tensor_names{"h0", "c0", "wIFGOHX", "bIFGO"};

template <class B, class S>
class LstmCell {
 public:
  using backend = B;
  using scalar = S;
  static constexpr std::string_view name = "lstm";
  static constexpr const auto& tensor_names = lstm_tensor_names;
  struct Tensors {
    MatrixView<S> h0, c0, wIFGOHX, bIFGO;
  };
  struct Init {
    S h_factor = S(1);    // hidden columns: h_factor N / sqrt(n)
    S i_factor = S(1);    // input columns: i_factor N / sqrt(u)
    S h0_scale = S(0.1);  // h0 = h0_scale N, c0 = h0_scale N
  };
  static constexpr double forget_bias = 1.0;

  // n is the number of units; the state has 2n rows (h and c).
  static std::vector<ParamSpec> specs(Index n, Index u) {
    return {vector_param(tensor_names[0], n), vector_param(tensor_names[1], n),
            matrix_param(tensor_names[2], 4 * n, n + u), vector_param(tensor_names[3], 4 * n)};
  }
  static void initialize(typename B::context& ctx, const Tensors& w, Rng& rng, const Init& init) {
    const Index n = w.h0.rows, u = w.wIFGOHX.cols - n;
    upload<B, S>(ctx, random_normal<S>(rng, 4 * n, n, init.h_factor / std::sqrt(S(n))), w.wIFGOHX.col_block(0, n));
    upload<B, S>(ctx, random_normal<S>(rng, 4 * n, u, u > 0 ? init.i_factor / std::sqrt(S(u)) : S(0)),
                 w.wIFGOHX.col_block(n, u));
    upload<B, S>(ctx, random_normal<S>(rng, n, 1, init.h0_scale), w.h0);
    upload<B, S>(ctx, random_normal<S>(rng, n, 1, init.h0_scale), w.c0);
    B::fill(ctx, w.bIFGO, S(0));
  }

  // units: n; the state size is 2n.
  LstmCell(Index units, Index input_size) : n_(units), u_(input_size) {}
  Index units() const { return n_; }
  Index state_size() const { return 2 * n_; }
  Index input_size() const { return u_; }
  Index hidden_size() const { return n_; }
  Index projection_rows() const { return 4 * n_; }
  Index cache_rows() const { return 5 * n_; }
  Index scratch_rows() const { return 0; }

  void project_inputs(typename B::context& ctx, const Tensors& w, ConstView<S> inputs, MatrixView<S> proj,
                      Index first_input = 0, Grad mode = Grad::overwrite) const {
    parallel_affine<B, S>(ctx, in(w.wIFGOHX, first_input, inputs.rows), inputs, w.bIFGO, proj, mode);
  }
  void step(typename B::context& ctx, const Tensors& w, ConstView<S> h, MatrixView<S> cache,
            MatrixView<S> h_next) const {
    const Index n = n_;
    const auto gates = cache.row_block(0, 4 * n);
    B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_columns(w.wIFGOHX, n), h.row_block(0, n), S(1), gates);
    B::lstm_state(ctx, gates, h.row_block(n, n), h_next.row_block(n, n), cache.row_block(4 * n, n),
                  h_next.row_block(0, n), S(forget_bias));
  }
  void step_backward(typename B::context& ctx, const Tensors& w, ConstView<S> h, ConstView<S> cache, ConstView<S>,
                     ConstView<S> dh_next, MatrixView<S> d_proj, MatrixView<S>, MatrixView<S> dh) const {
    const Index n = n_;
    B::lstm_backward(ctx, dh_next.row_block(0, n), dh_next.row_block(n, n), cache.row_block(0, 4 * n),
                     h.row_block(n, n), cache.row_block(4 * n, n), d_proj, dh.row_block(n, n));
    B::gemm(ctx, Trans::yes, Trans::no, S(1), hidden_columns(w.wIFGOHX, n), d_proj, S(1), dh.row_block(0, n));
  }
  // Over many steps at once, split by rows over the backend's shards.
  void weight_gradients(typename B::context& ctx, const Tensors& g, ConstView<S> h, ConstView<S>,
                        ConstView<S> d_proj, Grad mode) const {
    if (mode == Grad::ignore) return;
    parallel_weight_gradient<B, S>(ctx, d_proj, h.row_block(0, n_), beta_of<S>(mode), hidden_columns(g.wIFGOHX, n_),
                                   g.bIFGO);
  }
  void input_weight_gradients(typename B::context& ctx, const Tensors& g, ConstView<S> inputs, ConstView<S> d_proj,
                              Index first_input, Grad mode) const {
    if (mode == Grad::ignore) return;
    parallel_weight_gradient<B, S>(ctx, d_proj, inputs, beta_of<S>(mode),
                                   in(g.wIFGOHX, first_input, inputs.rows));
  }
  void input_cotangent(typename B::context& ctx, const Tensors& w, ConstView<S> d_proj, MatrixView<S> d_inputs,
                       Index first_input, Grad mode) const {
    if (mode == Grad::ignore) return;
    parallel_gemm<B, S>(ctx, Trans::yes, Trans::no, S(1), in(w.wIFGOHX, first_input, d_inputs.rows), d_proj, beta_of<S>(mode),
            d_inputs);
  }
  void initial_state(typename B::context& ctx, const Tensors& w, MatrixView<S> first) const {
    B::broadcast_columns(ctx, w.h0, first.row_block(0, n_));
    B::broadcast_columns(ctx, w.c0, first.row_block(n_, n_));
  }
  void initial_state_gradient(typename B::context& ctx, const Tensors& g, ConstView<S> d_first, Grad mode) const {
    ctd::initial_state_gradient<B, S>(ctx, g.h0, d_first.row_block(0, n_), mode);
    ctd::initial_state_gradient<B, S>(ctx, g.c0, d_first.row_block(n_, n_), mode);
  }
  // From the backward pass (jacobians_from_vjps): the state is [h; c].
  void jacobians(typename B::context& ctx, const Tensors& w, ConstView<S> states, ConstView<S> inputs,
                 HostMatrix<S>* dF_dh, HostMatrix<S>* dF_dx, Scratch<B, S>& scratch) const {
    jacobians_from_vjps(ctx, *this, w, states, inputs, dF_dh, dF_dx, scratch);
  }

 private:
  MatrixView<S> in(MatrixView<S> m, Index first, Index count) const { return input_columns(m, n_, first, count); }

  Index n_, u_;
};

}  // namespace ctd
