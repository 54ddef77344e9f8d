#pragma once
// Every random draw of one LFADS pass, drawn before it: the dropout masks
// and the standard-normal draws of the reparameterised samples. Holding
// them fixed makes the loss a deterministic function of the parameters (the
// gradient check), and lets a NumPy script recompute the very same loss.
// Layout as the model's: time-major blocks of B columns.
#include "ctd/core/matrix.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/lfads/config.hpp"

namespace ctd {

template <class B, class S>
struct LfadsNoise {
  Matrix<B, S> data_mask;  // (data x Te*B): the encoder's input dropout
  Matrix<B, S> enc_mask;   // (2 enc or enc x Te*B): the controller's input [fwd; bwd] or fwd
  Matrix<B, S> ends_mask;  // (2 enc x B): [bwd_0; fwd_{W-1}] before the IC posterior
  Matrix<B, S> gen_mask;   // (gen x T*B): the generator's state
  Matrix<B, S> ic_eps;     // (gen x B): the sample g_0
  Matrix<B, S> ii_eps;     // (ii x T*B): the inferred inputs fed to the generator
  Matrix<B, S> kl_eps;     // (ii x T*B): the inferred inputs of the AR(1) KL's sample

  // For Te encoder bins of T. keep_rate 1 gives masks of ones (evaluation,
  // posterior sampling).
  void draw(typename B::context& ctx, const LfadsConfig& c, Index encod_steps, Index steps, Index batch,
            double keep_rate, Rng& rng) {
    const Index tb = steps * batch;
    data_mask.resize(c.data_dim, encod_steps * batch);
    enc_mask.resize(c.controller_encoding_dim(), encod_steps * batch);
    ends_mask.resize(2 * c.enc_dim, batch);
    gen_mask.resize(c.gen_dim, tb);
    ic_eps.resize(c.gen_dim, batch);
    ii_eps.resize(c.ii_dim, tb);
    kl_eps.resize(c.ii_dim, tb);
    for (auto* mask : {&data_mask, &enc_mask, &ends_mask, &gen_mask})
      B::fill_dropout_mask(ctx, mask->view(), S(keep_rate), rng);
    for (auto* eps : {&ic_eps, &ii_eps, &kl_eps}) B::fill_normal(ctx, eps->view(), S(0), S(1), rng);
  }
};

}  // namespace ctd
