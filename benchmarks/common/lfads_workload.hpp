#pragma once
// The LFADS benchmark workload (d) as the references define it: the
// tutorial's sizes, random Poisson spikes with rates in [0.5, 3] per bin,
// and the dense FLOPs of a training step counted their way (3x forward).
#include <vector>

#include "ctd/core/rng.hpp"
#include "ctd/lfads/config.hpp"
#include "ctd/lfads/trials.hpp"

namespace ctd::bench {

inline constexpr Index lfads_steps = 25, lfads_batch = 128;

inline LfadsData<float> lfads_trials(Rng& rng, Index trials, Index neurons) {
  std::vector<float> counts(std::size_t(trials * lfads_steps * neurons));
  for (auto& c : counts) c = float(rng.poisson(0.5 + 2.5 * rng.uniform()));
  return LfadsData<float>(TrialArray<float>(trials, lfads_steps, neurons, std::move(counts)));
}

inline double lfads_flops(const LfadsConfig& c) {
  const double B = double(lfads_batch);
  const auto gru = [&](double n, double u) { return 2.0 * B * 3 * n * (n + u); };
  const double forward = double(lfads_steps) * (2 * gru(double(c.enc_dim), double(c.data_dim)) +
                                                gru(double(c.con_dim), double(2 * c.enc_dim + c.factors_dim)) +
                                                gru(double(c.gen_dim), double(c.ii_dim)) +
                                                2.0 * B * double(c.con_dim * 2 * c.ii_dim) +
                                                2.0 * B * double(c.gen_dim * c.factors_dim) +
                                                2.0 * B * double(c.factors_dim * c.data_dim)) +
                         2.0 * B * double(2 * c.enc_dim * 2 * c.gen_dim);
  return 3 * forward;
}

}  // namespace ctd::bench
