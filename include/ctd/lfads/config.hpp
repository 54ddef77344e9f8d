#pragma once
// LFADS's sizes and hyperparameters, with the tutorial's values as defaults
// (SPEC §7), and the KL warm-up schedule.
#include <string>

#include "ctd/core/error.hpp"
#include "ctd/core/types.hpp"

namespace ctd {

struct LfadsConfig {
  Index data_dim = 100;   // neurons the encoder reads (held-in)
  Index recon_dim = 0;    // neurons the log-rates cover, held-in first; 0: data_dim
  Index ext_input_dim = 0;  // measured inputs fed to the generator beside the inferred ones
  Index enc_dim = 128;    // each direction of the encoder
  Index con_dim = 128;    // controller
  Index ii_dim = 1;       // inferred inputs
  Index gen_dim = 128;    // generator
  Index factors_dim = 32;
  double var_min = 0.001;  // variance floor of every Gaussian
  double l2 = 2e-5;        // l2reg * sum of squares of all parameters
  double ic_prior_var = 0.1;
  double ar_mean = 0.0;  // AR(1) prior of the inferred inputs
  double ar_tau = 1.0;
  double ar_noise_var = 0.1;
  double keep_rate = 0.98;  // dropout while training
  // A causal model (TF LFADS's do_causal_controller) can run on a stream of
  // bins: its controller reads only the forward encoder, and its initial
  // condition comes from the first ic_window bins (0: all encoder bins;
  // only a causal model takes a window).
  bool causal = false;
  Index ic_window = 0;

  Index readout_dim() const { return recon_dim > 0 ? recon_dim : data_dim; }
  // Rows of the encoder's output the controller reads: [fwd; bwd], or fwd.
  Index controller_encoding_dim() const { return causal ? enc_dim : 2 * enc_dim; }
  // The bins the initial condition is inferred from, of `encod_steps`.
  Index ic_steps(Index encod_steps) const { return ic_window > 0 ? ic_window : encod_steps; }

  void validate() const {
    for (auto [name, v] : {std::pair{"data_dim", data_dim}, {"enc_dim", enc_dim}, {"con_dim", con_dim},
                           {"ii_dim", ii_dim}, {"gen_dim", gen_dim}, {"factors_dim", factors_dim}})
      require(v > 0, std::string("LFADS: ") + name + " must be positive, got " + std::to_string(v));
    require(recon_dim == 0 || recon_dim >= data_dim,
            "LFADS: recon_dim (" + std::to_string(recon_dim) + ") must cover the " + std::to_string(data_dim) +
                " held-in neurons");
    require(ext_input_dim >= 0, "LFADS: ext_input_dim must not be negative");
    require(ic_window >= 0, "LFADS: ic_window must not be negative");
    require(causal || ic_window == 0, "LFADS: only a causal model infers its initial condition from a window");
    require(var_min > 0, "LFADS: var_min must be positive");
    require(l2 >= 0, "LFADS: l2 must not be negative");
    require(ic_prior_var > 0 && ar_noise_var > 0 && ar_tau > 0,
            "LFADS: ic_prior_var, ar_noise_var and ar_tau must be positive");
    require(keep_rate > 0 && keep_rate <= 1, "LFADS: keep_rate must lie in (0, 1], got " + std::to_string(keep_rate));
  }
};

// The KL terms' weight: `min` until step `start`, linear to `max` at step
// `end`, then `max` (the tutorial's kl_warmup).
struct KlWarmup {
  double start = 500, end = 1000, min = 0.01, max = 1.0;

  double scale(Index step) const {
    const double i = double(step);
    if (i < start) return min;
    if (i > end) return max;
    return (max - min) * (i - start) / (end - start) + min;
  }
};

}  // namespace ctd
