#pragma once
// The tutorials' GRU (SPEC §2b) — not cuDNN's: the reset gate multiplies h
// before the candidate's matmul, and the update gate has a bias bfg = 0.5.
//   ru = wRUHX [h; x] + bRU,  r = sigma(ru[0:n]),  u = sigma(ru[n:2n] + bfg)
//   c  = tanh(wCHX [r*h; x] + bC),  h' = u*h + (1-u)*c
// Weights are stored as the tutorials store them, (rows x (n+u)) with the
// hidden columns first, so the hidden and input parts are column blocks.
// A step's cache (4n rows): the gates r, u (2n), the candidate c (n) and
// r*h (n); its first 3n rows take the input projection.
#include <array>
#include <cmath>
#include <string_view>
#include <vector>

#include "ctd/cells/step_cell.hpp"
#include "ctd/core/shards.hpp"

namespace ctd {

// The names of the cell's tensors, in the order of its Tensors.
inline constexpr std::array<std::string_view, 5> gru_tensor_names{"h0", "wRUHX", "wCHX", "bRU", "bC"};

template <class B, class S>
class GruCell {
 public:
  using backend = B;
  using scalar = S;
  static constexpr std::string_view name = "gru";
  static constexpr const auto& tensor_names = gru_tensor_names;
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
    return {vector_param(tensor_names[0], n), matrix_param(tensor_names[1], 2 * n, n + u),
            matrix_param(tensor_names[2], n, n + u), vector_param(tensor_names[3], 2 * n),
            vector_param(tensor_names[4], n)};
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
  Index hidden_size() const { return n_; }
  Index projection_rows() const { return 3 * n_; }
  Index cache_rows() const { return 4 * n_; }
  Index scratch_rows() const { return n_; }

