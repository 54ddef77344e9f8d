#pragma once
// The white-noise tasks of the integrator and decision tutorials (SPEC §1a,
// §1b). Both share the input: per trial a bias bval*2*(r-0.5) with r ~ N(0,1)
// (a normal draw: the task's definition), plus N(0, sval^2/dt) noise.
#include <cmath>

#include "ctd/core/error.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/core/host.hpp"
#include "ctd/tasks/sequence_batch.hpp"

namespace ctd {

struct WhiteNoiseOptions {
  double bval = 0.01;
  double sval = 0.025;
  double duration = 1.0;  // T
  Index steps = 25;       // ntime
};

// Fills inputs (1 x steps*trials) with the white-noise input.
template <class S>
HostMatrix<S> white_noise_inputs(Rng& rng, Index trials, const WhiteNoiseOptions& opt) {
  require(trials > 0 && opt.steps > 0, "white noise task: trials and steps must be positive");
  require(opt.duration > 0, "white noise task: duration must be positive");
  const double dt = opt.duration / double(opt.steps);
  const double stddev = opt.sval / std::sqrt(dt);
  HostMatrix<S> x(1, opt.steps * trials);
  for (Index b = 0; b < trials; ++b) {
    const double bias = opt.bval * 2.0 * (rng.normal() - 0.5);
    for (Index t = 0; t < opt.steps; ++t) x(0, t * trials + b) = S(bias + stddev * rng.normal());
  }
  return x;
}

// Integration: y_t = sum_{s<=t} x_s, every step in the loss.
template <class S>
SequenceBatch<S> integrator_batch(Rng& rng, Index trials, const WhiteNoiseOptions& opt = {}) {
  SequenceBatch<S> b{white_noise_inputs<S>(rng, trials, opt), {}, {}, opt.steps, trials};
  b.targets.resize(1, opt.steps * trials);
  for (Index j = 0; j < trials; ++j) {
    S sum = 0;
    for (Index t = 0; t < opt.steps; ++t) b.targets(0, t * trials + j) = sum += b.inputs(0, t * trials + j);
  }
  b.mask = HostMatrix<S>::Ones(1, opt.steps * trials);
  return b;
}

// Decision: the sign of the integral at the last step, only that step in
// the loss (target 0 elsewhere).
template <class S>
SequenceBatch<S> decision_batch(Rng& rng, Index trials, const WhiteNoiseOptions& opt = {}) {
  SequenceBatch<S> b{white_noise_inputs<S>(rng, trials, opt), {}, {}, opt.steps, trials};
  b.targets = HostMatrix<S>::Zero(1, opt.steps * trials);
  b.mask = HostMatrix<S>::Zero(1, opt.steps * trials);
  const Index last = (opt.steps - 1) * trials;
  for (Index j = 0; j < trials; ++j) {
    double sum = 0;
    for (Index t = 0; t < opt.steps; ++t) sum += b.inputs(0, t * trials + j);
    b.targets(0, last + j) = sum > 0 ? S(1) : S(-1);
    b.mask(0, last + j) = S(1);
  }
  return b;
}

}  // namespace ctd
