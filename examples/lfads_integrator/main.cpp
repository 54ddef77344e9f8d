// lfads_integrator — the LFADS tutorial (SPEC §7): spikes from the trained
// integrator RNN's states, LFADS trained on them, posterior sample-and-
// average on the evaluation trials, and how well the inferred rates, inputs
// and initial conditions match the truth.
//
//   integrator_rnn --out out/integrator_rnn            # makes data.h5
//   lfads_integrator --data out/integrator_rnn/data.h5 --out out/lfads_integrator
//   lfads_integrator --resume --out out/lfads_integrator
//
// Writes params.h5 (the tutorial's nested parameter dict), posterior.h5
// (posterior averages of the evaluation trials beside the truth),
// training.h5 (loss curves), checkpoint.h5 and summary.json.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <Eigen/Eigenvalues>
#include <fmt/core.h>

#include "common/cli.hpp"
#include "common/json_file.hpp"
#include "common/lfads_run.hpp"
#include "common/output_folder.hpp"
#include "ctd/lfads/posterior.hpp"

using namespace ctd;

namespace {

struct Options : examples::LfadsRunOptions {
  Index eval_trials = 1000;  // evaluation trials scored (and written)
  Index ic_fit_trials = 2048;  // training trials for the IC map's fit
  double max_rate_hz = 80, dt = 1.0 / 25;
  double train_fraction = 0.9;
  std::filesystem::path data = "out/integrator_rnn/data.h5";
  examples::OutputFolder out{"out/lfads_integrator"};
};

// The integrator data set: its states become rates, the rates spikes.
struct IntegratorData {
  Index trials = 0, steps = 0, units = 0;
  std::vector<float> rates;   // (trials, T, units): spikes per bin
  std::vector<float> inputs;  // (trials, T)
  std::vector<float> h0s;     // (trials, units)
  TrialArray<float> spikes;
};

// The floating-point array under key (integers are no states or inputs).
std::vector<float> real_array(const io::Dict& d, const std::filesystem::path& file, const std::string& key,
                              const std::vector<std::size_t>& shape) {
  require(d.at(key).dtype() != io::DType::i64,
          file.string() + ": key '" + key + "': expected float32 or float64 values, found integers");
  return d.get<float>(key, shape);
}

IntegratorData load_integrator_data(const std::filesystem::path& file, const Options& o, Rng& rng) {
  const io::Dict d = io::read_h5(file);
  const io::Array& hiddens = d.at("hiddens");
  require(hiddens.shape.size() == 3 && hiddens.size() > 0,
          file.string() + ": key 'hiddens': expected a non-empty (trials, T, units) array, found shape " +
              io::detail::shape_str(hiddens.shape));
  IntegratorData data;
  data.trials = Index(hiddens.shape[0]);
  data.steps = Index(hiddens.shape[1]);
  data.units = Index(hiddens.shape[2]);
  const auto N = std::size_t(data.trials), T = std::size_t(data.steps), n = std::size_t(data.units);
  const std::vector<float> h = real_array(d, file, "hiddens", {N, T, n});
  data.inputs = real_array(d, file, "inputs", {N, T, 1});
  data.h0s = real_array(d, file, "h0s", {N, n});
  // SPEC §7: rates = (h + 1)/2 * max rate * dt per bin; h is a tanh state.
  data.rates.resize(h.size());
  std::vector<float> counts(h.size());
  for (std::size_t i = 0; i < h.size(); ++i) {
    if (!(h[i] >= -1.0f && h[i] <= 1.0f))  // a message per value would cost more than the loop
      throw Error(file.string() + ": key 'hiddens': expected tanh states in [-1, 1], found " + std::to_string(h[i]) +
                  " at flat index " + std::to_string(i));
    data.rates[i] = float((h[i] + 1.0) / 2.0 * o.max_rate_hz * o.dt);
    counts[i] = float(rng.poisson(data.rates[i]));
  }
  data.spikes = TrialArray<float>(data.trials, data.steps, data.units, std::move(counts));
  return data;
}

// Squared Pearson correlation of two series (NaN when one is constant).
double r2(const Eigen::ArrayXd& a, const Eigen::ArrayXd& b) {
  const Eigen::ArrayXd x = a - a.mean(), y = b - b.mean();
  const double sxx = (x * x).sum(), syy = (y * y).sum();
  if (sxx <= 0 || syy <= 0) return std::nan("");
  const double sxy = (x * y).sum();
  return sxy * sxy / (sxx * syy);
}

// Mean over trials and neurons of the r^2 between estimated and true rates,
// both (trials, T, neurons) in memory; NaNs (constant series) skipped.
double mean_rate_r2(const float* estimate, const float* truth, Index trials, Index T, Index neurons) {
  double sum = 0;
  Index count = 0;
  for (Index k = 0; k < trials; ++k)
    for (Index d = 0; d < neurons; ++d) {
      Eigen::ArrayXd a(T), b(T);
      for (Index t = 0; t < T; ++t) {
        a(t) = estimate[(k * T + t) * neurons + d];
        b(t) = truth[(k * T + t) * neurons + d];
      }
      const double v = r2(a, b);
      if (std::isfinite(v)) sum += v, ++count;
    }
  return count ? sum / double(count) : std::nan("");
}

// The baseline: the spikes projected on their top 2 principal components
// (fit on the training spikes), as (trials, T, neurons).
std::vector<float> pca_reconstruction(const TrialArray<float>& fit, const TrialArray<float>& eval, Index components) {
  const Index D = fit.dim;
  const Eigen::Map<const Eigen::MatrixXf> X(fit.values.data(), D, fit.trials * fit.steps);
  const Eigen::VectorXd mean = X.cast<double>().rowwise().mean();
  const Eigen::MatrixXd centred = X.cast<double>().colwise() - mean;
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(centred * centred.transpose());
  const Eigen::MatrixXd P = eig.eigenvectors().rightCols(components);
  const Eigen::Map<const Eigen::MatrixXf> E(eval.values.data(), D, eval.trials * eval.steps);
  const Eigen::MatrixXf R = ((P * (P.transpose() * (E.cast<double>().colwise() - mean))).colwise() + mean).cast<float>();
  return std::vector<float>(R.data(), R.data() + R.size());
}

// R^2 of the true initial states predicted from the IC means by a linear
// map (with offset) fit on the training trials; per unit, averaged.
double ic_r2(const HostMatrix<float>& fit_ic, const Eigen::MatrixXd& fit_h0, const HostMatrix<float>& eval_ic,
             const Eigen::MatrixXd& eval_h0) {
  const auto design = [](const HostMatrix<float>& ic) {
    Eigen::MatrixXd X(ic.cols(), ic.rows() + 1);
    X << ic.transpose().cast<double>(), Eigen::VectorXd::Ones(ic.cols());
    return X;
  };
  const Eigen::MatrixXd X = design(fit_ic);
  const Eigen::MatrixXd W = (X.transpose() * X + 1e-6 * Eigen::MatrixXd::Identity(X.cols(), X.cols()))
                                .ldlt().solve(X.transpose() * fit_h0.transpose());
  const Eigen::MatrixXd prediction = design(eval_ic) * W, truth = eval_h0.transpose();
  double sum = 0;
  for (Index u = 0; u < truth.cols(); ++u) {
    const double ss_tot = (truth.col(u).array() - truth.col(u).mean()).square().sum();
    sum += 1 - (prediction.col(u) - truth.col(u)).squaredNorm() / std::max(ss_tot, 1e-12);
  }
  return sum / double(truth.cols());
}

// Mean losses over a set of trials with keep_rate 1 and the full KL weight.
LfadsLosses evaluate(cpu::context& ctx, const Lfads<cpu, float>& model, const LfadsData<float>& trials, Index batch,
                     Rng& rng) {
  LfadsBatch<cpu, float> inputs;
  LfadsNoise<cpu, float> noise;
  LfadsTape<cpu, float> tape;
  LfadsLosses mean;
  Index seen = 0;
  for (Index first = 0; first + batch <= trials.trials(); first += batch) {
    std::vector<Index> ids(static_cast<std::size_t>(batch));
    for (Index k = 0; k < batch; ++k) ids[std::size_t(k)] = first + k;
    inputs.load(ctx, trials, ids);
    noise.draw(ctx, model.config(), trials.encod_steps(), trials.steps(), batch, 1.0, rng);
    const LfadsLosses l = model.forward(ctx, inputs.inputs(), noise, 1.0, tape);
    mean.nll += l.nll, mean.kl_ic += l.kl_ic, mean.kl_ii += l.kl_ii, mean.l2 = l.l2;
    ++seen;
  }
  if (seen) mean.nll /= double(seen), mean.kl_ic /= double(seen), mean.kl_ii /= double(seen);
  return mean;
}

// A (trials*T x dim) posterior series as a (trials, T, dim) array.
io::Array trials_array(const HostMatrix<float>& m, Index trials, Index T) {
  return io::Array{{std::size_t(trials), std::size_t(T), std::size_t(m.rows())},
                   std::vector<float>(m.data(), m.data() + m.size())};
}

int run(int argc, char** argv) {
  CLI::App app{"Train LFADS on spikes from the integrator RNN's states (the LFADS tutorial) and infer its latent "
               "rates, inputs and initial conditions"};
  Options o;
  LfadsConfig& m = o.model;
  app.add_option("--data", o.data, "the integrator data set (integrator_rnn's data.h5)")->capture_default_str();
  o.out.add_to(app, &o.train.resume);
  examples::add_lfads_options(app, o);
  app.add_option("--eval-trials", o.eval_trials, "evaluation trials scored")->capture_default_str()->check(examples::positive);
  app.add_option("--ic-fit-trials", o.ic_fit_trials, "training trials for the IC map")->capture_default_str()->check(examples::positive);
  examples::parse_or_exit(app, argc, argv);
  require(o.warmup.end > o.warmup.start, "--kl-end must be after --kl-start");
  o.out.claim({"checkpoint.h5", "params.h5", "posterior.h5", "training.h5"}, o.train.resume);

  cpu::context ctx;
  const std::uint64_t seed = o.train.seed;
  Rng spike_rng(Rng::bits_at(seed, 4));
  const IntegratorData data = load_integrator_data(o.data, o, spike_rng);
  m.data_dim = data.units;
  const Index n_train = Index(double(data.trials) * o.train_fraction), n_eval = data.trials - n_train;
  require(n_train >= o.batch, o.data.string() + ": " + std::to_string(data.trials) + " trials leave " +
                                  std::to_string(n_train) + " for training, fewer than one batch of " +
                                  std::to_string(o.batch));
  require(n_eval > 0, o.data.string() + ": no trials left for the evaluation");
  const LfadsData<float> train(data.spikes.slice(0, n_train)), eval(data.spikes.slice(n_train, n_eval));
  fmt::print("{} trials x {} bins x {} neurons: {} train, {} evaluate; mean count {:.3f} per bin\n", data.trials,
             data.steps, data.units, n_train, n_eval,
             Eigen::Map<const Eigen::ArrayXf>(data.spikes.values.data(), Index(data.spikes.values.size())).mean());

  examples::InitialisedLfads net(ctx, m, seed);
  const Lfads<cpu, float>& model = net.model;

  LfadsTrainingLoss<cpu, float> loss(model, train, o.batch, o.warmup);
  const TrainingResult result = examples::train_lfads(ctx, net.params, loss, o, o.out.dir);

  // Evaluation: losses, posterior averages, and the science.
  Rng eval_rng(Rng::bits_at(seed, 3));
  const LfadsLosses eval_loss = evaluate(ctx, model, eval, o.batch, eval_rng);
  const Index scored = std::min(o.eval_trials, n_eval), T = data.steps, D = data.units;
  const auto t0 = std::chrono::steady_clock::now();
  const LfadsPosterior<float> post = posterior_average(ctx, model, eval.slice(0, scored), o.samples, o.batch, eval_rng);
  const double posterior_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  fmt::print("posterior sample-and-average: {} trials x {} samples in {:.1f} s\n", scored, o.samples, posterior_seconds);
  const float* true_rates = data.rates.data() + std::size_t(n_train * T * D);
  const double rate_r2 = mean_rate_r2(post.rates.data(), true_rates, scored, T, D);
  const std::vector<float> pca = pca_reconstruction(train.encod, eval.encod.slice(0, scored), 2);
  const double pca_rate_r2 = mean_rate_r2(pca.data(), true_rates, scored, T, D);
  double ii_sum = 0;
  Index ii_count = 0;
  for (Index k = 0; k < scored; ++k) {
    Eigen::ArrayXd a(T), b(T);
    for (Index t = 0; t < T; ++t) {
      a(t) = post.ii_mean(0, k * T + t);
      b(t) = data.inputs[std::size_t((n_train + k) * T + t)];
    }
    const double v = r2(a, b);
    if (std::isfinite(v)) ii_sum += v, ++ii_count;
  }
  const double inferred_input_r2 = ii_count ? ii_sum / double(ii_count) : std::nan("");
  // The IC means need no sampling (keep_rate 1: the encoder is deterministic).
  const Index n_fit = std::min(o.ic_fit_trials, n_train);
  const LfadsPosterior<float> fit = posterior_average(ctx, model, train.slice(0, n_fit), 1, o.batch, eval_rng);
  const Index n = data.units;
  const Eigen::MatrixXd h0_fit = Eigen::Map<const Eigen::MatrixXf>(data.h0s.data(), n, n_fit).cast<double>();
  const Eigen::MatrixXd h0_eval =
      Eigen::Map<const Eigen::MatrixXf>(data.h0s.data() + std::size_t(n_train * n), n, scored).cast<double>();
  const double ic_r2_value = ic_r2(fit.ic_mean, h0_fit, post.ic_mean, h0_eval);

  io::Dict posterior;
  posterior.set("rates", trials_array(post.rates, scored, T));
  posterior.set("factors", trials_array(post.factors, scored, T));
  posterior.set("gen_states", trials_array(post.gen_states, scored, T));
  posterior.set("con_states", trials_array(post.con_states, scored, T));
  posterior.set("ii_mean", trials_array(post.ii_mean, scored, T));
  posterior.set("ii_std", trials_array(post.ii_std, scored, T));
  posterior.set<float>("ic_mean", {std::size_t(scored), std::size_t(m.gen_dim)},
                       std::vector<float>(post.ic_mean.data(), post.ic_mean.data() + post.ic_mean.size()));
  posterior.set<float>("ic_std", {std::size_t(scored), std::size_t(m.gen_dim)},
                       std::vector<float>(post.ic_std.data(), post.ic_std.data() + post.ic_std.size()));
  const auto first = [&](const std::vector<float>& v, std::size_t per) {
    return std::vector<float>(v.begin() + std::ptrdiff_t(std::size_t(n_train) * per),
                              v.begin() + std::ptrdiff_t(std::size_t(n_train + scored) * per));
  };
  const auto sT = std::size_t(T), sD = std::size_t(D), sN = std::size_t(scored);
  posterior.set<float>("true_rates", {sN, sT, sD}, first(data.rates, sT * sD));
  posterior.set<float>("true_inputs", {sN, sT}, first(data.inputs, sT));
  posterior.set<float>("spikes", {sN, sT, sD}, first(data.spikes.values, sT * sD));
  posterior.set<float>("pca_rates", {sN, sT, sD}, pca);
  io::write_h5(o.out / "posterior.h5", posterior);

  const LfadsLosses& last = loss.last();
  const nlohmann::json summary = {
      {"rate_r2", rate_r2},
      {"pca_rate_r2", pca_rate_r2},
      {"inferred_input_r2", inferred_input_r2},
      {"ic_r2", ic_r2_value},
      {"train_nll", last.nll},
      {"train_kl_ic", last.kl_ic},
      {"train_kl_ii", last.kl_ii},
      {"eval_nll", eval_loss.nll},
      {"eval_kl_ic", eval_loss.kl_ic},
      {"eval_kl_ii", eval_loss.kl_ii},
      {"train_steps", o.train.steps},
      {"ms_per_step", result.steps_per_second > 0 ? 1000.0 / result.steps_per_second : 0.0},
      {"seconds", result.seconds},
      {"posterior_seconds", posterior_seconds},
      {"eval_trials", scored},
      {"posterior_samples", o.samples},
      {"threads", ctx.threads},
  };
  examples::write_json(o.out / "summary.json", summary);
  fmt::print("rate R^2 {:.3f} (PCA baseline {:.3f}), inferred-input R^2 {:.3f}, IC R^2 {:.3f}; eval NLL {:.1f}\n",
             rate_r2, pca_rate_r2, inferred_input_r2, ic_r2_value, eval_loss.nll);
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ctd::examples::run_program("lfads_integrator", argc, argv, run); }
