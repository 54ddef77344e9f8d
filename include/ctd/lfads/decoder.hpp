#pragma once
// LFADS's decoder (SPEC §7 steps 3-4): the controller and the generator,
// two GRU step cells coupled at every step, so this loop owns time itself:
//   c_t = GRU_con(c_{t-1}, [xenc_t; f_{t-1}]),  [ii_mean_t; ii_logvar_t] = W_co c_t + b_co,
//   ii_t = sample(ii_mean_t, ii_logvar_t),  g_t = dropout(GRU_gen(g_{t-1}, ii_t)),
//   f_t = normed(W_f) g_t,
// from c_0 = the controller's trained h0, g_0 (the IC sample), f_{-1} = 0.
// With measured inputs e_t the generator reads [ii_t; e_t]. The xenc part
// of the controller's input projection and the e part of the generator's
// come before the coupled steps, over all T steps (one GEMM each) or step
// by step as the backend says (cpu.hpp's projects_per_step); the f and ii
// parts are added at each step. Trials are sharded
// over the backend's threads for the whole loop, and every weight gradient
// is one GEMM over all steps after the backward sweep.
#include "ctd/cells/gru.hpp"
#include "ctd/core/shards.hpp"
#include "ctd/lfads/noise.hpp"
#include "ctd/lfads/parameters.hpp"

namespace ctd {

template <class B, class S>
struct LfadsDecoderTape {
  Index steps = 0, batch = 0;
  Matrix<B, S> con_states;   // (con x (T+1)*B): block t is c_{t-1} (block 0: h0)
  Matrix<B, S> con_caches;   // (4 con x T*B)
  Matrix<B, S> co;           // (2 ii x T*B): [ii_mean_t; ii_logvar_t]
  Matrix<B, S> ii;           // (ii x T*B): the sampled inferred inputs (the generator's inputs beside e_t)
  Matrix<B, S> gen_states;   // (gen x (T+1)*B): block t is g_{t-1} after dropout (block 0: g_0)
  Matrix<B, S> gen_before_dropout;  // (gen x T*B)
  Matrix<B, S> gen_caches;   // (4 gen x T*B)
  Matrix<B, S> factors;      // (factors x (T+1)*B): block t is f_{t-1} (block 0: zeros)
  Matrix<B, S> w_hat, norms; // the normed factor weights and the rows' norms
  // backward's buffers
  Matrix<B, S> d_con, d_gen;                 // cotangents of the states, laid out as the states
  Matrix<B, S> con_d_proj, gen_d_proj;       // (3 con x T*B), (3 gen x T*B)
  Matrix<B, S> d_factors_in;                 // (factors x T*B): of f_{t-1} through the controller
  Matrix<B, S> d_ii;                         // (ii x T*B)
  Matrix<B, S> con_scratch, gen_scratch;     // (con x B), (gen x B)
  Matrix<B, S> d_w_hat;                      // (factors x gen)

  // The factors f_0 .. f_{T-1} (factors x T*B) and generator states.
  ConstView<S> factor_outputs() const { return factors.col_block(batch, steps * batch); }
  ConstView<S> gen_outputs() const { return gen_states.col_block(batch, steps * batch); }
  ConstView<S> con_outputs() const { return con_states.col_block(batch, steps * batch); }
};

template <class B, class S>
class LfadsDecoder {
 public:
  using Cell = GruCell<B, S>;
  using Tape = LfadsDecoderTape<B, S>;

  explicit LfadsDecoder(const LfadsConfig& c)
      : xenc_rows_(c.controller_encoding_dim()), ii_(c.ii_dim), var_min_(S(c.var_min)),
        con_(c.con_dim, c.controller_encoding_dim() + c.factors_dim), gen_(c.gen_dim, c.ii_dim + c.ext_input_dim) {}

  // The controller's and the generator's cells, for a caller that projects
  // their hoisted inputs itself (the streaming decoder).
  const Cell& controller() const { return con_; }
  const Cell& generator() const { return gen_; }

