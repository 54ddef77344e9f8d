#pragma once
// The fixed-point tutorial's procedure as the example programs run it: the
// finder at each tolerance, Newton refinement of a copy in double, and the
// linearisation of the kept points, with every result written into one
// HDF5 dict (a group per tolerance, e.g. /tol_1e-06/points) and a JSON
// summary per tolerance.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/core.h>
#include <nlohmann/json.hpp>

#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/analysis/linearization.hpp"
#include "common/cli.hpp"
#include "ctd/analysis/newton.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/parameters_io.hpp"

namespace ctd::examples {

struct FixedPointSettings {
  std::vector<double> tolerances{1e-4, 1e-5, 1e-6};
  FixedPointOptions finder;
  bool newton = true;
  NewtonOptions newton_options;

  // Registers the finder's options, each named --<prefix><name> (the
  // defaults are what the fields hold).
  void add_to(CLI::App& app, const std::string& prefix = "") {
    app.add_option("--" + prefix + "tolerances", tolerances, "speed tolerances (fp_tol = stop tolerance), one run each")
        ->capture_default_str()
        ->check(examples::positive)
        ->delimiter(',');
    app.add_option("--" + prefix + "unique-tol", finder.unique_tol, "distance under which points are duplicates")
        ->capture_default_str()
        ->check(examples::positive);
    app.add_option("--" + prefix + "outlier-tol", finder.outlier_tol, "points with no neighbour this close are dropped")
        ->capture_default_str()
        ->check(examples::positive);
    app.add_option("--" + prefix + "noise-var", finder.noise_var, "variance of Gaussian noise added to the candidates")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--" + prefix + "max-steps", finder.max_steps, "Adam steps at most")->capture_default_str()->check(CLI::NonNegativeNumber);
    app.add_option("--" + prefix + "check-every", finder.check_every, "steps between stop checks")
        ->capture_default_str()
        ->check(examples::positive);
    app.add_option("--" + prefix + "lr0", finder.adam.lr0, "Adam learning rate at step 0")->capture_default_str()->check(examples::positive);
    app.add_option("--" + prefix + "decay", finder.adam.decay, "learning-rate decay per step")
        ->capture_default_str()
        ->check(CLI::Range(0.0, 1.0));
    app.add_flag("--" + prefix + "newton,!--" + prefix + "no-newton", newton, "refine the points with Newton's method (--no-newton skips it)")
        ->capture_default_str();
    app.add_option("--" + prefix + "newton-iterations", newton_options.max_iterations, "Newton iterations at most")
        ->capture_default_str()
        ->check(CLI::NonNegativeNumber);
    app.add_option("--" + prefix + "newton-max-move", newton_options.max_displacement,
                   "how far Newton may move a point (default: unlimited; --unique-tol certifies a point only where it is)")
        ->check(examples::positive);
  }
};

inline io::Array row_major(const HostMatrix<double>& m_by_points) {
  return io::to_array<double>(HostMatrix<double>(m_by_points.transpose()));
}
inline io::Array int_array(const std::vector<std::int64_t>& v) { return io::Array{{v.size()}, v}; }

inline double median(std::vector<double> v) {
  if (v.empty()) return std::nan("");
  std::sort(v.begin(), v.end());
  const std::size_t m = v.size() / 2;
  return v.size() % 2 ? v[m] : 0.5 * (v[m - 1] + v[m]);
}

// The JSON summary of every tolerance, and of the finest (last) one.
struct FixedPointReport {
  nlohmann::json per_tolerance = nlohmann::json::object();
  nlohmann::json last;            // the last tolerance's entry
  HostMatrix<double> last_points;  // and its points (n x K)
};

// Runs the procedure at every tolerance of `s` on the maps (map for the
// finder, map64 for Newton and the linearisation) from `candidates` with
// the fixed input `input` (u x 1); `readout` maps states (n x K) to the
// network's outputs.
template <class Map, class Map64>
FixedPointReport fixed_points_at_tolerances(cpu::context& ctx, const Map& map, const Map64& map64,
                                            const HostMatrix<float>& candidates, const HostMatrix<float>& input,
                                            const FixedPointSettings& s,
                                            const std::function<HostMatrix<double>(const HostMatrix<double>&)>& readout,
                                            io::Dict& file) {
  const Index n = map.state_size();
  require(!s.tolerances.empty(), "the fixed-point search needs at least one tolerance");
  FixedPointReport report;
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
    lin_opt.keep_jacobians = false;
    lin_opt.eigenvectors = false;
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
    report.per_tolerance[name] = info;
    report.last = info;
    report.last_points = fps.points;
  }
  return report;
}

}  // namespace ctd::examples
