#pragma once
// A causal LFADS model run online: one bin of spike counts at a time for N
// concurrent trials, the current rates, factors and inferred inputs out.
// It computes what Lfads::forward computes with masks of ones (no dropout)
// and posterior means in place of samples (the generator starts from
// ic_mean, and reads the inferred inputs' means), bin by bin:
//   - every bin: the forward encoder's step on the bin's counts;
//   - bins 0 .. W-2 fill the IC window (W = ic_window): nothing is decoded,
//     since the initial condition needs the backward encoder's state at bin 0;
//   - bin W-1: the backward encoder over the window, the initial condition
//     from [bwd_0; fwd_{W-1}], and bins 0 .. W-1 decoded in one catch-up;
//   - every later bin: one controller and one generator step.
// A bin without counts (after the window) is one the model predicts, as
// the batch model predicts the bins past its encoder's: the controller
// reads zeros there, and every later bin must come without counts too.
//
// Memory is bounded: the window's counts and measured inputs (W bins), a
// ring of max(W, 2) bins of states and outputs, one bin of caches; all of
// it allocated by the constructor, so push() never allocates. The cells are
// stepped with B = N columns, the trials sharded over the backend's threads
// as in the decoder. On the CPU backend, a one-trial stream wants a
// one-thread context: with one trial there is nothing to shard, and the
// cells' projections would otherwise split their rows over the threads.
//
// The stream reads the model's parameters (which must outlive it) where
// they are; reset() takes up changes to them.
#include <algorithm>
#include <array>
#include <cstddef>
#include <string>

#include "ctd/lfads/model.hpp"

namespace ctd {

template <class B, class S>
class LfadsStream {
 public:
  using Cell = GruCell<B, S>;

  LfadsStream(typename B::context& ctx, const Lfads<B, S>& model, Index trials = 1)
      : c_(model.config()), n_(trials), window_(c_.ic_window), ring_(std::max<Index>(c_.ic_window, 2)),
        w_(bind_lfads_values(model.parameters())), enc_fwd_(c_.enc_dim, c_.data_dim),
        enc_bwd_(c_.enc_dim, c_.data_dim), decoder_(c_) {
    require(c_.causal,
            "LfadsStream: the model is not causal (LfadsConfig::causal): its controller reads the backward "
            "encoder, which needs the whole trial before the first bin");
    require(c_.ic_window > 0,
            "LfadsStream: the model has no IC window (LfadsConfig::ic_window = 0): its initial condition needs "
            "every encoder bin of the trial");
    require(trials > 0, "LfadsStream: the number of trials must be positive, got " + std::to_string(trials));
    const Index e = c_.enc_dim, nc = c_.con_dim, ng = c_.gen_dim, W = window_, R = ring_;
    data_window_.resize(c_.data_dim, W * n_);
    ext_window_.resize(c_.ext_input_dim, W * n_);
    fwd_.resize(e, R * n_);
    fwd_cache_.resize(enc_fwd_.cache_rows(), n_);
    bwd_.resize(e, 2 * n_);
    bwd_cache_.resize(enc_bwd_.cache_rows(), n_);
    ends_.resize(2 * e, n_);
    ic_.resize(2 * ng, n_);
    con_states_.resize(nc, R * n_);
    con_cache_.resize(decoder_.controller().cache_rows(), n_);
    co_.resize(2 * c_.ii_dim, R * n_);
    gen_states_.resize(ng, R * n_);
    gen_cache_.resize(decoder_.generator().cache_rows(), n_);
    factors_.resize(c_.factors_dim, R * n_);
    lograte_.resize(c_.readout_dim(), R * n_);
    rates_.resize(c_.readout_dim(), R * n_);
    w_hat_.resize(c_.factors_dim, ng);
    norms_.resize(c_.factors_dim, 1);
    zeros_.resize(e, n_);  // the controller's input in bins without counts
    reset(ctx);
  }

  // Starts N new trials (and takes up the parameters' current values).
  void reset(typename B::context& ctx) {
    bins_ = ready_ = first_ready_ = 0;
    predicting_ = false;
    B::normalize_rows(ctx, w_.factors_w, norms_.view(), w_hat_.view());
    enc_fwd_.initial_state(ctx, w_.enc_fwd, ring_block(fwd_, -1));
    B::fill(ctx, zeros_.view(), S(0));
  }

