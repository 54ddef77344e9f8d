#pragma once
// Posterior sample-and-average (SPEC §7): every trial is run `samples`
// times with keep_rate 1 and fresh posterior draws, and every output is
// averaged over its samples, as lfads-torch's run_posterior_sampling does.
// Passes are batched across trials (batch / samples trials a pass) so every
// pass is a full batch; memory is bounded by the batch, and only the
// averages of all trials are kept.
#include <algorithm>
#include <array>
#include <vector>

#include "ctd/lfads/batch.hpp"
#include "ctd/lfads/model.hpp"

namespace ctd {

// Per-trial averages on the host. Time series are (dim x trials*T) with
// column trial*T + t — the memory of a row-major (trials, T, dim) array,
// as files hold them; per-trial vectors are (dim x trials). Standard
// deviations are those of the floored variance, exp(logvar) + var_min.
template <class S>
struct LfadsPosterior {
  Index trials = 0, steps = 0;
  HostMatrix<S> rates;       // exp(log-rate), per time bin, every reconstructed neuron
  HostMatrix<S> factors;
  HostMatrix<S> gen_states;  // g_t
  HostMatrix<S> con_states;  // c_t
  HostMatrix<S> ii_mean, ii_std;  // the inferred inputs' posterior
  HostMatrix<S> gen_inputs;  // [ii_t; e_t]: the sampled inferred inputs and the measured ones
  HostMatrix<S> ic_mean, ic_std;  // g_0's posterior
  HostMatrix<S> gen_init;    // g_0, the sample
};

template <class B, class S>
LfadsPosterior<S> posterior_average(typename B::context& ctx, const Lfads<B, S>& model, const LfadsData<S>& data,
                                    Index samples, Index batch, Rng& rng) {
  require(samples > 0 && batch > 0, "posterior: samples and batch must be positive");
  const LfadsConfig& c = model.config();
  data.require_fits(c, "posterior");
  const Index T = data.steps(), per_pass = std::max<Index>(1, batch / samples), ii = c.ii_dim,
              gen_in = ii + c.ext_input_dim, gen = c.gen_dim;
  LfadsPosterior<S> out;
  out.trials = data.trials();
  out.steps = T;
  const std::array series{&out.rates,   &out.factors, &out.gen_states, &out.con_states,
                          &out.ii_mean, &out.ii_std,  &out.gen_inputs};
  const std::array rows{c.readout_dim(), c.factors_dim, gen, c.con_dim, ii, ii, gen_in};
  for (std::size_t k = 0; k < series.size(); ++k) series[k]->resize(rows[k], out.trials * T);
  const std::array per_trial{&out.ic_mean, &out.ic_std, &out.gen_init};
  for (auto* m : per_trial) m->resize(gen, out.trials);

  LfadsBatch<B, S> inputs;
  LfadsNoise<B, S> noise;
  LfadsTape<B, S> tape;
  Matrix<B, S> rates, average, means, zeros, ones, ii_std, ic_std, gen_inputs;
  HostMatrix<S> weights;
  std::vector<Index> ids;
  for (Index first = 0; first < out.trials; first += per_pass) {
    const Index k = std::min(per_pass, out.trials - first), nb = k * samples;
    ids.resize(std::size_t(k));
    for (Index i = 0; i < k; ++i) ids[std::size_t(i)] = first + i;
    inputs.load(ctx, data, ids, samples);
    noise.draw(ctx, c, data.encod_steps(), T, nb, 1.0, rng);
    model.forward_pass(ctx, inputs.inputs(), noise, tape);
    // Column k*samples + s of a pass is sample s of trial k: averaging is a
    // product with the (nb x k) matrix of 1/samples blocks.
    weights = HostMatrix<S>::Zero(nb, k);
    for (Index i = 0; i < k; ++i) weights.block(i * samples, i, samples, 1).setConstant(S(1) / S(samples));
    average.resize(nb, k);
    upload<B, S>(ctx, weights, average.view());
    rates.resize(c.readout_dim(), T * nb);
    B::exp(ctx, tape.lograte.view(), rates.view());
    // A standard deviation is the sample of a zero-mean posterior at a draw
    // of one: the backend's own variance floor, no second formula.
    const auto std_of = [&](ConstView<S> logvar, Matrix<B, S>& std) {
      for (auto* m : {&zeros, &ones, &std}) m->resize(logvar.rows, logvar.cols);
      B::fill(ctx, zeros.view(), S(0));
      B::fill(ctx, ones.view(), S(1));
      B::gaussian_sample(ctx, zeros.view(), logvar, ones.view(), S(c.var_min), std.view());
      return ConstView<S>(std.view());
    };
    const auto co = tape.decoder.co.view();
    const ConstView<S> co_std = std_of(co.row_block(ii, ii), ii_std);
    gen_inputs.resize(gen_in, T * nb);
    B::copy(ctx, tape.decoder.ii.view(), gen_inputs.view().row_block(0, ii));
    if (c.ext_input_dim > 0) B::copy(ctx, tape.inputs.ext, gen_inputs.view().row_block(ii, c.ext_input_dim));
    const std::array<ConstView<S>, 7> outputs{rates.view(), tape.decoder.factor_outputs(), tape.decoder.gen_outputs(),
                                              tape.decoder.con_outputs(), co.row_block(0, ii), co_std,
                                              gen_inputs.view()};
    for (std::size_t o = 0; o < outputs.size(); ++o) {
      means.resize(outputs[o].rows, T * k);
      for (Index t = 0; t < T; ++t)
        B::gemm(ctx, Trans::no, Trans::no, S(1), outputs[o].col_block(t * nb, nb), average.view(), S(0),
                means.col_block(t * k, k));
      const HostMatrix<S> m = download<B, S>(ctx, means.view());
      for (Index i = 0; i < k; ++i)
        for (Index t = 0; t < T; ++t) series[o]->col((first + i) * T + t) = m.col(t * k + i);
    }
    const auto ic = tape.encoder.ic.view();
    const std::array<ConstView<S>, 3> trial_outputs{ic.row_block(0, gen), std_of(ic.row_block(gen, gen), ic_std),
                                                    tape.g0.view()};
    for (std::size_t o = 0; o < trial_outputs.size(); ++o) {
      means.resize(gen, k);
      B::gemm(ctx, Trans::no, Trans::no, S(1), trial_outputs[o], average.view(), S(0), means.view());
      per_trial[o]->middleCols(first, k) = download<B, S>(ctx, means.view());
    }
  }
  return out;
}

}  // namespace ctd
