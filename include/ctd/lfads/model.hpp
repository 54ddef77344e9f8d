#pragma once
// LFADS, the tutorial's sequential variational autoencoder (SPEC §7):
// encoder -> IC sample -> decoder -> log-rates, and the loss
//   total = Poisson NLL + kl_scale * (KL_g0 + KL_ii) + l2 * sum(params^2),
// sums over time and dimensions, means over trials. forward() fills a tape
// that backward() consumes (tiny-cuda-nn's context), writing every
// parameter's gradient into the Parameters buffer. The encoder reads Te
// bins of the held-in neurons; the decoder runs T >= Te bins and the
// Poisson NLL covers every neuron and bin of the reconstruction data, as in
// lfads-torch (batch.hpp). The log-rates of bins and neurons the encoder
// did not see are predictions: trained on the training trials' recon data,
// scored on trials whose held-out part the model never reads.
#include <array>

#include "ctd/lfads/decoder.hpp"
#include "ctd/lfads/encoder.hpp"

namespace ctd {

// The parts of the loss, each a mean over trials and unscaled; total() is
// what training minimises.
struct LfadsLosses {
  double nll = 0;     // Poisson negative log likelihood (without log x!)
  double kl_ic = 0;   // KL of g_0's posterior against its prior
  double kl_ii = 0;   // sampled KL of the inferred inputs against the AR(1) prior
  double l2 = 0;      // the L2 penalty, scaled
  double kl_scale = 1;
  double total() const { return nll + kl_scale * (kl_ic + kl_ii) + l2; }
};

template <class B, class S>
struct LfadsTape {
  LfadsInputs<S> inputs;    // forward's, which backward reads again
  LfadsEncoderTape<B, S> encoder;
  LfadsDecoderTape<B, S> decoder;
  Matrix<B, S> g0;          // (gen x B)
  Matrix<B, S> lograte;     // (readout x T*B)
  // Gradients the forward pass already knows (loss terms' own), then backward's.
  Matrix<B, S> d_lograte;   // (readout x T*B)
  Matrix<B, S> d_ic;        // (2 gen x B)
  Matrix<B, S> d_ic_prior;  // (gen x B): per-trial d/d(ic_prior logvar)
  Matrix<B, S> d_co;        // (2 ii x T*B)
  Matrix<B, S> d_ar_prior;  // (3 ii x B): per-trial d/d(ii_prior mean, logatau, lognvar)
  Matrix<B, S> d_factors, d_xenc, d_g0;
  double kl_scale = 1;
};

template <class B, class S>
class Lfads {
 public:
  using Tape = LfadsTape<B, S>;

  static std::vector<ParamSpec> specs(const LfadsConfig& c) { return lfads_specs<B, S>(c); }

  // Binds the model to its parameters (Lfads::specs(config)), which must
  // outlive it.
  Lfads(const LfadsConfig& c, Parameters<B, S>& params)
      : config_(c), params_(params), w_(bind_lfads_values(params)), g_(bind_lfads_grads(params)), encoder_(c),
        decoder_(c) {
    c.validate();
  }
  const LfadsConfig& config() const { return config_; }
  Parameters<B, S>& parameters() const { return params_; }

  // The loss of one batch with the given draws; the tape keeps every
  // intermediate (posterior means, factors, log-rates, states).
  LfadsLosses forward(typename B::context& ctx, const LfadsInputs<S>& in, const LfadsNoise<B, S>& noise,
                      double kl_scale, Tape& tape) const {
    forward_pass(ctx, in, noise, tape);
    return loss_terms(ctx, noise, kl_scale, tape);
  }

  // forward() in its two parts. The pass, encoder to log-rates, returns
  // nothing to the host, so a CUDA graph can record it (training.hpp);
  // posterior sampling needs only it.
  void forward_pass(typename B::context& ctx, const LfadsInputs<S>& in, const LfadsNoise<B, S>& noise,
                    Tape& tape) const {
    in.validate(config_);
    const Index T = in.steps, batch = in.batch;
    require(noise.data_mask.rows() == config_.data_dim && noise.data_mask.cols() == in.encod_steps * batch &&
                noise.gen_mask.cols() == T * batch && noise.ic_eps.rows() == config_.gen_dim &&
                noise.ic_eps.cols() == batch,
            "LFADS: the draws were made for another shape (LfadsNoise::draw with these bins and batch)");
    const Index gen = config_.gen_dim, tb = T * batch;
    const S var_min = S(config_.var_min);
    tape.inputs = in;
    encoder_.forward(ctx, w_, in, noise, tape.encoder);
    const auto ic = tape.encoder.ic.view();
    tape.g0.resize(gen, batch);
    B::gaussian_sample(ctx, ic.row_block(0, gen), ic.row_block(gen, gen), noise.ic_eps.view(), var_min,
                       tape.g0.view());
    decoder_.forward(ctx, w_, tape.encoder.xenc.view(), in.ext, tape.g0.view(), T, batch, noise, tape.decoder);
    tape.lograte.resize(config_.readout_dim(), tb);
    parallel_affine<B, S>(ctx, w_.logrates_w, tape.decoder.factor_outputs(), w_.logrates_b, tape.lograte.view());
  }

