#pragma once
// The vanilla RNN of the integrator tutorial (SPEC §2a), one step:
//   h' = tanh(wI x + bR + wR h)
// The input projection wI x + bR is the step's cache; the backward pass
// reads h' for the slope of tanh.
#include <array>
#include <cmath>
#include <string_view>
#include <vector>

#include "ctd/cells/step_cell.hpp"
#include "ctd/core/shards.hpp"

namespace ctd {

// The names of the cell's tensors, in the order of its Tensors.
inline constexpr std::array<std::string_view, 4> vanilla_tensor_names{"h0", "wI", "wR", "bR"};

template <class B, class S>
class VanillaRnnCell {
 public:
  using backend = B;
  using scalar = S;
  static constexpr std::string_view name = "vanilla";
  static constexpr const auto& tensor_names = vanilla_tensor_names;
  struct Tensors {
    MatrixView<S> h0, wI, wR, bR;
  };
  struct Init {
    S g = S(0.85);        // recurrent gain
    S h0_scale = S(0.1);  // h0 = h0_scale * N(0,1)
  };

  static std::vector<ParamSpec> specs(Index n, Index u) {
    return {vector_param(tensor_names[0], n), matrix_param(tensor_names[1], n, u),
            matrix_param(tensor_names[2], n, n), vector_param(tensor_names[3], n)};
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
  Index hidden_size() const { return n_; }
  Index projection_rows() const { return n_; }
  Index cache_rows() const { return n_; }
  Index scratch_rows() const { return 0; }

  void project_inputs(typename B::context& ctx, const Tensors& w, ConstView<S> inputs, MatrixView<S> proj,
                      Index first_input = 0, Grad mode = Grad::overwrite) const {
    parallel_affine<B, S>(ctx, w.wI.col_block(first_input, inputs.rows), inputs, w.bR, proj, mode);
  }
  void step(typename B::context& ctx, const Tensors& w, ConstView<S> h, MatrixView<S> cache,
            MatrixView<S> h_next) const {
    B::gemm(ctx, Trans::no, Trans::no, S(1), w.wR, h, S(1), cache);
    B::tanh(ctx, cache, h_next);
  }
  void step_backward(typename B::context& ctx, const Tensors& w, ConstView<S>, ConstView<S>, ConstView<S> h_next,
                     ConstView<S> dh_next, MatrixView<S> d_proj, MatrixView<S>, MatrixView<S> dh) const {
    B::tanh_backward(ctx, dh_next, h_next, d_proj);
    B::gemm(ctx, Trans::yes, Trans::no, S(1), w.wR, d_proj, S(1), dh);
  }
  // Over many steps at once, split by rows over the backend's shards.
  void weight_gradients(typename B::context& ctx, const Tensors& g, ConstView<S> h, ConstView<S>,
                        ConstView<S> d_proj, Grad mode) const {
    if (mode == Grad::ignore) return;
    parallel_weight_gradient<B, S>(ctx, d_proj, h, beta_of<S>(mode), g.wR, g.bR);
  }
  void input_weight_gradients(typename B::context& ctx, const Tensors& g, ConstView<S> inputs, ConstView<S> d_proj,
                              Index first_input, Grad mode) const {
    if (mode == Grad::ignore) return;
    parallel_weight_gradient<B, S>(ctx, d_proj, inputs, beta_of<S>(mode), g.wI.col_block(first_input, inputs.rows));
  }
  void input_cotangent(typename B::context& ctx, const Tensors& w, ConstView<S> d_proj, MatrixView<S> d_inputs,
                       Index first_input, Grad mode) const {
    if (mode == Grad::ignore) return;
    parallel_gemm<B, S>(ctx, Trans::yes, Trans::no, S(1), w.wI.col_block(first_input, d_inputs.rows), d_proj,
            beta_of<S>(mode), d_inputs);
  }
  void initial_state(typename B::context& ctx, const Tensors& w, MatrixView<S> first) const {
    B::broadcast_columns(ctx, w.h0, first);
  }
  void initial_state_gradient(typename B::context& ctx, const Tensors& g, ConstView<S> d_first, Grad mode) const {
    ctd::initial_state_gradient<B, S>(ctx, g.h0, d_first, mode);
  }

  // Jacobians of one step at P points, states (n x P) and inputs (u x P):
  // with s = 1 - F(h, x)^2, dF/dh = diag(s) wR and dF/dx = diag(s) wI.
  // Block p (columns [p*n, (p+1)*n)) of *dF_dh (n x n*P) and block p of
  // *dF_dx (n x u*P) belong to point p; a null output is skipped. Each
  // shard of the backend takes a range of the points.
  void jacobians(typename B::context& ctx, const Tensors& w, ConstView<S> states, ConstView<S> inputs,
                 HostMatrix<S>* dF_dh, HostMatrix<S>* dF_dx, Scratch<B, S>& scratch) const {
    check_points(*this, states, inputs, "VanillaRnnCell::jacobians");
    const Index n = n_, u = u_, P = states.cols;
    const auto pre = scratch.get(0, n, P), next = scratch.get(1, n, P), slope = scratch.get(2, n, P),
               out = scratch.get(3, n, dF_dh ? n * P : 0), out_x = scratch.get(4, n, dF_dx ? u * P : 0);
    if (dF_dh) dF_dh->resize(n, n * P);
    if (dF_dx) dF_dx->resize(n, u * P);
    for_each_shard<B>(ctx, P, [&](Index p0, Index pk) {
      const auto z = pre.col_block(p0, pk), h_next = next.col_block(p0, pk), s = slope.col_block(p0, pk);
      project_inputs(ctx, w, inputs.col_block(p0, pk), z);
      step(ctx, w, states.col_block(p0, pk), z, h_next);
      B::fill(ctx, z, S(1));
      B::tanh_backward(ctx, z, h_next, s);
      if (dF_dh) {
        const auto o = out.col_block(p0 * n, pk * n);
        B::scale_rows_blocks(ctx, s, w.wR, S(0), o);
        B::copy_to_host(ctx, o, dF_dh->data() + p0 * n * n);
      }
      if (dF_dx) {
        const auto o = out_x.col_block(p0 * u, pk * u);
        B::scale_rows_blocks(ctx, s, w.wI, S(0), o);
        B::copy_to_host(ctx, o, dF_dx->data() + p0 * u * n);
      }
    });
  }

 private:
  Index n_, u_;
};

}  // namespace ctd
