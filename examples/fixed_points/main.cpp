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
#include "common/json_file.hpp"
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
  std::vector<double> tolerances{1e-4, 1e-5, 1e-6};
  FixedPointOptions finder;
  bool newton = true;
  NewtonOptions newton_options;
  std::uint64_t seed = 0;
  fs::path out = "out/fixed_points";
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

io::Array row_major(const HostMatrix<double>& m_by_points) {
  return io::to_array<double>(HostMatrix<double>(m_by_points.transpose()));
}
io::Array int_array(const std::vector<std::int64_t>& v) { return io::Array{{v.size()}, v}; }

double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// The hidden states of the network on `trials` trials of its task, trial
// by trial (column b*T + t is trial b after step t, as the tutorial
// reshapes (B, T, n)).
template <template <class, class> class Cell>
HostMatrix<float> task_states(cpu::context& ctx, const io::Dict& dict, const io::NetworkShape& net,
                              const Settings& s) {
  require(net.input_size == 1 && net.output_size == 1,
          "--task " + s.task + " needs a network with one input and one output, the file's has u = " +
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
  file.set("candidates", row_major(candidates.cast<double>()));
  file.set("candidate_readouts", row_major(candidate_readouts));
  file.set<double>("tolerances", {s.tolerances.size()}, s.tolerances);
  nlohmann::json per_tol = nlohmann::json::object();
  nlohmann::json last;
  for (const double tol : s.tolerances) {
    const std::string name = fmt::format("tol_{:.0e}", tol);
    FixedPointOptions opt = s.finder;
    opt.fp_tol = opt.stop_tol = tol;
    opt.progress = [&](const FinderProgress& p) {
      fmt::print("  [{}] step {:>5}/{}  mean speed {:.3e}  lr {:.3e}  {:.1f} steps/s\n", name, p.step, p.max_steps,
                 p.loss, p.learning_rate, p.seconds > 0 ? double(p.step) / p.seconds : 0.0);
      std::fflush(stdout);
    };
    fmt::print("tolerance {:.0e}: optimising {} candidates\n", tol, candidates.cols());
    FixedPointSearch search = find_fixed_points(ctx, map, candidates, input, opt);
    FixedPoints& fps = search.fixed_points;
    fmt::print("  kept {}/{} within tolerance, {} unique, {} after removing outliers\n", search.within_tolerance,
               search.candidates, search.unique, fps.size());
    const std::string g = name + "/";
    nlohmann::json info = {{"within_tolerance", search.within_tolerance},
                           {"unique", search.unique},
                           {"kept", fps.size()},
                           {"adam_steps", search.steps},
                           {"final_mean_speed", search.losses.empty() ? 0.0 : search.losses.back()},
                           {"adam_seconds", search.seconds}};
    // Newton refines a copy: the tutorial's analysis stays at the slow
    // points, and the refined points show which true fixed points they
    // belong to (on an approximate line attractor, a handful).
    if (s.newton && fps.size() > 0) {
      FixedPoints refined = fps;
      const NewtonReport newton = refine_newton(ctx, map64, refined, s.newton_options);
      std::vector<Index> converged;
      for (Index k = 0; k < refined.size(); ++k)
        if (newton.converged(k)) converged.push_back(k);
      FixedPoints certified = refined;
      certified.keep(converged);
      const Index distinct = Index(unique_points(certified.points, s.finder.unique_tol).size());
      std::vector<std::int64_t> iterations(newton.iterations.begin(), newton.iterations.end());
      file.set(g + "newton_points", row_major(refined.points));
      file.set(g + "newton_readouts", row_major(readout(refined.points)));
      file.set<double>(g + "newton_residuals", {newton.residual.size()}, newton.residual);
      file.set(g + "newton_iterations", int_array(iterations));
      file.set<double>(g + "smallest_singular_values", {newton.smallest_singular_value.size()},
                       newton.smallest_singular_value);
      file.set<double>(g + "newton_displacements", {newton.displacement.size()}, newton.displacement);
      info["newton_converged_fraction"] = newton.converged_fraction();
      info["newton_max_residual"] = newton.max_residual();
      info["newton_distinct_fixed_points"] = distinct;
      info["newton_median_displacement"] = median(newton.displacement);
      info["smallest_singular_value_median"] = median(newton.smallest_singular_value);
      fmt::print("  Newton: {:.1f}% below {:.0e} (max residual {:.2e}), median move {:.2e}, {} distinct fixed points\n",
                 100 * newton.converged_fraction(), newton.tolerance, newton.max_residual(),
                 median(newton.displacement), distinct);
    }
    LinearizeOptions lin_opt;
    lin_opt.eigenvectors = false;
    lin_opt.keep_jacobians = false;
    const Linearization lin = linearize(ctx, map64, fps.points, fps.inputs, lin_opt);
    const Index K = fps.size();
    HostMatrix<double> eig_re(n, K), eig_im(n, K);
    std::vector<std::int64_t> stability, unstable_modes, indices(fps.candidate_index.begin(), fps.candidate_index.end());
    std::vector<double> top_real;
    Index near_one = 0;
    for (Index k = 0; k < K; ++k) {
      const auto& e = lin.eigen[std::size_t(k)];
      eig_re.col(k) = e.values.real();
      eig_im.col(k) = e.values.imag();
      stability.push_back(std::int64_t(lin.stability[std::size_t(k)].kind));
      unstable_modes.push_back(lin.stability[std::size_t(k)].unstable_modes);
      top_real.push_back(e.values(0).real());
      near_one += std::abs(e.values(0).real() - 1.0) < 0.05;
    }
    const HostMatrix<double> readouts = readout(fps.points);
    file.set(g + "points", row_major(fps.points));
    file.set<double>(g + "speeds", {fps.speeds.size()}, fps.speeds);
    file.set(g + "candidate_indices", int_array(indices));
    file.set(g + "readouts", row_major(readouts));
    file.set(g + "eigenvalues_real", row_major(eig_re));
    file.set(g + "eigenvalues_imag", row_major(eig_im));
    file.set(g + "stability", int_array(stability));
    file.set(g + "unstable_modes", int_array(unstable_modes));
    file.set<double>(g + "adam_losses", {search.losses.size()}, search.losses);
    info["readout_min"] = K ? readouts.minCoeff() : std::nan("");
    info["readout_max"] = K ? readouts.maxCoeff() : std::nan("");
    info["top_eigenvalue_real_median"] = median(top_real);
    info["top_eigenvalue_within_0.05_of_1_fraction"] = K ? double(near_one) / double(K) : 0.0;
    info["stable"] = std::count(stability.begin(), stability.end(), std::int64_t(Stability::stable));
    info["saddles"] = std::count(stability.begin(), stability.end(), std::int64_t(Stability::saddle));
    fmt::print("  top eigenvalue: median real part {:.4f}, {}/{} within 0.05 of 1; readouts [{:.3f}, {:.3f}]\n",
               median(top_real), near_one, K, K ? readouts.minCoeff() : 0.0, K ? readouts.maxCoeff() : 0.0);
    per_tol[name] = info;
    last = info;
  }
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
      {"finest_tolerance", s.tolerances.back()},
      {"readout_min", last["readout_min"]},
      {"readout_max", last["readout_max"]},
      {"network_output_min", out_min},
      {"network_output_max", out_max},
      {"readout_coverage", coverage},
      {"top_eigenvalue_real_median", last["top_eigenvalue_real_median"]},
      {"top_eigenvalue_within_0.05_of_1_fraction", last["top_eigenvalue_within_0.05_of_1_fraction"]},
      {"newton", s.newton},
      {"seed", s.seed},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()}};
  if (s.newton) {
    summary["newton_tolerance"] = s.newton_options.tolerance;
    if (std::isfinite(s.newton_options.max_displacement))
      summary["newton_max_move"] = s.newton_options.max_displacement;
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
  app.add_option("--tolerances", s.tolerances, "speed tolerances (fp_tol = stop tolerance), one run each")
      ->capture_default_str()
      ->check(examples::positive)
      ->delimiter(',');
  app.add_option("--unique-tol", s.finder.unique_tol, "distance under which points are duplicates")
      ->capture_default_str()
      ->check(examples::positive);
  app.add_option("--outlier-tol", s.finder.outlier_tol, "points with no neighbour this close are dropped")
      ->capture_default_str()
      ->check(examples::positive);
  app.add_option("--noise-var", s.finder.noise_var, "variance of Gaussian noise added to the candidates")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--max-steps", s.finder.max_steps, "Adam steps at most")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--check-every", s.finder.check_every, "steps between stop checks")
      ->capture_default_str()
      ->check(examples::positive);
  app.add_option("--lr0", s.finder.adam.lr0, "Adam learning rate at step 0")->capture_default_str()->check(examples::positive);
  app.add_option("--decay", s.finder.adam.decay, "learning-rate decay per step")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1.0));
  app.add_flag("--newton,!--no-newton", s.newton, "refine the points with Newton's method (--no-newton skips it)")
      ->capture_default_str();
  app.add_option("--newton-iterations", s.newton_options.max_iterations, "Newton iterations at most")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  app.add_option("--newton-max-move", s.newton_options.max_displacement,
                 "how far Newton may move a point (default: unlimited; --unique-tol certifies a point only where it is)")
      ->check(examples::positive);
  app.add_option("--seed", s.seed, "seed of the task trials and the candidate noise")->capture_default_str();
  app.add_option("--out", s.out, "output folder")->capture_default_str();
  examples::parse_or_exit(app, argc, argv);
  s.finder.seed = Rng::bits_at(s.seed, 1);
  if (s.tolerances.empty()) {
    std::cerr << "fixed_points: --tolerances needs at least one value\n\n" << app.help();
    return 2;
  }

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
  fs::create_directories(s.out);
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

int main(int argc, char** argv) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "fixed_points: " << e.what() << '\n';
    return 1;
  }
}