  // One bin: counts (data_dim x N), or no counts (an empty view) for a bin
  // the model predicts; the measured inputs ext (ext_input_dim x N; none
  // without measured inputs). Returns how many bins of output became ready:
  // 0 while the IC window fills, W at its last bin (bins 0 .. W-1), then 1.
  Index push(typename B::context& ctx, ConstView<S> counts, ConstView<S> ext = {}) {
    check_bin(counts, ext);
    const Index t = bins_, W = window_;
    const bool observed = !counts.empty();
    for_each_shard<B>(ctx, n_, [&](Index b0, Index bk) {
      const auto shard = [&](Matrix<B, S>& m, Index block) { return m.col_block(block * n_ + b0, bk); };
      const auto ring = [&](Matrix<B, S>& m, Index bin) { return ring_block(m, bin, b0, bk); };
      if (observed) {
        const auto x = counts.col_block(b0, bk);
        const auto proj = fwd_cache_.col_block(b0, bk);
        enc_fwd_.project_inputs(ctx, w_.enc_fwd, x, proj.row_block(0, enc_fwd_.projection_rows()));
        enc_fwd_.step(ctx, w_.enc_fwd, ring(fwd_, t - 1), proj, ring(fwd_, t));
        if (t < W) B::copy(ctx, x, shard(data_window_, t));
      }
      if (t < W && c_.ext_input_dim > 0) B::copy(ctx, ext.col_block(b0, bk), shard(ext_window_, t));
      if (t == W - 1) catch_up(ctx, b0, bk);
      if (t >= W)
        decode(ctx, t, observed ? ConstView<S>(ring(fwd_, t)) : ConstView<S>(zeros_.col_block(b0, bk)),
               c_.ext_input_dim > 0 ? ext.col_block(b0, bk) : ConstView<S>{}, b0, bk);
    });
    ++bins_;
    predicting_ = !observed;
    first_ready_ = t < W ? 0 : t;
    ready_ = t < W - 1 ? 0 : t == W - 1 ? W : 1;
    return ready_;
  }

  Index trials() const { return n_; }
  Index window() const { return window_; }
  Index bins() const { return bins_; }  // pushed since the last reset
  // The bins the last push decoded: ready() of them from first_ready_bin(),
  // time-major blocks of N columns, as the batch model's outputs.
  Index ready() const { return ready_; }
  Index first_ready_bin() const { return first_ready_; }
  ConstView<S> rates() const { return outputs(rates_); }          // (readout x ready*N): exp(log-rates)
  ConstView<S> log_rates() const { return outputs(lograte_); }    // (readout x ready*N)
  ConstView<S> factors() const { return outputs(factors_); }      // (factors x ready*N)
  ConstView<S> inferred_inputs() const { return outputs(co_).row_block(0, c_.ii_dim); }  // (ii x ready*N): means
  ConstView<S> inferred_input_logvars() const { return outputs(co_).row_block(c_.ii_dim, c_.ii_dim); }
  ConstView<S> generator_states() const { return outputs(gen_states_); }   // (gen x ready*N)
  ConstView<S> controller_states() const { return outputs(con_states_); }  // (con x ready*N)
  // [ic_mean; ic_logvar] (2 gen x N), once the window is full.
  ConstView<S> initial_condition() const { return ic_.view(); }

  // The backend memory the stream holds (its parameters aside): fixed at
  // construction.
  std::size_t capacity_bytes() const {
    std::size_t bytes = 0;
    for (const Matrix<B, S>* m : buffers()) bytes += std::size_t(m->size()) * sizeof(S);
    return bytes;
  }

 private:
  // Validation that builds no message (allocates nothing) when it passes.
  void check_bin(ConstView<S> counts, ConstView<S> ext) const {
    const auto dims = [](ConstView<S> v) {
      return "(" + std::to_string(v.rows) + " x " + std::to_string(v.cols) + ")";
    };
    if (!counts.empty() && (counts.rows != c_.data_dim || counts.cols != n_))
      throw Error("LfadsStream::push: expected counts (" + std::to_string(c_.data_dim) + " x " + std::to_string(n_) +
                  "), got " + dims(counts));
    if (c_.ext_input_dim > 0 && (ext.empty() || ext.rows != c_.ext_input_dim || ext.cols != n_))
      throw Error("LfadsStream::push: expected measured inputs (" + std::to_string(c_.ext_input_dim) + " x " +
                  std::to_string(n_) + "), got " + dims(ext));
    if (c_.ext_input_dim == 0 && ext.rows > 0)
      throw Error("LfadsStream::push: the model has no measured inputs, got " + dims(ext));
    if (counts.empty() && bins_ < window_)
      throw Error("LfadsStream::push: bin " + std::to_string(bins_) + " lies in the IC window (" +
                  std::to_string(window_) + " bins), which needs counts");
    if (!counts.empty() && predicting_)
      throw Error("LfadsStream::push: counts after a bin without them (the model predicts every bin after its "
                  "encoder's last); reset() for new trials");
  }

