#pragma once
// What the LFADS tests share: the small sizes of the gradient checks,
// parameters away from their initial values, and Poisson spike counts.
#include "ctd/core/host.hpp"
#include "ctd/lfads/config.hpp"
#include "ctd/lfads/parameters.hpp"

namespace ctd::testing {

// Every size different and small; dropout with enough zeros to matter.
inline LfadsConfig small_lfads_config() {
  LfadsConfig c;
  c.data_dim = 5;
  c.enc_dim = 4;
  c.con_dim = 3;
  c.ii_dim = 2;
  c.gen_dim = 4;
  c.factors_dim = 3;
  c.l2 = 1e-3;
  c.keep_rate = 0.7;
  return c;
}

// The tutorial's initial values, each moved by 0.2 N(0, 1): away from zero
// biases and equal priors, so that every term of every gradient is exercised.
template <class B>
void perturbed_lfads_parameters(typename B::context& ctx, Parameters<B, double>& params, const LfadsConfig& c,
                                Rng& rng) {
  initialize_lfads<B, double>(ctx, params, c, rng);
  auto values = params.values();
  for (Index i = 0; i < values.rows; ++i) values.data[i] += 0.2 * rng.normal();
}

// (rows x cols) counts ~ Poisson(mean).
template <class S>
HostMatrix<S> poisson_counts(Rng& rng, Index rows, Index cols, double mean) {
  HostMatrix<S> counts(rows, cols);
  for (Index k = 0; k < counts.size(); ++k) counts.data()[k] = S(rng.poisson(mean));
  return counts;
}

}  // namespace ctd::testing
