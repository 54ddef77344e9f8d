// fixed_points — the fixed-point tutorial (SPEC §5) on a trained network:
// candidates from the network's hidden states on its task, the finder at
// the tutorial's tolerances, Newton refinement in double, linearisation.
//
//   fixed_points                                   # decision GRU of decision_gru
//   fixed_points --task integrator --params out/integrator_rnn/params.h5
//   fixed_points --candidates states.h5 --candidates-key hiddens
//
// Writes fixed_points.h5 (one group per tolerance, e.g. /tol_1e-06/points)
// and summary.json into --out; plot.py beside this file draws the figures.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "common/cli.hpp"
#include "common/fixed_point_report.hpp"
#include "common/json_file.hpp"
#include "common/output_folder.hpp"
#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/analysis/linearization.hpp"
#include "ctd/analysis/newton.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/states_file.hpp"
#include "ctd/io/trained_network.hpp"
#include "ctd/tasks/white_noise.hpp"

using namespace ctd;
namespace fs = std::filesystem;

namespace {

struct Settings {
  std::string task = "decision";
  fs::path params;  // default: follows the task
  fs::path candidates;
  std::string candidates_key = "candidates";
  Index trials = 400;
  double input = 0;  // x*, every input dimension
  examples::FixedPointSettings fixed_points;
  std::uint64_t seed = 0;
  examples::OutputFolder out{"out/fixed_points"};
};

// The trained network the task's tutorial program writes, and how to make it.
struct DefaultNetwork {
  fs::path params;
  std::string command;
};
DefaultNetwork default_network(const std::string& task) {
  if (task == "integrator")
    return {"out/integrator_rnn/params.h5", "build/bin/integrator_rnn --out out/integrator_rnn"};
  return {"out/decision_gru/params.h5", "build/bin/decision_gru --out out/decision_gru"};
}

// The hidden states of the network on `trials` trials of its task, trial
// by trial (column b*T + t is trial b after step t, as the tutorial
// reshapes (B, T, n)).
template <template <class, class> class Cell>
HostMatrix<float> task_states(cpu::context& ctx, const io::Dict& dict, const io::NetworkShape& net,
                              const Settings& s) {
  require(net.input_size == 1 && net.output_size == 1,
          dict.source() + ": --task " + s.task + " needs a network with one input and one output, this one has u = " +
              std::to_string(net.input_size) + ", o = " + std::to_string(net.output_size));
  RnnRegressor<Cell, cpu, float> model(net.state_size, net.input_size, net.output_size);
  io::load_parameters(ctx, dict, model.parameters());
  Rng rng(s.seed);
  const WhiteNoiseOptions task;
  model.load(ctx, s.task == "integrator" ? integrator_batch<float>(rng, s.trials, task)
                                         : decision_batch<float>(rng, s.trials, task));
  model.forward(ctx);
  const HostMatrix<float> states = download<cpu, float>(ctx, model.states());
  const Index T = task.steps, B = s.trials;
  HostMatrix<float> out(states.rows(), T * B);
  for (Index b = 0; b < B; ++b)
    for (Index t = 0; t < T; ++t) out.col(b * T + t) = states.col(t * B + b);
  return out;
}

template <template <class, class> class Cell>
nlohmann::json analyse(cpu::context& ctx, const io::Dict& dict, const io::NetworkShape& net, const Settings& s) {
  const auto start = std::chrono::steady_clock::now();
  const Index units = net.state_size, u = net.input_size;
  Parameters<cpu, float> params = io::load_network<cpu, float>(ctx, dict, net);
  Parameters<cpu, double> params64 = io::load_network<cpu, double>(ctx, dict, net);
  const StepMap<Cell<cpu, float>> map(Cell<cpu, float>(units, u), bind_values<Cell<cpu, float>>(params));
  const StepMap<Cell<cpu, double>> map64(Cell<cpu, double>(units, u), bind_values<Cell<cpu, double>>(params64));
  // The state the analysis sees: the cell's whole state ([h; c] for an
  // LSTM); the readout reads its leading `units` rows.
  const Index n = map.state_size();
  const HostMatrix<double> wO = download<cpu, double>(ctx, params64.value("wO"));
  const HostMatrix<double> bO = download<cpu, double>(ctx, params64.value("bO"));
  const auto readout = [&](const HostMatrix<double>& h) {
    return HostMatrix<double>((wO * h.topRows(units)).colwise() + bO.col(0));
  };

  HostMatrix<float> candidates;
  if (!s.candidates.empty()) {
    candidates = io::read_states<float>(io::read_h5(s.candidates), s.candidates_key, n);
    fmt::print("{} candidates from {} (key '{}')\n", candidates.cols(), s.candidates.string(), s.candidates_key);
  } else {
    candidates = task_states<Cell>(ctx, dict, net, s);
    fmt::print("{} candidates: hidden states of {} {} trials x 25 steps\n", candidates.cols(), s.trials, s.task);
  }
  const HostMatrix<double> candidate_readouts = readout(candidates.cast<double>());
  const HostMatrix<float> input = HostMatrix<float>::Constant(u, 1, float(s.input));

  io::Dict file;
  file.set("candidates", examples::row_major(candidates.cast<double>()));
  file.set("candidate_readouts", examples::row_major(candidate_readouts));
  file.set<double>("tolerances", {s.fixed_points.tolerances.size()}, s.fixed_points.tolerances);
  const examples::FixedPointReport report =
      examples::fixed_points_at_tolerances(ctx, map, map64, candidates, input, s.fixed_points, readout, file);
  const nlohmann::json& per_tol = report.per_tolerance;
  const nlohmann::json& last = report.last;
  io::write_h5(s.out / "fixed_points.h5", file);

  nlohmann::json counts = nlohmann::json::object();
  for (const auto& [name, info] : per_tol.items()) counts[name] = info["unique"];
  const double out_min = candidate_readouts.minCoeff(), out_max = candidate_readouts.maxCoeff();
  const double coverage = (last["readout_max"].get<double>() - last["readout_min"].get<double>()) /
                          std::max(out_max - out_min, 1e-300);
  nlohmann::json summary = {
      {"cell", io::cell_type_name(net.cell)},
      {"state_size", n},
      {"candidates", candidates.cols()},
      {"counts", counts},
      {"per_tolerance", per_tol},
      {"finest_tolerance", s.fixed_points.tolerances.back()},
      {"readout_min", last["readout_min"]},
      {"readout_max", last["readout_max"]},
      {"network_output_min", out_min},
      {"network_output_max", out_max},
      {"readout_coverage", coverage},
      {"top_eigenvalue_real_median", last["top_eigenvalue_real_median"]},
      {"top_eigenvalue_within_0.05_of_1_fraction", last["top_eigenvalue_within_0.05_of_1_fraction"]},
      {"newton", s.fixed_points.newton},
      {"seed", s.seed},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  if (s.fixed_points.newton) {
    summary["newton_tolerance"] = s.fixed_points.newton_options.tolerance;
    if (std::isfinite(s.fixed_points.newton_options.max_displacement))
      summary["newton_max_move"] = s.fixed_points.newton_options.max_displacement;
    summary["newton_converged_fraction"] = last.value("newton_converged_fraction", 0.0);
    summary["newton_max_residual"] = last.value("newton_max_residual", 0.0);
    summary["newton_distinct_fixed_points"] = last.value("newton_distinct_fixed_points", Index(0));
  }
  return summary;
}

int run(int argc, char** argv) {
  CLI::App app{"Fixed points and linearisation of a trained network (the fixed-point tutorial)"};
  Settings s;
  app.add_option("--task", s.task, "task whose trials make the candidates")
      ->capture_default_str()
      ->check(CLI::IsMember({"decision", "integrator"}));
  app.add_option("--params", s.params,
                 "trained network (HDF5, tutorial layout); default out/decision_gru/params.h5, or "
                 "out/integrator_rnn/params.h5 with --task integrator");
  app.add_option("--candidates", s.candidates, "read the candidates from this HDF5 file instead");
  app.add_option("--candidates-key", s.candidates_key, "their key: (N, n) or (B, T, n)")->capture_default_str();
  app.add_option("--trials", s.trials, "task trials that make the candidates (x 25 steps)")
      ->capture_default_str()
      ->check(examples::positive);
  app.add_option("--input", s.input, "the constant input x* of the fixed points")->capture_default_str();
  s.fixed_points.add_to(app);
  app.add_option("--seed", s.seed, "seed of the task trials and the candidate noise")->capture_default_str();
  s.out.add_to(app);
  examples::parse_or_exit(app, argc, argv);
  s.fixed_points.finder.seed = Rng::bits_at(s.seed, 1);
  if (s.fixed_points.tolerances.empty()) {
    std::cerr << "fixed_points: --tolerances needs at least one value\n\n" << app.help();
    return 2;
  }

  s.out.claim({"fixed_points.h5"}, false);

  const DefaultNetwork fallback = default_network(s.task);
  if (s.params.empty()) {
    s.params = fallback.params;
    require(fs::exists(s.params), s.params.string() + " not found: train the network first with `" +
                                      fallback.command + "` (or name a file with --params)");
  }
  const io::Dict dict = io::read_h5(s.params);
  const io::NetworkShape net = io::network_shape(dict);
  fmt::print("{}: {} with n = {}, u = {}, o = {}\n", s.params.string(), io::cell_type_name(net.cell), net.state_size,
             net.input_size, net.output_size);
  cpu::context ctx;
  const nlohmann::json summary = net.cell == io::CellType::gru    ? analyse<GruCell>(ctx, dict, net, s)
                                 : net.cell == io::CellType::lstm ? analyse<LstmCell>(ctx, dict, net, s)
                                                                  : analyse<VanillaRnnCell>(ctx, dict, net, s);
  examples::write_json(s.out / "summary.json", summary);
  fmt::print("wrote {} and {} ({:.1f} s)\n", (s.out / "fixed_points.h5").string(), (s.out / "summary.json").string(),
             summary["seconds"].get<double>());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ctd::examples::run_program("fixed_points", argc, argv, run); }
