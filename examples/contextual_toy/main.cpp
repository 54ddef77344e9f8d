// contextual_toy — the contextual-processing tutorial (SPEC §6; Maheswaranathan
// & Sussillo 2020): the tutorials' GRU trained on the toy sentiment language
// under state noise, then taken apart: its fixed points (a line attractor
// of accumulated valence), the spectrum where a modifier acts, the input
// Jacobian's prediction of each word's effect after "not" and "very", the
// angles between the modifiers' deflections and the eigenmodes, and the
// perturbations that remove the modifiers' effects.
//
//   contextual_toy --out out/contextual_toy                  # train, then analyse
//   contextual_toy --params out/contextual_toy/params.h5     # analyse a trained network
//
// Writes params.h5, initial_params.h5, training.h5, analysis.h5 and
// summary.json; plot.py beside this file draws the figures.
#include <chrono>
#include <filesystem>
#include <fstream>

#include <fmt/core.h>

#include "common/cli.hpp"
#include "common/supervised_example.hpp"
#include "contextual_toy/analysis.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/io/trained_network.hpp"
#include "ctd/tasks/toy_language.hpp"

using namespace ctd;
namespace fs = std::filesystem;
using Model = RnnRegressor<GruCell, cpu, float>;

namespace {

struct Settings {
  examples::SupervisedCli cli;
  Index train_reviews = 100000;
  Index length = 50;
  double input_noise = 0;
  fs::path params;  // analyse this file instead of training
  examples::ToyAnalysisOptions analysis;
};

// The trained (or loaded) model's masked MSE on fresh reviews, no L2, no noise.
double evaluation_loss(cpu::context& ctx, Model& model, const SequenceBatch<float>& eval) {
  model.load(ctx, eval);
  return model.evaluate(ctx);
}

int run(int argc, char** argv) {
  CLI::App app{"The contextual-processing tutorial: a GRU on the toy sentiment language and its analysis"};
  Settings s;
  auto& cli = s.cli;
  cli.train.steps = 40000;
  cli.train.adam = {0.04, 0.99995, 0.9, 0.999, 0.1};
  cli.l2 = 1e-4;
  cli.state_noise = 0.003;
  cli.out.dir = "out/contextual_toy";
  cli.add_to(app);
  app.add_option("--train-reviews", s.train_reviews, "reviews generated once for training")
      ->capture_default_str()
      ->check(examples::positive);
  // The analysis probes the state three words after a modifier mid-review.
  app.add_option("--length", s.length, "words per review")->capture_default_str()->check(examples::at_least(7));
  app.add_option("--input-noise", s.input_noise, "standard deviation of Gaussian noise on the one-hot inputs")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--params", s.params, "analyse this trained network (HDF5, tutorial layout) instead of training");
  s.analysis.add_to(app);
  examples::parse_or_exit(app, argc, argv);
  // Analysing a trained network writes beside it unless told otherwise.
  // There it continues the run that trained the network (whose summary it
  // keeps); any other folder must be free, as for every run.
  const bool analyse_only = !s.params.empty();
  if (analyse_only && app.count("--out") == 0)
    cli.out.dir = s.params.parent_path().empty() ? "." : s.params.parent_path();
  const bool in_place = analyse_only && fs::weakly_canonical(fs::absolute(s.params).parent_path()) ==
                                            fs::weakly_canonical(fs::absolute(cli.out.dir));
  if (analyse_only) cli.out.claim({"analysis.h5"}, in_place);
  else cli.prepare({"initial_params.h5", "analysis.h5"});
  s.analysis.length = s.length;

  cpu::context ctx;
  const std::uint64_t seed = cli.train.seed;
  Rng eval_rng(examples::eval_seed(seed));
  const SequenceBatch<float> eval = toy_language::review_batch<float>(
      toy_language::random_review_list(eval_rng, cli.eval_trials, s.length), s.input_noise, &eval_rng);

  nlohmann::json results;
  fs::path params_file = s.params;
  if (s.params.empty()) {
    Model model(cli.state_size, toy_language::vocabulary_size, 1);
    Rng init_rng(examples::init_seed(seed));
    model.initialize(ctx, init_rng, {});
    // Written by the run's start; a resumed run has them (and must not
    // write before its checkpoint is found sound).
    if (!cli.train.resume) {
      io::Dict initial;
      io::save_parameters(ctx, model.parameters(), initial);
      io::write_h5(cli.out / "initial_params.h5", initial);
    }
    Rng set_rng(examples::review_seed(seed));
    const auto start = std::chrono::steady_clock::now();
    const toy_language::ReviewSet train = toy_language::random_reviews(set_rng, s.train_reviews, s.length);
    const double generation_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    fmt::print("{} training reviews of {} words made in {:.3f} s; GRU n = {}, state noise {}\n", train.size(),
               s.length, generation_seconds, cli.state_size, cli.state_noise);
    const auto result = examples::train_on_fresh_batches(
        ctx, model,
        [&](Rng& rng) { return toy_language::sample_batch<float>(train, rng, cli.batch, s.input_noise); }, cli);
    const double eval_loss = evaluation_loss(ctx, model, eval);
    const HostMatrix<float> eval_out = download<cpu, float>(ctx, model.forward(ctx));
    fmt::print("evaluation (no L2, no state noise, {} fresh reviews): loss {:.5f}\n", cli.eval_trials, eval_loss);
    results = examples::write_supervised_outputs<Model, cpu, float>(
        ctx, model, cli, seed, result, eval, eval_out,
        {{"eval_loss", eval_loss},
         {"state_noise", cli.state_noise},
         {"train_reviews", s.train_reviews},
         {"train_reviews_seconds", generation_seconds}});
    params_file = cli.out / "params.h5";
  }

  const io::Dict dict = io::read_h5(params_file);
  const io::NetworkShape net = io::network_shape(dict);
  if (analyse_only) {
    require(net.cell == io::CellType::gru, params_file.string() + ": holds a " + io::cell_type_name(net.cell) +
                                               "; the toy language's network is a GRU (keys h0 wRUHX wCHX bRU bC wO bO)");
    // Loading into the toy's shape checks every key's shape (one input per
    // word, one output) and names the key and the shape it needs.
    Model model(net.state_size, toy_language::vocabulary_size, 1);
    io::load_parameters(ctx, dict, model.parameters());
    // Analysing the run that wrote this folder: keep its training results.
    const fs::path summary = cli.out / "summary.json";
    if (in_place && fs::exists(summary)) results = nlohmann::json::parse(std::ifstream(summary), nullptr, false);
    if (!results.is_object()) results = nlohmann::json::object();
    results["eval_loss"] = evaluation_loss(ctx, model, eval);
    fmt::print("{}: evaluation loss {:.5f} on {} fresh reviews\n", params_file.string(),
               results["eval_loss"].get<double>(), cli.eval_trials);
  }
  // The parameters before training, for the spectrum at h0, where they lie
  // beside the network: checked against its keys and shapes now, not after
  // the analysis.
  const fs::path initial_file = params_file.parent_path() / "initial_params.h5";
  io::Dict initial;
  if (fs::exists(initial_file)) {
    initial = io::read_h5(initial_file);
    Model before(net.state_size, toy_language::vocabulary_size, 1);
    io::load_parameters(ctx, initial, before.parameters());
    initial.refuse_keys_outside(dict.keys(), "a parameter of the trained network");
  }
  results["analysis"] = examples::analyse_toy_network(ctx, dict, initial.keys().empty() ? nullptr : &initial,
                                                      s.analysis, cli.out.dir);
  results["params"] = params_file.string();
  examples::write_json(cli.out / "summary.json", results);
  fmt::print("wrote {}\n", (cli.out / "summary.json").string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ctd::examples::run_program("contextual_toy", argc, argv, run); }
