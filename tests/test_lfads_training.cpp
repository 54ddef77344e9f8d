// LFADS trained on spikes whose truth is known: trials of a 2-D rotation
// (random phase per trial) read out through exp(affine) to 20 neurons. A
// short run with the library's trainer must bring the posterior-averaged
// rates close to the true rates, well past what the first step explains.
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/lfads/posterior.hpp"
#include "ctd/lfads/training.hpp"

using namespace ctd;

namespace {

struct Rotations {
  TrialArray<float> spikes;
  std::vector<double> rates;  // (trials, T, neurons)
};

Rotations rotation_trials(Rng& rng, Index trials, Index T, Index neurons) {
  HostMatrix<double> W(neurons, 2);
  for (Index i = 0; i < W.size(); ++i) W.data()[i] = 0.8 * rng.normal();
  Rotations r;
  std::vector<float> counts;
  for (Index k = 0; k < trials; ++k) {
    const double phase = 2 * std::numbers::pi * rng.uniform();
    for (Index t = 0; t < T; ++t) {
      const double a = phase + 0.3 * double(t);
      for (Index d = 0; d < neurons; ++d) {
        const double rate = std::exp(0.3 + W(d, 0) * std::cos(a) + W(d, 1) * std::sin(a));
        r.rates.push_back(rate);
        counts.push_back(float(rng.poisson(rate)));
      }
    }
  }
  r.spikes = TrialArray<float>(trials, T, neurons, std::move(counts));
  return r;
}

// The first `steps` bins of the first `dim` neurons of every trial.
TrialArray<float> leading(const TrialArray<float>& a, Index steps, Index dim) {
  std::vector<float> v;
  for (Index k = 0; k < a.trials; ++k)
    for (Index t = 0; t < steps; ++t)
      for (Index d = 0; d < dim; ++d) v.push_back(a.at(k, t, d));
  return {a.trials, steps, dim, std::move(v)};
}

// Mean over trials and neurons [d0, d1) of the squared correlation over time.
double mean_r2(const HostMatrix<float>& estimate, const std::vector<double>& truth, Index first_trial, Index trials,
               Index T, Index neurons, Index d0, Index d1) {
  double sum = 0;
  for (Index k = 0; k < trials; ++k)
    for (Index d = d0; d < d1; ++d) {
      Eigen::ArrayXd a(T), b(T);
      for (Index t = 0; t < T; ++t) {
        a(t) = estimate(d, k * T + t);
        b(t) = truth[std::size_t(((first_trial + k) * T + t) * neurons + d)];
      }
      a -= a.mean();
      b -= b.mean();
      sum += (a * b).sum() * (a * b).sum() / ((a * a).sum() * (b * b).sum());
    }
  return sum / double(trials * (d1 - d0));
}

}  // namespace

