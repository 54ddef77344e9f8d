// lfads — LFADS on recordings in lfads-torch's data layout: trains on the
// train split, runs posterior sample-and-average on both splits, writes
// lfads-torch's output file and scores the valid split with the Neural
// Latents Benchmark's metrics.
//
//   lfads --data session.h5 --out out/lfads [--config run.json] [--causal --ic-window 5]
//   lfads --resume --data session.h5 --out out/lfads
//
// Reads {train,valid}_{encod_data,recon_data,ext_input,truth,behavior,inds}
// (see include/ctd/io/lfads_torch_file.hpp). Writes params.h5, checkpoint.h5,
// training.h5, config.json (the effective flags: --config it to repeat the
// run), lfads_output_<name>.h5 (lfads-torch's keys and shapes) and
// summary.json: bits/spike of the held-in neurons, co-bps (held-out
// neurons), fp-bps (forward bins), rate R^2 against the true rates and the
// behaviour's decoding R^2 when the file has them, and the same for the NLB
// smoothing baseline (Gaussian-
// smoothed held-in spikes, ridge regression to the held-out neurons).
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "common/cli.hpp"
#include "common/json_config.hpp"
#include "common/json_file.hpp"
#include "common/lfads_run.hpp"
#include "common/output_folder.hpp"
#include "ctd/io/lfads_torch_file.hpp"
#include "ctd/lfads/metrics.hpp"

using namespace ctd;

