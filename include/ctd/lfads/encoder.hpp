#pragma once
// LFADS's encoder (SPEC §7 steps 1-2): dropout on the data, a bidirectional
// GRU with its own trainable initial states, dropout on its outputs, and
// the affine map from the two ends to the initial condition's posterior
// [ic_mean; ic_logvar]. Two sequence drivers over the one GRU step cell.
//
// The controller's input xenc covers all T bins of the decoder: the
// encoding over the Te encoder bins, zeros for the bins it predicts
// forward (as lfads-torch pads it). A causal model's controller reads only
// the forward direction, and its backward direction runs over the IC
// window alone, so nothing depends on a bin that comes later.
#include "ctd/cells/gru.hpp"
#include "ctd/cells/sequence.hpp"
#include "ctd/lfads/batch.hpp"
#include "ctd/lfads/noise.hpp"
#include "ctd/lfads/parameters.hpp"

namespace ctd {

template <class B, class S>
struct LfadsEncoderTape {
  Matrix<B, S> data;               // (data x Te*B) after dropout
  SequenceTape<B, S> fwd, bwd;     // over Te bins, over the W bins of the IC window
  Matrix<B, S> xenc;               // (2 enc or enc x T*B): [fwd_t; bwd_t] or fwd_t after dropout, then zeros
  Matrix<B, S> ends;               // (2 enc x B): [bwd_0; fwd_{W-1}] after dropout
  Matrix<B, S> ic;                 // (2 gen x B): [ic_mean; ic_logvar]
  Matrix<B, S> d_ends;             // backward: the cotangent of ends
  Matrix<B, S> d_bwd;              // backward, causal: the cotangent of the backward outputs
};

template <class B, class S>
class LfadsEncoder {
 public:
  using Cell = GruCell<B, S>;
  using Tape = LfadsEncoderTape<B, S>;

  explicit LfadsEncoder(const LfadsConfig& c)
      : c_(c), fwd_(Cell(c.enc_dim, c.data_dim), Direction::forward),
        bwd_(Cell(c.enc_dim, c.data_dim), Direction::backward) {}

  // The encoder's data -> tape.xenc and tape.ic.
  void forward(typename B::context& ctx, const LfadsTensors<B, S>& w, const LfadsInputs<S>& in,
               const LfadsNoise<B, S>& noise, Tape& tape) const {
    const Index e = c_.enc_dim, Te = in.encod_steps, W = c_.ic_steps(Te), batch = in.batch, te_b = Te * batch;
    tape.data.resize(in.encod.rows, te_b);
    tape.xenc.resize(c_.controller_encoding_dim(), in.steps * batch);
    tape.ends.resize(2 * e, batch);
    tape.ic.resize(w.gen_ic_w.rows, batch);
    B::multiply(ctx, in.encod, noise.data_mask.view(), tape.data.view());
    const auto data = tape.data.view();
    ConstView<S> fwd, bwd;
    concurrently<B>(
        ctx, [&] { fwd = fwd_.forward(ctx, w.enc_fwd, data, {}, Te, batch, tape.fwd); },
        [&] { bwd = bwd_.forward(ctx, w.enc_bwd, data.col_block(0, W * batch), {}, W, batch, tape.bwd); });
    const auto mask = noise.enc_mask.view(), ends_mask = noise.ends_mask.view();
    const auto xenc = tape.xenc.view();
    B::multiply(ctx, fwd, mask.row_block(0, e), xenc.row_block(0, e).col_block(0, te_b));
    if (!c_.causal) B::multiply(ctx, bwd, mask.row_block(e, e), xenc.row_block(e, e).col_block(0, te_b));
    if (in.steps > Te) B::fill(ctx, xenc.col_block(te_b, (in.steps - Te) * batch), S(0));
    B::multiply(ctx, bwd.col_block(0, batch), ends_mask.row_block(0, e), tape.ends.view().row_block(0, e));
    B::multiply(ctx, fwd.col_block((W - 1) * batch, batch), ends_mask.row_block(e, e),
                tape.ends.view().row_block(e, e));
    parallel_affine<B, S>(ctx, w.gen_ic_w, tape.ends.view(), w.gen_ic_b, tape.ic.view());
  }

  // From the cotangents of xenc (overwritten) and of the IC posterior's
  // parameters (2 gen x B): the encoder's gradients (overwrite).
  void backward(typename B::context& ctx, const LfadsTensors<B, S>& w, const LfadsTensors<B, S>& g,
                MatrixView<S> d_xenc, ConstView<S> d_ic, const LfadsNoise<B, S>& noise, Tape& tape) const {
    const Index e = c_.enc_dim, Te = tape.fwd.steps, W = tape.bwd.steps, batch = tape.fwd.batch, te_b = Te * batch;
    tape.d_ends.resize(2 * e, batch);
    const auto d_ends = tape.d_ends.view();
    B::gemm(ctx, Trans::no, Trans::yes, S(1), d_ic, tape.ends.view(), S(0), g.gen_ic_w);
    B::fill(ctx, g.gen_ic_b, S(0));
    B::add_row_sums(ctx, d_ic, g.gen_ic_b);
    B::gemm(ctx, Trans::yes, Trans::no, S(1), w.gen_ic_w, d_ic, S(0), d_ends);
    B::multiply(ctx, d_ends, noise.ends_mask.view(), d_ends);
    const auto d_enc = d_xenc.col_block(0, te_b);
    B::multiply(ctx, d_enc, noise.enc_mask.view(), d_enc);
    const auto d_fwd = d_enc.row_block(0, e);
    MatrixView<S> d_bwd;
    if (c_.causal) {
      tape.d_bwd.resize(e, W * batch);
      d_bwd = tape.d_bwd.view();
      B::fill(ctx, d_bwd, S(0));
    } else {
      d_bwd = d_enc.row_block(e, e);
    }
    B::axpy(ctx, S(1), d_ends.row_block(0, e), d_bwd.col_block(0, batch));
    B::axpy(ctx, S(1), d_ends.row_block(e, e), d_fwd.col_block((W - 1) * batch, batch));
    const auto data = tape.data.view();
    concurrently<B>(
        ctx, [&] { fwd_.backward(ctx, w.enc_fwd, data, tape.fwd, d_fwd, {g.enc_fwd, Grad::overwrite}); },
        [&] { bwd_.backward(ctx, w.enc_bwd, data.col_block(0, W * batch), tape.bwd, d_bwd, {g.enc_bwd, Grad::overwrite}); });
  }

 private:
  LfadsConfig c_;
  Sequence<Cell> fwd_, bwd_;
};

}  // namespace ctd