TEST_CASE("LFADS: a short training run recovers the rates of a known latent rotation", "[lfads][training]") {
  // All neurons and bins seen; then 4 neurons held out and 4 bins predicted
  // forward, whose rates the model must infer from the others.
  const auto [held_out, forward] = GENERATE(table<Index, Index>({{0, 0}, {4, 4}}));
  CAPTURE(held_out, forward);
  cpu::context ctx;
  const Index T = 20, neurons = 20, n_train = 256, n_eval = 32, held_in = neurons - held_out, encod_steps = T - forward;
  Rng rng(5);
  const Rotations data = rotation_trials(rng, n_train + n_eval, T, neurons);
  LfadsConfig c;
  c.data_dim = held_in;
  c.recon_dim = neurons;
  c.enc_dim = c.con_dim = c.gen_dim = 24;
  c.factors_dim = 4;
  c.ii_dim = 1;
  Parameters<cpu, float> params(Lfads<cpu, float>::specs(c));
  initialize_lfads<cpu, float>(ctx, params, c, rng);
  const Lfads<cpu, float> model(c, params);
  const auto split = [&](Index first, Index count) {
    const TrialArray<float> spikes = data.spikes.slice(first, count);
    return LfadsData<float>(leading(spikes, encod_steps, held_in), spikes);
  };
  const LfadsData<float> train = split(0, n_train), eval = split(n_train, n_eval);

  LfadsTrainingLoss<cpu, float> loss(model, train, 32, KlWarmup{50, 100, 0.01, 1.0});
  TrainerOptions options = lfads_trainer_options(600);
  options.adam.lr0 = 0.01;
  options.adam.decay = 0.999;
  options.seed = 3;
  Trainer<cpu, float> trainer(params, options);
  const TrainingResult result = trainer.run(ctx, loss, nullptr);
  INFO("loss from " << result.loss_history.front() << " to " << result.loss_history.back());
  CHECK(result.loss_history.back() < 0.8 * result.loss_history.front());

  Rng sampling(9);
  const LfadsPosterior<float> post = posterior_average(ctx, model, eval, 16, 64, sampling);
  REQUIRE(post.rates.cols() == n_eval * T);
  const double r2 = mean_r2(post.rates, data.rates, n_train, n_eval, T, neurons, 0, held_in);
  INFO("rate R^2 " << r2);
  CHECK(r2 > 0.9);
  if (held_out > 0) {
    const double r2_held_out = mean_r2(post.rates, data.rates, n_train, n_eval, T, neurons, held_in, neurons);
    INFO("held-out rate R^2 " << r2_held_out);
    CHECK(r2_held_out > 0.9);
  }
}

TEST_CASE("LFADS: posterior sample-and-average averages over the samples of each trial", "[lfads]") {
  cpu::context ctx;
  LfadsConfig c;
  c.data_dim = 6;
  c.enc_dim = c.con_dim = c.gen_dim = 5;
  c.factors_dim = 3;
  c.ii_dim = 2;
  Rng rng(2);
  Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
  initialize_lfads<cpu, double>(ctx, params, c, rng);
  const Lfads<cpu, double> model(c, params);
  std::vector<double> counts(std::size_t(5 * 4 * c.data_dim));
  for (auto& x : counts) x = double(rng.poisson(1.0));
  const TrialArray<double> spikes(5, 4, c.data_dim, counts);
  const LfadsData<double> trials(spikes);
  // 5 trials x 3 samples in passes of 2 trials (batch 7): the last pass is short.
  Rng a(4);
  const LfadsPosterior<double> post = posterior_average(ctx, model, trials, 3, 7, a);
  // The same trial's samples run one by one, averaged by hand.
  Rng b(4);
  LfadsNoise<cpu, double> noise;
  LfadsTape<cpu, double> tape;
  HostMatrix<double> host;
  spikes.gather({0, 1}, 3, host);
  const Matrix<cpu, double> x = upload<cpu, double>(ctx, host);
  noise.draw(ctx, c, 4, 4, 6, 1.0, b);
  model.forward(ctx, LfadsInputs<double>::spikes(x.view(), 4, 6), noise, 1.0, tape);
  const HostMatrix<double> lograte = download<cpu, double>(ctx, tape.lograte.view());
  const HostMatrix<double> ic = download<cpu, double>(ctx, tape.encoder.ic.view());
  for (Index k = 0; k < 2; ++k) {
    for (Index t = 0; t < 4; ++t) {
      const HostMatrix<double> samples = lograte.middleCols(t * 6 + k * 3, 3).array().exp().matrix();
      CHECK((post.rates.col(k * 4 + t) - samples.rowwise().mean()).norm() < 1e-12);
    }
    CHECK((post.ic_mean.col(k) - ic.middleCols(k * 3, 3).topRows(c.gen_dim).rowwise().mean()).norm() < 1e-12);
  }
  // Samples differ (fresh draws) while the IC mean does not (no dropout).
  CHECK((lograte.col(0) - lograte.col(1)).norm() > 1e-6);
  CHECK((ic.col(0) - ic.col(1)).norm() < 1e-12);
}
