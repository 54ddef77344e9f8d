#pragma once
// What the supervised example programs share: their command line (the
// tutorial's defaults are passed in), the output folder, and the files every
// one of them writes besides its own (training.h5: the loss curve and a few
// evaluation trials for the figures).
#include <cstdint>
#include <filesystem>
#include <string>

#include <CLI/CLI.hpp>

#include "common/cli.hpp"
#include "common/json_file.hpp"
#include "common/output_folder.hpp"
#include "common/progress.hpp"
#include "ctd/io/checkpoint.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/parameters_io.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "ctd/train/trainer.hpp"

namespace ctd::examples {

struct SupervisedCli {
  TrainerOptions train;
  double l2 = 0;
  double state_noise = 0;  // standard deviation of the noise on h' during training
  Index batch = 128;
  Index state_size = 100;
  Index eval_trials = 1024;
  OutputFolder out;

  // Registers the options every supervised example has, with `defaults`.
  void add_to(CLI::App& app) {
    app.add_option("--steps", train.steps, "training steps")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("--batch", batch, "trials per training batch")->capture_default_str()->check(examples::positive);
    app.add_option("--n", state_size, "number of hidden units")->capture_default_str()->check(examples::positive);
    app.add_option("--seed", train.seed, "seed of the initialisation and the data")->capture_default_str();
    app.add_option("--lr0", train.adam.lr0, "initial learning rate")->capture_default_str()->check(examples::positive);
    app.add_option("--decay", train.adam.decay, "learning-rate decay per step")->capture_default_str()->check(CLI::Range(0.0, 1.0));
    app.add_option("--l2", l2, "L2 penalty on all parameters")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("--state-noise", state_noise, "standard deviation of Gaussian noise added to every state in training")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--eval-trials", eval_trials, "fresh trials for the evaluation")->capture_default_str()->check(examples::positive);
    app.add_option("--checkpoint-every", train.checkpoint_every, "steps between checkpoints")->capture_default_str()->check(examples::positive);
    out.add_to(app, &train.resume);
  }
  // Claims the output folder for a training run that writes `files` besides
  // the checkpoint, params.h5, training.h5 and summary.json; call after
  // parsing.
  void prepare(std::vector<std::string> files = {}) const {
    files.insert(files.end(), {"checkpoint.h5", "params.h5", "training.h5"});
    out.claim(std::move(files), train.resume);
  }
  std::filesystem::path checkpoint() const { return out / "checkpoint.h5"; }
};

// Seeds of independent purposes, derived from the one --seed.
inline std::uint64_t init_seed(std::uint64_t seed) { return Rng::bits_at(seed, 1); }
inline std::uint64_t data_seed(std::uint64_t seed) { return Rng::bits_at(seed, 2); }
inline std::uint64_t eval_seed(std::uint64_t seed) { return Rng::bits_at(seed, 3); }
inline std::uint64_t review_seed(std::uint64_t seed) { return Rng::bits_at(seed, 4); }  // a pre-generated training set

// Trains the model on a fresh batch from make_batch(rng) every step with the
// library's trainer, as the command line says: the data drawn from
// data_seed(--seed), checkpoints in DIR/checkpoint.h5, the progress line.
template <class Model, class MakeBatch>
TrainingResult train_on_fresh_batches(typename Model::backend::context& ctx, Model& model, MakeBatch make_batch,
                                      const SupervisedCli& cli) {
  using B = typename Model::backend;
  using S = typename Model::scalar;
  TrainerOptions options = cli.train;
  options.seed = data_seed(cli.train.seed);
  options.progress = ProgressLine{};
  Trainer<B, S> trainer(model.parameters(), options);
  io::CheckpointFile<B, S> store(cli.checkpoint());
  if (options.resume) fmt::print("resuming from {}\n", cli.checkpoint().string());
  return trainer.run(ctx, fresh_batch_loss(model, std::move(make_batch), cli.l2, cli.state_noise), &store);
}

// (rows x T*B) time-major sequence matrix -> (B, T, rows) row-major array.
template <class S>
io::Array trials_array(const HostMatrix<S>& seq, Index steps, Index trials, Index first_trial = 0,
                       Index count = -1) {
  if (count < 0) count = trials - first_trial;
  const Index rows = seq.rows();
  std::vector<S> v(static_cast<std::size_t>(count * steps * rows));
  for (Index b = 0; b < count; ++b)
    for (Index t = 0; t < steps; ++t)
      for (Index i = 0; i < rows; ++i)
        v[std::size_t((b * steps + t) * rows + i)] = seq(i, t * trials + first_trial + b);
  return io::Array{{std::size_t(count), std::size_t(steps), std::size_t(rows)}, std::move(v)};
}

// training.h5: the loss of every step and the first trials of the
// evaluation batch (inputs, targets, outputs) for the figures.
template <class S>
void write_training_file(const std::filesystem::path& file, const std::vector<double>& loss_history,
                         const SequenceBatch<S>& eval, const HostMatrix<S>& eval_outputs, Index shown = 8) {
  io::Dict d;
  d.set<double>("loss", {loss_history.size()}, loss_history);
  shown = std::min(shown, eval.trials);
  d.set("inputs", trials_array(eval.inputs, eval.steps, eval.trials, 0, shown));
  d.set("targets", trials_array(eval.targets, eval.steps, eval.trials, 0, shown));
  d.set("outputs", trials_array(eval_outputs, eval.steps, eval.trials, 0, shown));
  io::write_h5(file, d);
}

// The files every supervised example writes: params.h5 (the tutorial's
// keys), training.h5, and summary.json with the run's common fields plus
// the example's own results in `results`; returns what summary.json holds.
template <class Model, class B, class S>
nlohmann::json write_supervised_outputs(typename B::context& ctx, Model& model, const SupervisedCli& cli,
                              std::uint64_t seed, const TrainingResult& result,
                              const SequenceBatch<S>& eval, const HostMatrix<S>& eval_outputs,
                              nlohmann::json results) {
  io::Dict params;
  io::save_parameters(ctx, model.parameters(), params);
  io::write_h5(cli.out / "params.h5", params);
  write_training_file(cli.out / "training.h5", result.loss_history, eval, eval_outputs);
  results["train_steps"] = cli.train.steps;
  results["final_train_loss"] =
      result.loss_history.empty() ? nlohmann::json() : nlohmann::json(result.loss_history.back());
  results["seconds"] = result.seconds;
  results["steps_per_second"] = result.steps_per_second;
  results["resumed_from_step"] = result.resumed_from;
  results["seed"] = seed;
  write_json(cli.out / "summary.json", results);
  fmt::print("wrote {}\n", (cli.out / "summary.json").string());
  return results;
}

}  // namespace ctd::examples
