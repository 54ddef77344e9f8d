#pragma once
// What the LFADS programs share: every hyperparameter as a flag with the
// tutorial's value as default, and the training run with its progress line,
// checkpoints and loss curves.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>

#include "common/cli.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/io/checkpoint.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/parameters_io.hpp"
#include "ctd/lfads/training.hpp"

namespace ctd::examples {

struct LfadsRunOptions {
  LfadsConfig model;
  KlWarmup warmup;
  TrainerOptions train = lfads_trainer_options();
  Index batch = 128;
  Index samples = 128;  // posterior samples per trial
};

// The model's sizes and priors, the optimiser, the KL schedule and the
// posterior sampling as flags (the data decide the neuron counts).
inline void add_lfads_options(CLI::App& app, LfadsRunOptions& o) {
  LfadsConfig& m = o.model;
  app.add_option("--steps", o.train.steps, "training steps")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--batch", o.batch, "trials per batch")->capture_default_str()->check(positive);
  app.add_option("--seed", o.train.seed, "seed of the initialisation, batches and draws")->capture_default_str();
  app.add_option("--lr0", o.train.adam.lr0, "initial learning rate")->capture_default_str()->check(positive);
  app.add_option("--decay", o.train.adam.decay, "learning-rate decay per step")->capture_default_str()->check(CLI::Range(0.0, 1.0));
  app.add_option("--adam-eps", o.train.adam.eps, "Adam's epsilon")->capture_default_str()->check(positive);
  app.add_option("--max-grad-norm", o.train.max_grad_norm, "global-norm clipping")->capture_default_str()->check(positive);
  app.add_option("--enc", m.enc_dim, "encoder units per direction")->capture_default_str()->check(positive);
  app.add_option("--con", m.con_dim, "controller units")->capture_default_str()->check(positive);
  app.add_option("--gen", m.gen_dim, "generator units")->capture_default_str()->check(positive);
  app.add_option("--factors", m.factors_dim, "factors")->capture_default_str()->check(positive);
  app.add_option("--ii", m.ii_dim, "inferred-input dimensions")->capture_default_str()->check(positive);
  app.add_option("--keep-rate", m.keep_rate, "dropout keep rate while training")->capture_default_str()->check(CLI::Range(1e-6, 1.0));
  app.add_option("--l2", m.l2, "L2 penalty on all parameters")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--var-min", m.var_min, "variance floor")->capture_default_str()->check(positive);
  app.add_option("--ic-prior-var", m.ic_prior_var, "initial variance of the IC prior")->capture_default_str()->check(positive);
  app.add_option("--ar-tau", m.ar_tau, "initial AR(1) autocorrelation time")->capture_default_str()->check(positive);
  app.add_option("--ar-noise-var", m.ar_noise_var, "initial AR(1) noise variance")->capture_default_str()->check(positive);
  app.add_flag("--causal", m.causal,
               "a causal model (the controller reads only the forward encoder), for streaming inference");
  app.add_option("--ic-window", m.ic_window, "a causal model's bins for the initial condition (0: all)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--kl-start", o.warmup.start, "step where the KL warm-up starts")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--kl-end", o.warmup.end, "step where it reaches --kl-max")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--kl-min", o.warmup.min, "KL weight before the warm-up")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--kl-max", o.warmup.max, "KL weight after it")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--samples", o.samples, "posterior samples per trial")->capture_default_str()->check(positive);
  app.add_option("--checkpoint-every", o.train.checkpoint_every, "steps between checkpoints")->capture_default_str()->check(positive);
}

// A model with the tutorial's initial values (drawn from the run's seed).
struct InitialisedLfads {
  Parameters<cpu, float> params;
  Lfads<cpu, float> model;

  InitialisedLfads(cpu::context& ctx, const LfadsConfig& c, std::uint64_t seed)
      : params(Lfads<cpu, float>::specs(c)), model(c, params) {
    Rng rng(Rng::bits_at(seed, 1));
    initialize_lfads<cpu, float>(ctx, params, c, rng);
  }
  InitialisedLfads(const InitialisedLfads&) = delete;  // the model refers to params
};

// Trains with a progress line (total = NLL + KL IC + KL II + L2, kl_scale,
// steps/s, ETA), checkpoints to dir/checkpoint.h5 (resuming when asked),
// then writes dir/params.h5 and dir/training.h5 (the total and its parts
// per step of this invocation).
inline TrainingResult train_lfads(cpu::context& ctx, Parameters<cpu, float>& params,
                                  LfadsTrainingLoss<cpu, float>& loss, const LfadsRunOptions& o,
                                  const std::filesystem::path& dir) {
  std::vector<double> nll, kl_ic, kl_ii, kl_scale;
  auto last_print = std::chrono::steady_clock::time_point{};
  TrainerOptions options = o.train;
  options.seed = Rng::bits_at(o.train.seed, 2);
  options.progress = [&](const TrainingProgress& p) {
    const LfadsLosses& l = loss.last();
    nll.push_back(l.nll), kl_ic.push_back(l.kl_ic), kl_ii.push_back(l.kl_ii), kl_scale.push_back(l.kl_scale);
    const auto now = std::chrono::steady_clock::now();
    if (p.step != p.steps && now - last_print < std::chrono::seconds(2)) return;
    last_print = now;
    fmt::print("step {:>6}/{}  total {:.1f} = nll {:.1f} + kl_ic {:.2f} + kl_ii {:.2f} + l2 {:.3f}  kl_scale {:.3f}  "
               "{:.1f} steps/s  ETA {:.0f} s\n",
               p.step, p.steps, p.loss, l.nll, l.kl_scale * l.kl_ic, l.kl_scale * l.kl_ii, l.l2, l.kl_scale,
               p.steps_per_second, p.seconds_left);
    std::fflush(stdout);
  };
  Trainer<cpu, float> trainer(params, options);
  io::CheckpointFile<cpu, float> store(dir / "checkpoint.h5");
  if (options.resume) fmt::print("resuming from {}\n", store.describe());
  const TrainingResult result = trainer.run(ctx, loss, &store);

  io::Dict saved;
  io::save_parameters(ctx, params, saved);
  io::write_h5(dir / "params.h5", saved);
  io::Dict curves;
  curves.set<double>("loss", {result.loss_history.size()}, result.loss_history);
  for (auto [key, v] : {std::pair{"nll", &nll}, {"kl_ic", &kl_ic}, {"kl_ii", &kl_ii}, {"kl_scale", &kl_scale}})
    curves.set<double>(key, {v->size()}, *v);
  curves.set<std::int64_t>("first_step", {}, {std::int64_t(result.resumed_from)});
  io::write_h5(dir / "training.h5", curves);
  return result;
}

}  // namespace ctd::examples
