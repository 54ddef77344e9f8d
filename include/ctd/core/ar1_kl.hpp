#pragma once
// The one-sample KL of one trial's inferred input (one dimension, T steps)
// against the AR(1) prior, and its gradient: the per-trial body of the
// backends' kl_gauss_ar1 (see cpu.hpp), written once for the host and the
// device. Semantics are the tutorial's kl_gauss_ar1 (SPEC §7), including
// its literal noise log-variance lognvar + var_min and the unfloored
// logvar in front of log q.
#include <cmath>

#include "ctd/core/rng.hpp"
#include "ctd/core/types.hpp"

namespace ctd {

// Element t of a strided series (one trial's values over time).
template <class S>
struct Series {
  S* data;
  Index stride;
  CTD_HOST_DEVICE S& operator[](Index t) const { return data[t * stride]; }
};

// Returns scale * KL; writes scale * dKL/dmean_t and dKL/dlogvar_t, and
// the prior's three gradients (mean, logatau, lognvar).
template <class S>
CTD_HOST_DEVICE S ar1_kl_trial(Series<const S> mean, Series<const S> logvar, Series<const S> eps, S ar_mean,
                               S ar_logatau, S ar_lognvar, S var_min, S scale, Index steps, Series<S> d_mean,
                               Series<S> d_logvar, S& d_ar_mean, S& d_ar_logatau, S& d_ar_lognvar) {
  using std::exp;
  using std::log;
  using std::sqrt;
  const S log_2pi = S(1.8378770664093454836);
  const S log_noise_var = ar_lognvar + var_min, noise_var = exp(log_noise_var);
  const S decay = exp(-ar_logatau), phi = exp(-decay);
  const S log_process_var = log_noise_var - (log(S(1) - phi) + log(S(1) + phi)), process_var = exp(log_process_var);
  S kl = 0, dp_dmean = 0, dp_dphi = 0, dp_dlog_noise = 0, dp_dlog_process = 0;
  S z_prev = 0, r_next = 0;
  // Forward: log q - log p, keeping what the backward sweep needs in d_mean
  // (the sample z_t) until it is overwritten.
  for (Index t = 0; t < steps; ++t) {
    const S sd = sqrt(exp(logvar[t]) + var_min), z = mean[t] + sd * eps[t];
    const S q = (z - mean[t]) / sd;
    kl += S(-0.5) * (logvar[t] + log_2pi + q * q);
    if (t == 0) {
      const S r = z - ar_mean;
      kl -= S(-0.5) * (log_process_var + log_2pi + r * r / process_var);
      dp_dmean += r / process_var;
      dp_dlog_process += S(-0.5) + S(0.5) * r * r / process_var;
    } else {
      const S r = z - ar_mean - phi * z_prev;
      kl -= S(-0.5) * (log_noise_var + log_2pi + r * r / noise_var);
      dp_dmean += r / noise_var;
      dp_dphi += r * z_prev / noise_var;
      dp_dlog_noise += S(-0.5) + S(0.5) * r * r / noise_var;
    }
    d_mean[t] = z;
    z_prev = z;
  }
  // Backward: dlog p/dz_t = -r_t/var_t + phi r_{t+1}/noise_var.
  for (Index t = steps - 1; t >= 0; --t) {
    const S z = d_mean[t], before = t > 0 ? d_mean[t - 1] : S(0);
    const S r = t == 0 ? z - ar_mean : z - ar_mean - phi * before;
    const S var = t == 0 ? process_var : noise_var;
    const S dp_dz = -r / var + phi * r_next / noise_var;
    r_next = r;
    const S v = exp(logvar[t]);
    // log q's dependence on mean and logvar through z cancels; its leading
    // logvar term gives -1/2.
    d_mean[t] = scale * -dp_dz;
    d_logvar[t] = scale * (S(-0.5) - dp_dz * eps[t] * S(0.5) * v / sqrt(v + var_min));
  }
  dp_dphi += dp_dlog_process * S(2) * phi / (S(1) - phi * phi);
  d_ar_mean = scale * -dp_dmean;
  d_ar_logatau = scale * -dp_dphi * phi * decay;
  d_ar_lognvar = scale * -(dp_dlog_noise + dp_dlog_process);
  return scale * kl;
}

}  // namespace ctd
