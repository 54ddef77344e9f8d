#pragma once
// LFADS's encoder (SPEC §7 steps 1-2): dropout on the data, a bidirectional
// GRU with its own trainable initial states, dropout on its outputs, and
// the affine map from the two ends to the initial condition's posterior
// [ic_mean; ic_logvar]. Two sequence drivers over the one GRU step cell.
#include "ctd/cells/gru.hpp"
#include "ctd/cells/sequence.hpp"
#include "ctd/lfads/noise.hpp"
#include "ctd/lfads/parameters.hpp"

namespace ctd {

template <class B, class S>
struct LfadsEncoderTape {
  Matrix<B, S> data;               // (data x T*B) after dropout
  SequenceTape<B, S> fwd, bwd;
  Matrix<B, S> xenc;               // (2 enc x T*B): [fwd_t; bwd_t] after dropout
  Matrix<B, S> ends;               // (2 enc x B): [bwd_0; fwd_{T-1}] after dropout
  Matrix<B, S> ic;                 // (2 gen x B): [ic_mean; ic_logvar]
  Matrix<B, S> d_ends;             // backward: the cotangent of ends
};

template <class B, class S>
class LfadsEncoder {
 public:
  using Cell = GruCell<B, S>;
  using Tape = LfadsEncoderTape<B, S>;

  explicit LfadsEncoder(const LfadsConfig& c)
      : enc_(c.enc_dim), fwd_(Cell(c.enc_dim, c.data_dim), Direction::forward),
        bwd_(Cell(c.enc_dim, c.data_dim), Direction::backward) {}

  // counts (data x T*B) -> tape.xenc and tape.ic.
  void forward(typename B::context& ctx, const LfadsTensors<B, S>& w, ConstView<S> counts, Index T, Index batch,
               const LfadsNoise<B, S>& noise, Tape& tape) const {
    const Index e = enc_;
    tape.data.resize(counts.rows, T * batch);
    tape.xenc.resize(2 * e, T * batch);
    tape.ends.resize(2 * e, batch);
    tape.ic.resize(w.gen_ic_w.rows, batch);
    B::multiply(ctx, counts, noise.data_mask.view(), tape.data.view());
    const auto fwd = fwd_.forward(ctx, w.enc_fwd, tape.data.view(), {}, T, batch, tape.fwd);
    const auto bwd = bwd_.forward(ctx, w.enc_bwd, tape.data.view(), {}, T, batch, tape.bwd);
    const auto mask = noise.enc_mask.view(), ends_mask = noise.ends_mask.view();
    B::multiply(ctx, fwd, mask.row_block(0, e), tape.xenc.view().row_block(0, e));
    B::multiply(ctx, bwd, mask.row_block(e, e), tape.xenc.view().row_block(e, e));
    B::multiply(ctx, bwd.col_block(0, batch), ends_mask.row_block(0, e), tape.ends.view().row_block(0, e));
    B::multiply(ctx, fwd.col_block((T - 1) * batch, batch), ends_mask.row_block(e, e),
                tape.ends.view().row_block(e, e));
    B::gemm(ctx, Trans::no, Trans::no, S(1), w.gen_ic_w, tape.ends.view(), S(0), tape.ic.view());
    B::add_columnwise(ctx, w.gen_ic_b, tape.ic.view());
  }

  // From the cotangents of xenc (2 enc x T*B, overwritten) and of the IC
  // posterior's parameters (2 gen x B): the encoder's gradients (overwrite).
  void backward(typename B::context& ctx, const LfadsTensors<B, S>& w, const LfadsTensors<B, S>& g,
                MatrixView<S> d_xenc, ConstView<S> d_ic, const LfadsNoise<B, S>& noise, Tape& tape) const {
    const Index e = enc_, T = tape.fwd.steps, batch = tape.fwd.batch;
    tape.d_ends.resize(2 * e, batch);
    const auto d_ends = tape.d_ends.view();
    B::gemm(ctx, Trans::no, Trans::yes, S(1), d_ic, tape.ends.view(), S(0), g.gen_ic_w);
    B::fill(ctx, g.gen_ic_b, S(0));
    B::add_row_sums(ctx, d_ic, g.gen_ic_b);
    B::gemm(ctx, Trans::yes, Trans::no, S(1), w.gen_ic_w, d_ic, S(0), d_ends);
    B::multiply(ctx, d_ends, noise.ends_mask.view(), d_ends);
    B::multiply(ctx, d_xenc, noise.enc_mask.view(), d_xenc);
    const auto d_fwd = d_xenc.row_block(0, e), d_bwd = d_xenc.row_block(e, e);
    B::axpy(ctx, S(1), d_ends.row_block(0, e), d_bwd.col_block(0, batch));
    B::axpy(ctx, S(1), d_ends.row_block(e, e), d_fwd.col_block((T - 1) * batch, batch));
    fwd_.backward(ctx, w.enc_fwd, tape.data.view(), tape.fwd, d_fwd, {g.enc_fwd, Grad::overwrite});
    bwd_.backward(ctx, w.enc_bwd, tape.data.view(), tape.bwd, d_bwd, {g.enc_bwd, Grad::overwrite});
  }

 private:
  Index enc_;
  Sequence<Cell> fwd_, bwd_;
};

}  // namespace ctd
