#pragma once
// What the LFADS tests share: the small sizes of the gradient checks and
// Poisson spike counts.
#include "ctd/core/host.hpp"
#include "ctd/lfads/config.hpp"

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

// (rows x cols) counts ~ Poisson(mean).
template <class S>
HostMatrix<S> poisson_counts(Rng& rng, Index rows, Index cols, double mean) {
  HostMatrix<S> counts(rows, cols);
  for (Index k = 0; k < counts.size(); ++k) counts.data()[k] = S(rng.poisson(mean));
  return counts;
}

}  // namespace ctd::testing
