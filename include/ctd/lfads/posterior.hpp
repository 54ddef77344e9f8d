#pragma once
// Posterior sample-and-average (SPEC §7): every trial is run `samples`
// times with keep_rate 1 and fresh posterior draws, and every output is
// averaged over its samples. Passes are batched across trials (batch /
// samples trials a pass) so every pass is a full batch; memory is bounded by
// the batch, and only the averages of all trials are kept.
#include <algorithm>
#include <array>
#include <vector>

#include "ctd/lfads/model.hpp"
#include "ctd/lfads/trials.hpp"

namespace ctd {

// Per-trial averages on the host. Time series are (dim x trials*T) with
// column trial*T + t — the memory of a row-major (trials, T, dim) array,
// as files hold them; per-trial vectors are (dim x trials).
template <class S>
struct LfadsPosterior {
  Index trials = 0, steps = 0;
  HostMatrix<S> rates;       // exp(log-rate), per time bin
  HostMatrix<S> factors;
  HostMatrix<S> gen_states;  // g_t
  HostMatrix<S> con_states;  // c_t
  HostMatrix<S> ii_mean, ii_logvar;  // the inferred inputs' posterior
  HostMatrix<S> ic_mean, ic_logvar;  // g_0's posterior
};

template <class B, class S>
LfadsPosterior<S> posterior_average(typename B::context& ctx, const Lfads<B, S>& model, const SpikeTrials<S>& data,
                                    Index samples, Index batch, Rng& rng) {
  require(samples > 0 && batch > 0, "posterior: samples and batch must be positive");
  const LfadsConfig& c = model.config();
  require(data.neurons == c.data_dim, "posterior: the trials have " + std::to_string(data.neurons) +
                                          " neurons, the model " + std::to_string(c.data_dim));
  const Index T = data.steps, per_pass = std::max<Index>(1, batch / samples), ii = c.ii_dim;
  LfadsPosterior<S> out;
  out.trials = data.trials;
  out.steps = T;
  const std::array series{&out.rates, &out.factors, &out.gen_states, &out.con_states, &out.ii_mean, &out.ii_logvar};
  const std::array rows{c.data_dim, c.factors_dim, c.gen_dim, c.con_dim, ii, ii};
  for (std::size_t k = 0; k < series.size(); ++k) series[k]->resize(rows[k], data.trials * T);
  out.ic_mean.resize(c.gen_dim, data.trials);
  out.ic_logvar.resize(c.gen_dim, data.trials);

  LfadsNoise<B, S> noise;
  LfadsTape<B, S> tape;
  Matrix<B, S> counts, rates, average, means;
  HostMatrix<S> host, weights;
  std::vector<Index> ids;
  for (Index first = 0; first < data.trials; first += per_pass) {
    const Index k = std::min(per_pass, data.trials - first), nb = k * samples;
    ids.resize(std::size_t(k));
    for (Index i = 0; i < k; ++i) ids[std::size_t(i)] = first + i;
    data.gather(ids, samples, host);
    counts.resize(host.rows(), host.cols());
    upload<B, S>(ctx, host, counts.view());
    noise.draw(ctx, c, T, nb, 1.0, rng);
    model.forward(ctx, counts.view(), T, nb, noise, 1.0, tape);
    // Column k*samples + s of a pass is sample s of trial k: averaging is a
    // product with the (nb x k) matrix of 1/samples blocks.
    weights = HostMatrix<S>::Zero(nb, k);
    for (Index i = 0; i < k; ++i) weights.block(i * samples, i, samples, 1).setConstant(S(1) / S(samples));
    average.resize(nb, k);
    upload<B, S>(ctx, weights, average.view());
    rates.resize(c.data_dim, T * nb);
    B::exp(ctx, tape.lograte.view(), rates.view());
    const auto co = tape.decoder.co.view();
    const std::array<ConstView<S>, 6> outputs{rates.view(), tape.decoder.factor_outputs(),
                                              tape.decoder.gen_outputs(), tape.decoder.con_outputs(),
                                              co.row_block(0, ii), co.row_block(ii, ii)};
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
    for (auto [src, dst] : {std::pair{ic.row_block(0, c.gen_dim), &out.ic_mean},
                            std::pair{ic.row_block(c.gen_dim, c.gen_dim), &out.ic_logvar}}) {
      means.resize(c.gen_dim, k);
      B::gemm(ctx, Trans::no, Trans::no, S(1), src, average.view(), S(0), means.view());
      dst->middleCols(first, k) = download<B, S>(ctx, means.view());
    }
  }
  return out;
}

}  // namespace ctd