namespace {

using Json = nlohmann::json;

struct Options : examples::LfadsRunOptions {
  Options() { samples = 50; }  // lfads-torch's run_posterior_sampling
  std::filesystem::path data;
  std::string name;           // of the output file; default: the data file's stem
  double smooth_sigma = 2.0;  // bins, the smoothing baseline's Gaussian
  examples::OutputFolder out{"out/lfads"};
};

// Bins [t0, t1) and neurons [d0, d1) of a (trials, T, dim) row-major array
// as the (trials*(t1-t0) x (d1-d0)) matrix the metrics read.
template <class S>
Eigen::MatrixXd region(const S* values, Index trials, Index T, Index dim, Index t0, Index t1, Index d0, Index d1) {
  Eigen::MatrixXd out(trials * (t1 - t0), d1 - d0);
  for (Index k = 0; k < trials; ++k)
    for (Index t = t0; t < t1; ++t)
      for (Index d = d0; d < d1; ++d) out(k * (t1 - t0) + t - t0, d - d0) = double(values[(k * T + t) * dim + d]);
  return out;
}

// The held-in spikes smoothed over the encoder bins of each trial by a
// Gaussian of `sigma` bins, renormalised where it meets a trial's ends:
// (trials*Te x held-in).
Eigen::MatrixXd smoothed(const TrialArray<float>& spikes, double sigma) {
  const Index T = spikes.steps, reach = Index(std::ceil(3 * sigma));
  Eigen::VectorXd kernel(2 * reach + 1);  // kernel(reach + d): the weight of a bin d away
  for (Index d = -reach; d <= reach; ++d) kernel(reach + d) = std::exp(-0.5 * double(d * d) / (sigma * sigma));
  // Column k*T + t is bin t of trial k: the file's own memory, contiguous per bin.
  const Eigen::MatrixXd x =
      Eigen::Map<const Eigen::MatrixXf>(spikes.values.data(), spikes.dim, spikes.trials * T).cast<double>();
  Eigen::MatrixXd out = Eigen::MatrixXd::Zero(x.rows(), x.cols());
  for (Index k = 0; k < spikes.trials; ++k)
    for (Index t = 0; t < T; ++t) {
      double total = 0;
      for (Index s = std::max<Index>(0, t - reach); s <= std::min(T - 1, t + reach); ++s) {
        out.col(k * T + t) += kernel(reach + s - t) * x.col(k * T + s);
        total += kernel(reach + s - t);
      }
      out.col(k * T + t) /= total;
    }
  return out.transpose();
}

// NaN (JSON null) where a metric has nothing to score.
Json metric(const std::function<double()>& compute) {
  try {
    return compute();
  } catch (const Error& e) {
    fmt::print("  (not scored: {})\n", e.what());
    return nullptr;
  }
}

int run(int argc, char** argv) {
  CLI::App app{"Train LFADS on spike recordings in lfads-torch's data layout, infer their latent rates, factors and "
               "inputs, and score them with the Neural Latents Benchmark's metrics"};
  Options o;
  examples::add_json_config(app);
  app.add_option("--data", o.data, "the data file: {train,valid}_encod_data, optional _recon_data, _ext_input, "
                                   "_truth, _behavior, _inds")
      ->required();
  app.add_option("--name", o.name, "the output file is lfads_output_<name>.h5 (default: the data file's stem)");
  o.out.add_to(app, &o.train.resume);
  examples::add_lfads_options(app, o);
  app.add_option("--smooth-sigma", o.smooth_sigma, "the smoothing baseline's Gaussian, in bins")
      ->capture_default_str()
      ->check(examples::positive);
  examples::parse_or_exit(app, argc, argv);
  require(o.warmup.end > o.warmup.start, "--kl-end must be after --kl-start");
  if (o.name.empty()) o.name = o.data.stem().string();
  const std::string output_file = "lfads_output_" + o.name + ".h5";
  o.out.claim({"checkpoint.h5", "params.h5", "training.h5", "config.json", output_file}, o.train.resume);

  const io::LfadsTorchData<float> file = io::read_lfads_torch_data<float>(o.data);
  const LfadsData<float>&train = file.train.data, &valid = file.valid.data;
  LfadsConfig& m = o.model;
  m.data_dim = train.encod.dim;
  m.recon_dim = train.recon_dim();
  m.ext_input_dim = train.ext_dim();
  m.validate();
  train.require_fits(m, o.data.string());
  const Index Te = train.encod_steps(), T = train.steps(), held_in = m.data_dim, all = m.readout_dim();
  fmt::print("{}: {} train and {} valid trials; the encoder reads {} bins of {} neurons, the model reconstructs {} "
             "bins of {} neurons{}\n",
             o.data.string(), train.trials(), valid.trials(), Te, held_in, T, all,
             m.ext_input_dim ? fmt::format(" with {} measured inputs", m.ext_input_dim) : "");
  require(train.trials() >= o.batch, o.data.string() + ": " + std::to_string(train.trials()) +
                                         " train trials are fewer than one batch of " + std::to_string(o.batch) +
                                         " (--batch)");
  examples::write_json(o.out / "config.json", Json::parse(app.config_to_str(true, true)));

  cpu::context ctx;
  const std::uint64_t seed = o.train.seed;
  examples::InitialisedLfads net(ctx, m, seed);
  const Lfads<cpu, float>& model = net.model;
  LfadsTrainingLoss<cpu, float> loss(model, train, o.batch, o.warmup);
  const TrainingResult result = examples::train_lfads(ctx, net.params, loss, o, o.out.dir);

  Rng sampling(Rng::bits_at(seed, 3));
  const auto t0 = std::chrono::steady_clock::now();
  const LfadsPosterior<float> post_train = posterior_average(ctx, model, train, o.samples, o.batch, sampling);
  const LfadsPosterior<float> post_valid = posterior_average(ctx, model, valid, o.samples, o.batch, sampling);
  const double posterior_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  io::write_lfads_torch_output(o.out / output_file, post_train, post_valid);
  fmt::print("posterior sample-and-average: {} trials x {} samples in {:.1f} s -> {}\n",
             train.trials() + valid.trials(), o.samples, posterior_seconds, (o.out / output_file).string());

  // The valid split's scores, as nlb_tools slices the data.
  const Index nv = valid.trials();
  const TrialArray<float>& target = valid.targets();
  const auto rates = [&](Index t0, Index t1, Index d0, Index d1) {
    return region(post_valid.rates.data(), nv, T, all, t0, t1, d0, d1);
  };
  const auto spikes = [&](Index t0, Index t1, Index d0, Index d1) {
    return region(target.values.data(), nv, T, all, t0, t1, d0, d1);
  };
  Json summary = {{"name", o.name},
                  {"train_trials", train.trials()},
                  {"valid_trials", nv},
                  {"encod_bins", Te},
                  {"bins", T},
                  {"held_in_neurons", held_in},
                  {"held_out_neurons", all - held_in},
                  {"causal", m.causal},
                  {"ic_window", m.ic_window}};
  summary["bps"] = metric([&] { return nlb::bits_per_spike(rates(0, Te, 0, held_in), spikes(0, Te, 0, held_in)); });
  if (all > held_in)
    summary["co_bps"] = metric([&] { return nlb::co_bps(rates(0, Te, held_in, all), spikes(0, Te, held_in, all)); });
  if (T > Te)
    summary["fp_bps"] = metric([&] {
      return nlb::fp_bps(rates(Te, T, 0, held_in), rates(Te, T, held_in, all), spikes(Te, T, 0, held_in),
                         spikes(Te, T, held_in, all));
    });
  const bool truth = !file.valid.truth.empty();
  const auto true_rates = [&](Index t0, Index t1, Index d0, Index d1) {
    return region(file.valid.truth.values.data(), nv, T, all, t0, t1, d0, d1);
  };
  if (truth) {
    summary["rate_r2_held_in"] =
        metric([&] { return nlb::r2_score(true_rates(0, T, 0, held_in), rates(0, T, 0, held_in)); });
    if (all > held_in)
      summary["rate_r2_held_out"] =
          metric([&] { return nlb::r2_score(true_rates(0, T, held_in, all), rates(0, T, held_in, all)); });
  }
  // Decoding: behaviour from the rates of every neuron, by ridge regression
  // fit on the train split (nlb_tools' fit_and_eval_decoder).
  if (!file.train.behavior.empty()) {
    const Index nt = train.trials(), channels = file.train.behavior.dim;
    summary["behavior_r2"] = metric([&] {
      return nlb::velocity_r2(region(post_train.rates.data(), nt, T, all, 0, T, 0, all),
                              region(file.train.behavior.values.data(), nt, T, channels, 0, T, 0, channels),
                              rates(0, T, 0, all),
                              region(file.valid.behavior.values.data(), nv, T, channels, 0, T, 0, channels))
          .r2;
    });
  }
  // The smoothing baseline: held-out rates by ridge regression from the
  // smoothed held-in spikes over the encoder bins (rates clipped to stay
  // positive, which a Poisson likelihood needs).
  if (all > held_in) {
    const Eigen::MatrixXd x_train = smoothed(train.encod, o.smooth_sigma);
    const Eigen::MatrixXd x_valid = smoothed(valid.encod, o.smooth_sigma);
    const TrialArray<float>& train_target = train.targets();
    const Eigen::MatrixXd y_train =
        region(train_target.values.data(), train.trials(), T, all, 0, Te, held_in, all);
    const nlb::RidgeSearch search = nlb::ridge_cv(x_train, y_train);
    const Eigen::MatrixXd predicted = search.model.predict(x_valid).cwiseMax(1e-4);
    Json baseline = {{"alpha", search.alphas[search.best]}, {"sigma_bins", o.smooth_sigma}};
    baseline["co_bps"] = metric([&] { return nlb::co_bps(predicted, spikes(0, Te, held_in, all)); });
    if (truth)
      baseline["rate_r2_held_out"] = metric([&] {
        return nlb::r2_score(true_rates(0, Te, held_in, all), predicted);
      });
    summary["smoothing_baseline"] = baseline;
  }
  const LfadsLosses& last = loss.last();
  summary["train_nll"] = last.nll;
  summary["train_kl_ic"] = last.kl_ic;
  summary["train_kl_ii"] = last.kl_ii;
  summary["train_steps"] = o.train.steps;
  summary["ms_per_step"] = result.steps_per_second > 0 ? 1000.0 / result.steps_per_second : 0.0;
  summary["seconds"] = result.seconds;
  summary["posterior_seconds"] = posterior_seconds;
  summary["posterior_samples"] = o.samples;
  summary["threads"] = ctx.threads;
  examples::write_json(o.out / "summary.json", summary);
  fmt::print("valid: bps {}  co-bps {}  fp-bps {}  rate R^2 held-in {} held-out {}; smoothing baseline co-bps {}\n",
             summary["bps"].dump(), summary.value("co_bps", Json()).dump(), summary.value("fp_bps", Json()).dump(),
             summary.value("rate_r2_held_in", Json()).dump(), summary.value("rate_r2_held_out", Json()).dump(),
             summary.contains("smoothing_baseline") ? summary["smoothing_baseline"]["co_bps"].dump() : "null");
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ctd::examples::run_program("lfads", argc, argv, run); }