  void project_inputs(typename B::context& ctx, const Tensors& w, ConstView<S> inputs, MatrixView<S> proj,
                      Index first_input = 0, Grad mode = Grad::overwrite) const {
    parallel_affine<B, S>(ctx, in(w.wRUHX, first_input, inputs.rows), inputs, w.bRU, proj.row_block(0, 2 * n_), mode);
    parallel_affine<B, S>(ctx, in(w.wCHX, first_input, inputs.rows), inputs, w.bC, proj.row_block(2 * n_, n_), mode);
  }
  void step(typename B::context& ctx, const Tensors& w, ConstView<S> h, MatrixView<S> cache,
            MatrixView<S> h_next) const {
    const Index n = n_;
    const auto ru = cache.row_block(0, 2 * n), c = cache.row_block(2 * n, n), rh = cache.row_block(3 * n, n);
    B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_columns(w.wRUHX, n), h, S(1), ru);
    B::gru_gates(ctx, ru, h, rh, S(forget_bias));
    B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_columns(w.wCHX, n), rh, S(1), c);
    B::gru_state(ctx, c, ru.row_block(n, n), h, h_next);
  }
  void step_backward(typename B::context& ctx, const Tensors& w, ConstView<S> h, ConstView<S> cache, ConstView<S>,
                     ConstView<S> dh_next, MatrixView<S> d_proj, MatrixView<S> scratch, MatrixView<S> dh) const {
    const Index n = n_;
    const auto gates = cache.row_block(0, 2 * n);
    const auto dru = d_proj.row_block(0, 2 * n), dc = d_proj.row_block(2 * n, n);
    B::gru_candidate_backward(ctx, dh_next, h, gates.row_block(n, n), cache.row_block(2 * n, n), dc,
                              dru.row_block(n, n), dh);
    B::gemm(ctx, Trans::yes, Trans::no, S(1), hidden_columns(w.wCHX, n), dc, S(0), scratch);
    B::gru_reset_backward(ctx, scratch, h, gates.row_block(0, n), dru.row_block(0, n), dh);
    B::gemm(ctx, Trans::yes, Trans::no, S(1), hidden_columns(w.wRUHX, n), dru, S(1), dh);
  }
  // Over many steps at once (parallel_weight_gradient).
  void weight_gradients(typename B::context& ctx, const Tensors& g, ConstView<S> h, ConstView<S> caches,
                        ConstView<S> d_proj, Grad mode) const {
    if (mode == Grad::ignore) return;
    const Index n = n_;
    const S beta = beta_of<S>(mode);
    parallel_weight_gradient<B, S>(ctx, d_proj.row_block(0, 2 * n), h, beta, hidden_columns(g.wRUHX, n), g.bRU);
    parallel_weight_gradient<B, S>(ctx, d_proj.row_block(2 * n, n), caches.row_block(3 * n, n), beta,
                                   hidden_columns(g.wCHX, n), g.bC);
  }
  void input_weight_gradients(typename B::context& ctx, const Tensors& g, ConstView<S> inputs, ConstView<S> d_proj,
                              Index first_input, Grad mode) const {
    if (mode == Grad::ignore) return;
    const S beta = beta_of<S>(mode);
    parallel_weight_gradient<B, S>(ctx, d_proj.row_block(0, 2 * n_), inputs, beta,
                                   in(g.wRUHX, first_input, inputs.rows));
    parallel_weight_gradient<B, S>(ctx, d_proj.row_block(2 * n_, n_), inputs, beta,
                                   in(g.wCHX, first_input, inputs.rows));
  }
  void input_cotangent(typename B::context& ctx, const Tensors& w, ConstView<S> d_proj, MatrixView<S> d_inputs,
                       Index first_input, Grad mode) const {
    if (mode == Grad::ignore) return;
    parallel_gemm<B, S>(ctx, Trans::yes, Trans::no, S(1), in(w.wRUHX, first_input, d_inputs.rows), d_proj.row_block(0, 2 * n_),
            beta_of<S>(mode), d_inputs);
    parallel_gemm<B, S>(ctx, Trans::yes, Trans::no, S(1), in(w.wCHX, first_input, d_inputs.rows), d_proj.row_block(2 * n_, n_),
            S(1), d_inputs);
  }
  void initial_state(typename B::context& ctx, const Tensors& w, MatrixView<S> first) const {
    B::broadcast_columns(ctx, w.h0, first);
  }
  void initial_state_gradient(typename B::context& ctx, const Tensors& g, ConstView<S> d_first, Grad mode) const {
    ctd::initial_state_gradient<B, S>(ctx, g.h0, d_first, mode);
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
                 HostMatrix<S>* dF_dh, HostMatrix<S>* dF_dx, Scratch<B, S>& scratch) const {
    check_points(*this, states, inputs, "GruCell::jacobians");
    const Index n = n_, u = u_, P = states.cols;
    const auto caches = scratch.get(0, 4 * n, P), next = scratch.get(1, n, P), coef = scratch.get(2, n, 3 * P),
               ones = scratch.get(3, n, P);
    const auto blocks = scratch.get(4, n, dF_dh ? n * P : 0), out = scratch.get(5, n, dF_dh ? n * P : 0);
    const auto blocks_x = scratch.get(6, n, dF_dx ? u * P : 0), out_x = scratch.get(7, n, dF_dx ? u * P : 0);
    if (dF_dh) dF_dh->resize(n, n * P);
    if (dF_dx) dF_dx->resize(n, u * P);
    const auto W_r = w.wRUHX.row_block(0, n), W_u = w.wRUHX.row_block(n, n);
    for_each_shard<B>(ctx, P, [&](Index p0, Index pk) {
      const auto h = states.col_block(p0, pk);
      const auto cache = caches.col_block(p0, pk), h_next = next.col_block(p0, pk), one = ones.col_block(p0, pk);
      const auto r = cache.row_block(0, n), z = cache.row_block(n, n), cand = cache.row_block(2 * n, n);
      const auto e = coef.col_block(p0, pk), a = coef.col_block(P + p0, pk), b = coef.col_block(2 * P + p0, pk);
      // The step itself, keeping r, u and c.
      project_inputs(ctx, w, inputs.col_block(p0, pk), cache.row_block(0, 3 * n));
      step(ctx, w, h, cache, h_next);
      // The backward passes with a cotangent of ones give the coefficients
      // (their state cotangent outputs land in h_next, which is not used).
      B::fill(ctx, one, S(1));
      B::gru_candidate_backward(ctx, one, h, z, cand, b, a, h_next);
      B::gru_reset_backward(ctx, one, h, r, e, h_next);
      if (dF_dh) {
        const auto blk = blocks.col_block(p0 * n, pk * n), o = out.col_block(p0 * n, pk * n);
        B::scale_rows_blocks(ctx, e, hidden_columns(W_r, n), S(0), blk);
        B::add_diagonal_blocks(ctx, r, blk);
        B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_columns(w.wCHX, n), blk, S(0), o);
        B::scale_rows_blocks(ctx, b, o, S(0), o);
        B::scale_rows_blocks(ctx, a, hidden_columns(W_u, n), S(1), o);
        B::add_diagonal_blocks(ctx, z, o);
        B::copy_to_host(ctx, o, dF_dh->data() + p0 * n * n);
      }
      if (dF_dx) {
        const auto blk = blocks_x.col_block(p0 * u, pk * u), o = out_x.col_block(p0 * u, pk * u);
        B::scale_rows_blocks(ctx, e, in(W_r, 0, u), S(0), blk);
        B::gemm(ctx, Trans::no, Trans::no, S(1), hidden_columns(w.wCHX, n), blk, S(0), o);
        B::scale_rows_blocks(ctx, one, in(w.wCHX, 0, u), S(1), o);
        B::scale_rows_blocks(ctx, b, o, S(0), o);
        B::scale_rows_blocks(ctx, a, in(W_u, 0, u), S(1), o);
        B::copy_to_host(ctx, o, dF_dx->data() + p0 * u * n);
      }
    });
  }

 private:
  MatrixView<S> in(MatrixView<S> m, Index first, Index count) const { return input_columns(m, n_, first, count); }

  Index n_, u_;
};

}  // namespace ctd