  // At the window's last bin, for trials [b0, b0 + bk): the backward
  // encoder over the window, the initial condition, and the window's bins
  // decoded.
  void catch_up(typename B::context& ctx, Index b0, Index bk) {
    const Index e = c_.enc_dim, W = window_;
    const auto shard = [&](Matrix<B, S>& m, Index block) { return m.col_block(block * n_ + b0, bk); };
    const auto bwd_cache = bwd_cache_.col_block(b0, bk);
    enc_bwd_.initial_state(ctx, w_.enc_bwd, shard(bwd_, W % 2));
    for (Index k = W - 1; k >= 0; --k) {  // the state after bin k in block k % 2
      enc_bwd_.project_inputs(ctx, w_.enc_bwd, shard(data_window_, k),
                              bwd_cache.row_block(0, enc_bwd_.projection_rows()));
      enc_bwd_.step(ctx, w_.enc_bwd, shard(bwd_, (k + 1) % 2), bwd_cache, shard(bwd_, k % 2));
    }
    const auto ends = ends_.col_block(b0, bk), ic = ic_.col_block(b0, bk);
    B::copy(ctx, shard(bwd_, 0), ends.row_block(0, e));
    B::copy(ctx, ring_block(fwd_, W - 1, b0, bk), ends.row_block(e, e));
    parallel_affine<B, S>(ctx, w_.gen_ic_w, ends, w_.gen_ic_b, ic);
    // The decoder's states before bin 0: h0, g_0 = ic_mean, f_{-1} = 0.
    decoder_.controller().initial_state(ctx, w_.con, ring_block(con_states_, -1, b0, bk));
    B::copy(ctx, ic.row_block(0, c_.gen_dim), ring_block(gen_states_, -1, b0, bk));
    B::fill(ctx, ring_block(factors_, -1, b0, bk), S(0));
    for (Index k = 0; k < W; ++k)
      decode(ctx, k, ring_block(fwd_, k, b0, bk),
             c_.ext_input_dim > 0 ? ConstView<S>(shard(ext_window_, k)) : ConstView<S>{}, b0, bk);
  }

  // Bin t of the controller and the generator (the decoder's step with the
  // posterior means), for trials [b0, b0 + bk), from the states of bin t-1.
  void decode(typename B::context& ctx, Index t, ConstView<S> xenc, ConstView<S> ext, Index b0, Index bk) {
    const auto ring = [&](Matrix<B, S>& m, Index bin) { return ring_block(m, bin, b0, bk); };
    const auto con_cache = con_cache_.col_block(b0, bk), gen_cache = gen_cache_.col_block(b0, bk);
    const Cell &con = decoder_.controller(), &gen = decoder_.generator();
    con.project_inputs(ctx, w_.con, xenc, con_cache.row_block(0, con.projection_rows()));
    const bool measured = c_.ext_input_dim > 0;
    if (measured) gen.project_inputs(ctx, w_.gen, ext, gen_cache.row_block(0, gen.projection_rows()), c_.ii_dim);
    const auto gen_state = ring(gen_states_, t), factors = ring(factors_, t), lograte = ring(lograte_, t);
    decoder_.step(ctx, w_, w_hat_.view(), measured,
                  {ring(con_states_, t - 1), ring(gen_states_, t - 1), ring(factors_, t - 1), {}, {}, con_cache,
                   ring(con_states_, t), ring(co_, t), {}, gen_cache, gen_state, gen_state, factors});
    parallel_affine<B, S>(ctx, w_.logrates_w, factors, w_.logrates_b, lograte);
    B::exp(ctx, lograte, ring(rates_, t));
  }

  // Bin `bin` (>= -1) of a ring of max(W, 2) bins: trials [b0, b0 + bk).
  MatrixView<S> ring_block(Matrix<B, S>& m, Index bin, Index b0, Index bk) {
    return m.col_block((bin + ring_) % ring_ * n_ + b0, bk);
  }
  MatrixView<S> ring_block(Matrix<B, S>& m, Index bin) { return ring_block(m, bin, 0, n_); }
  ConstView<S> outputs(const Matrix<B, S>& m) const {
    return m.col_block(first_ready_ % ring_ * n_, ready_ * n_);
  }
  std::array<const Matrix<B, S>*, 19> buffers() const {
    return {&data_window_, &ext_window_, &fwd_, &fwd_cache_, &bwd_, &bwd_cache_, &ends_, &ic_, &con_states_,
            &con_cache_, &co_, &gen_states_, &gen_cache_, &factors_, &lograte_, &rates_, &w_hat_, &norms_, &zeros_};
  }

  LfadsConfig c_;
  Index n_, window_, ring_;
  LfadsTensors<B, S> w_;
  Cell enc_fwd_, enc_bwd_;
  LfadsDecoder<B, S> decoder_;
  // The IC window's inputs (W bins); rings of max(W, 2) bins, bin t in
  // block t mod that, the state before bin 0 in the last block.
  Matrix<B, S> data_window_, ext_window_;
  Matrix<B, S> fwd_, fwd_cache_;
  Matrix<B, S> bwd_, bwd_cache_;  // two blocks: the backward encoder's state after bin k in block k % 2
  Matrix<B, S> ends_, ic_;
  Matrix<B, S> con_states_, con_cache_, co_;
  Matrix<B, S> gen_states_, gen_cache_, factors_, lograte_, rates_;
  Matrix<B, S> w_hat_, norms_, zeros_;
  Index bins_ = 0, ready_ = 0, first_ready_ = 0;
  bool predicting_ = false;
};

}  // namespace ctd