  // xenc (controller encoding x T*B), the measured inputs ext (ext x T*B;
  // no rows: none) and g0 (gen x B) -> the tape's factors, co, states.
  void forward(typename B::context& ctx, const LfadsTensors<B, S>& w, ConstView<S> xenc, ConstView<S> ext,
               ConstView<S> g0, Index T, Index batch, const LfadsNoise<B, S>& noise, Tape& tape) const {
    const Index nc = con_.state_size(), ng = gen_.state_size(), nf = w.factors_w.rows, ii = ii_;
    tape.steps = T;
    tape.batch = batch;
    tape.con_states.resize(nc, (T + 1) * batch);
    tape.con_caches.resize(4 * nc, T * batch);
    tape.co.resize(2 * ii, T * batch);
    tape.ii.resize(ii, T * batch);
    tape.gen_states.resize(ng, (T + 1) * batch);
    tape.gen_before_dropout.resize(ng, T * batch);
    tape.gen_caches.resize(4 * ng, T * batch);
    tape.factors.resize(nf, (T + 1) * batch);
    tape.w_hat.resize(nf, ng);
    tape.norms.resize(nf, 1);
    B::normalize_rows(ctx, w.factors_w, tape.norms.view(), tape.w_hat.view());
    con_.initial_state(ctx, w.con, tape.con_states.col_block(0, batch));
    B::copy(ctx, g0, tape.gen_states.col_block(0, batch));
    B::fill(ctx, tape.factors.col_block(0, batch), S(0));
    const bool measured = ext.rows > 0;
    // The xenc and e parts of the projections, for columns c0 .. c0 + ck.
    const auto project = [&](Index c0, Index ck) {
      con_.project_inputs(ctx, w.con, xenc.col_block(c0, ck), tape.con_caches.col_block(c0, ck).row_block(0, 3 * nc));
      if (measured)
        gen_.project_inputs(ctx, w.gen, ext.col_block(c0, ck), tape.gen_caches.col_block(c0, ck).row_block(0, 3 * ng),
                            ii);
    };
    if constexpr (!B::projects_per_step) project(0, T * batch);
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      const typename B::fixed_left_operands weights_fixed;
      for (Index t = 0; t < T; ++t) {
        const auto now = [&](Matrix<B, S>& m) { return m.col_block(t * batch + b0, bk); };
        const auto next = [&](Matrix<B, S>& m) { return m.col_block((t + 1) * batch + b0, bk); };
        if constexpr (B::projects_per_step) project(t * batch + b0, bk);
        step(ctx, w, tape.w_hat.view(), measured,
             {now(tape.con_states), now(tape.gen_states), now(tape.factors), noise.ii_eps.col_block(t * batch + b0, bk),
              noise.gen_mask.col_block(t * batch + b0, bk), now(tape.con_caches), next(tape.con_states), now(tape.co),
              now(tape.ii), now(tape.gen_caches), now(tape.gen_before_dropout), next(tape.gen_states),
              next(tape.factors)});
      }
    });
  }

  // One bin for the trials of some columns, from c_{t-1}, g_{t-1}, f_{t-1}
  // to c_t, co_t = [ii_mean_t; ii_logvar_t], ii_t, g_t and f_t. The caches
  // come with the xenc part of the controller's input projection in place,
  // and with measured inputs the e part of the generator's. ii_t is the
  // posterior's sample at the draws `eps`, or where eps is empty its mean
  // (the streaming decoder's posterior-mean pass; `ii` is then unused). g_t
  // is the GRU's output `gen_raw` times the dropout `mask`; without a mask,
  // gen_raw is g_t. w_hat is the normed factor weights.
  struct Bin {
    ConstView<S> con_prev, gen_prev, factors_prev, eps, mask;
    MatrixView<S> con_cache, con, co, ii, gen_cache, gen_raw, gen, factors;
  };
  void step(typename B::context& ctx, const LfadsTensors<B, S>& w, ConstView<S> w_hat, bool measured,
            const Bin& b) const {
    const Index nc = con_.state_size(), ng = gen_.state_size(), ii = ii_;
    con_.project_inputs(ctx, w.con, b.factors_prev, b.con_cache.row_block(0, 3 * nc), xenc_rows_, Grad::accumulate);
    con_.step(ctx, w.con, b.con_prev, b.con_cache, b.con);
    parallel_affine<B, S>(ctx, w.con_out_w, b.con, w.con_out_b, b.co);
    ConstView<S> ii_t = b.co.row_block(0, ii);
    if (!b.eps.empty()) {
      B::gaussian_sample(ctx, b.co.row_block(0, ii), b.co.row_block(ii, ii), b.eps, var_min_, b.ii);
      ii_t = b.ii;
    }
    gen_.project_inputs(ctx, w.gen, ii_t, b.gen_cache.row_block(0, 3 * ng), 0,
                        measured ? Grad::accumulate : Grad::overwrite);
    gen_.step(ctx, w.gen, b.gen_prev, b.gen_cache, b.gen_raw);
    if (!b.mask.empty()) B::multiply(ctx, b.gen_raw, b.mask, b.gen);
    B::gemm(ctx, Trans::no, Trans::no, S(1), w_hat, b.gen, S(0), b.factors);
  }

  // From the cotangents of the factors f_0..f_{T-1} (factors x T*B,
  // overwritten) and of co (2 ii x T*B, the KL's part, accumulated into):
  // the controller's, generator's, con_out's and factors' gradients
  // (overwrite), the cotangent of xenc (overwrite) and of g0 (d_g0, overwrite).
  void backward(typename B::context& ctx, const LfadsTensors<B, S>& w, const LfadsTensors<B, S>& g,
                ConstView<S> xenc, ConstView<S> ext, MatrixView<S> d_factors, MatrixView<S> d_co, const LfadsNoise<B, S>& noise,
                MatrixView<S> d_xenc, MatrixView<S> d_g0, Tape& tape) const {
    const Index nc = con_.state_size(), ng = gen_.state_size(), nf = w.factors_w.rows, ii = ii_;
    const Index T = tape.steps, batch = tape.batch;
    tape.d_con.resize(nc, (T + 1) * batch);
    tape.d_gen.resize(ng, (T + 1) * batch);
    tape.con_d_proj.resize(3 * nc, T * batch);
    tape.gen_d_proj.resize(3 * ng, T * batch);
    tape.d_factors_in.resize(nf, T * batch);
    tape.d_ii.resize(ii, T * batch);
    tape.con_scratch.resize(nc, batch);
    tape.gen_scratch.resize(ng, batch);
    tape.d_w_hat.resize(nf, ng);
    B::fill(ctx, tape.d_con.view(), S(0));
    B::fill(ctx, tape.d_gen.view(), S(0));
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      const typename B::fixed_left_operands weights_fixed;
      for (Index t = T - 1; t >= 0; --t) {
        const auto now = [&](auto& m) { return m.col_block(t * batch + b0, bk); };
        const auto next = [&](Matrix<B, S>& m) { return m.col_block((t + 1) * batch + b0, bk); };
        // f_t's cotangent: the readout's, plus the controller's at t + 1.
        const auto d_f = now(d_factors);
        if (t + 1 < T) B::axpy(ctx, S(1), next(tape.d_factors_in), d_f);
        const auto d_g = next(tape.d_gen);
        B::gemm(ctx, Trans::yes, Trans::no, S(1), tape.w_hat.view(), d_f, S(1), d_g);
        B::multiply(ctx, d_g, noise.gen_mask.col_block(t * batch + b0, bk), d_g);
        gen_.step_backward(ctx, w.gen, now(tape.gen_states), now(tape.gen_caches), now(tape.gen_before_dropout), d_g,
                           now(tape.gen_d_proj), tape.gen_scratch.col_block(b0, bk), now(tape.d_gen));
        gen_.input_cotangent(ctx, w.gen, now(tape.gen_d_proj), now(tape.d_ii), 0, Grad::overwrite);
        const auto co = now(tape.co), d_co_t = now(d_co);
        B::gaussian_sample_backward(ctx, now(tape.d_ii), co.row_block(ii, ii),
                                    noise.ii_eps.col_block(t * batch + b0, bk), var_min_, d_co_t.row_block(0, ii),
                                    d_co_t.row_block(ii, ii));
        const auto d_c = next(tape.d_con);
        B::gemm(ctx, Trans::yes, Trans::no, S(1), w.con_out_w, d_co_t, S(1), d_c);
        con_.step_backward(ctx, w.con, now(tape.con_states), now(tape.con_caches), next(tape.con_states), d_c,
                           now(tape.con_d_proj), tape.con_scratch.col_block(b0, bk), now(tape.d_con));
        con_.input_cotangent(ctx, w.con, now(tape.con_d_proj), now(tape.d_factors_in), xenc_rows_,
                             Grad::overwrite);
      }
    });
    const Index tb = T * batch;
    // Factors: W_f's gradient through the row normalisation.
    parallel_weight_gradient<B, S>(ctx, ConstView<S>(d_factors), tape.gen_outputs(), S(0), tape.d_w_hat.view());
    B::normalize_rows_backward(ctx, tape.d_w_hat.view(), tape.w_hat.view(), tape.norms.view(), g.factors_w);
    parallel_weight_gradient<B, S>(ctx, ConstView<S>(d_co), tape.con_outputs(), S(0), g.con_out_w, g.con_out_b);
    // The generator starts from the sampled g_0: its trained h0 has no part.
    gen_.weight_gradients(ctx, g.gen, tape.gen_states.col_block(0, tb), tape.gen_caches.view(),
                          tape.gen_d_proj.view(), Grad::overwrite);
    gen_.input_weight_gradients(ctx, g.gen, tape.ii.view(), tape.gen_d_proj.view(), 0, Grad::overwrite);
    if (ext.rows > 0) gen_.input_weight_gradients(ctx, g.gen, ext, tape.gen_d_proj.view(), ii, Grad::overwrite);
    B::fill(ctx, g.gen.h0, S(0));
    B::copy(ctx, tape.d_gen.col_block(0, batch), d_g0);
    con_.weight_gradients(ctx, g.con, tape.con_states.col_block(0, tb), tape.con_caches.view(),
                          tape.con_d_proj.view(), Grad::overwrite);
    con_.input_weight_gradients(ctx, g.con, xenc, tape.con_d_proj.view(), 0, Grad::overwrite);
    con_.input_weight_gradients(ctx, g.con, tape.factors.col_block(0, tb), tape.con_d_proj.view(), xenc_rows_,
                                Grad::overwrite);
    con_.initial_state_gradient(ctx, g.con, tape.d_con.col_block(0, batch), Grad::overwrite);
    con_.input_cotangent(ctx, w.con, tape.con_d_proj.view().row_block(0, 3 * nc), d_xenc, 0, Grad::overwrite);
  }

 private:
  Index xenc_rows_, ii_;
  S var_min_;
  Cell con_, gen_;
};

}  // namespace ctd