  // The loss terms of the pass in the tape, each a sum returned to the
  // host, and their own gradients.
  LfadsLosses loss_terms(typename B::context& ctx, const LfadsNoise<B, S>& noise, double kl_scale,
                         Tape& tape) const {
    const Index T = tape.inputs.steps, batch = tape.inputs.batch;
    const Index gen = config_.gen_dim, ii = config_.ii_dim, tb = T * batch;
    const S var_min = S(config_.var_min), per_trial = S(1) / S(batch);
    const auto ic = tape.encoder.ic.view();
    LfadsLosses losses;
    losses.kl_scale = tape.kl_scale = kl_scale;
    tape.d_lograte.resize(config_.readout_dim(), tb);
    losses.nll =
        double(B::poisson_nll(ctx, tape.lograte.view(), tape.inputs.recon, per_trial, tape.d_lograte.view()));
    tape.d_ic.resize(2 * gen, batch);
    tape.d_ic_prior.resize(gen, batch);
    const auto d_ic = tape.d_ic.view();
    losses.kl_ic = double(B::kl_gauss_gauss(ctx, ic.row_block(0, gen), ic.row_block(gen, gen), w_.ic_prior_mean,
                                            w_.ic_prior_logvar, var_min, per_trial, d_ic.row_block(0, gen),
                                            d_ic.row_block(gen, gen), tape.d_ic_prior.view()));
    tape.d_co.resize(2 * ii, tb);
    tape.d_ar_prior.resize(3 * ii, batch);
    const auto co = tape.decoder.co.view(), d_co = tape.d_co.view();
    losses.kl_ii = double(B::kl_gauss_ar1(ctx, co.row_block(0, ii), co.row_block(ii, ii), noise.kl_eps.view(),
                                          w_.ar_mean, w_.ar_logatau, w_.ar_lognvar, var_min, per_trial, T,
                                          d_co.row_block(0, ii), d_co.row_block(ii, ii), tape.d_ar_prior.view()));
    losses.l2 = config_.l2 * double(B::sum_squares(ctx, params_.values()));
    return losses;
  }

  // The gradient of forward's total loss, into the parameters' gradient
  // buffer (overwritten).
  void backward(typename B::context& ctx, const LfadsNoise<B, S>& noise, Tape& tape) const {
    weigh_kl_gradients(ctx, tape);
    backward_pass(ctx, noise, tape);
  }

  // backward() in its two parts, split like forward(): the KL terms' own
  // gradients weighted by the step's kl_scale, which the warm-up changes
  // from step to step, then the pass, the same operations at every step.
  void weigh_kl_gradients(typename B::context& ctx, Tape& tape) const {
    for (auto d : {tape.d_ic.view(), tape.d_co.view(), tape.d_ic_prior.view(), tape.d_ar_prior.view()})
      B::scale(ctx, S(tape.kl_scale), d);
  }
  void backward_pass(typename B::context& ctx, const LfadsNoise<B, S>& noise, Tape& tape) const {
    const Index gen = config_.gen_dim, ii = config_.ii_dim, T = tape.decoder.steps, batch = tape.decoder.batch;
    // The priors' gradients are the KL terms' alone.
    const auto d_ic = tape.d_ic.view(), d_co = tape.d_co.view(), d_ar = tape.d_ar_prior.view();
    B::fill(ctx, g_.ic_prior_mean, S(0));
    B::add_row_sums(ctx, d_ic.row_block(0, gen), g_.ic_prior_mean);
    B::scale(ctx, S(-1), g_.ic_prior_mean);
    B::fill(ctx, g_.ic_prior_logvar, S(0));
    B::add_row_sums(ctx, tape.d_ic_prior.view(), g_.ic_prior_logvar);
    for (Index k = 0; k < 3; ++k) {
      const auto grad = std::array{g_.ar_mean, g_.ar_logatau, g_.ar_lognvar}[std::size_t(k)];
      B::fill(ctx, grad, S(0));
      B::add_row_sums(ctx, d_ar.row_block(k * ii, ii), grad);
    }
    // Log-rates.
    tape.d_factors.resize(config_.factors_dim, T * batch);
    parallel_weight_gradient<B, S>(ctx, tape.d_lograte.view(), tape.decoder.factor_outputs(), S(0), g_.logrates_w,
                                   g_.logrates_b);
    parallel_gemm<B, S>(ctx, Trans::yes, Trans::no, S(1), w_.logrates_w, tape.d_lograte.view(), S(0),
                        tape.d_factors.view());
    // Decoder, the IC sample, encoder.
    tape.d_xenc.resize(tape.encoder.xenc.rows(), T * batch);
    tape.d_g0.resize(gen, batch);
    decoder_.backward(ctx, w_, g_, tape.encoder.xenc.view(), tape.inputs.ext, tape.d_factors.view(), d_co, noise,
                      tape.d_xenc.view(), tape.d_g0.view(), tape.decoder);
    B::gaussian_sample_backward(ctx, tape.d_g0.view(), tape.encoder.ic.view().row_block(gen, gen),
                                noise.ic_eps.view(), S(config_.var_min), d_ic.row_block(0, gen),
                                d_ic.row_block(gen, gen));
    encoder_.backward(ctx, w_, g_, tape.d_xenc.view(), d_ic, noise, tape.encoder);
    B::axpy(ctx, S(2 * config_.l2), params_.values(), params_.grads());
  }

 private:
  LfadsConfig config_;
  Parameters<B, S>& params_;
  LfadsTensors<B, S> w_, g_;
  LfadsEncoder<B, S> encoder_;
  LfadsDecoder<B, S> decoder_;
};

}  // namespace ctd
