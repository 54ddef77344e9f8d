// force_esn — the FORCE tutorial (SPEC §1c, §2c, §4): a 500-unit echo-state
// network (g = 1.5) learns, by recursive least squares on its fed-back
// readout, to reproduce 20 hidden units of a more chaotic teacher ESN
// (g = 1.8): 15 training passes over the 300-step target, each from a0 with
// P and wO carried over, then a test pass without learning.
//
//   force_esn --out out/force_esn            # tutorial defaults
//   python3 examples/force_esn/plot.py out/force_esn
//
// Writes force.h5 (targets, outputs before/after training and of every
// training pass, the student's a0 wI wR wO wF, the untrained readout, the
// eigenvalues of wR and of wR + wF wO) and summary.json.
//
// Precision: float32. It runs a pass twice as fast as float64 (P, 1 MB in
// float, is streamed twice per step), reaches the same error, and its P stays
// symmetric positive definite over 300 passes (tests/test_force.cpp).
//
// Threads: two by default where OpenMP sees two cores (OMP_NUM_THREADS).
// They share each step's large products (a pass 7.2 ms against 10.7 on one
// thread on the Xeon VM); where another process holds a core the pass runs
// at about one thread's speed (benchmarks/RESULTS.md).
#include <algorithm>
#include <chrono>

#include <Eigen/Eigenvalues>
#include <fmt/core.h>
#include <omp.h>

#include "common/cli.hpp"
#include "common/json_file.hpp"
#include "common/output_folder.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/force/force_trainer.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/parameters_io.hpp"
#include "ctd/tasks/chaotic_teacher.hpp"

using namespace ctd;
using Esn = EsnCell<cpu, float>;

namespace {

// (m x T) outputs -> (T, m) row-major, as the tutorial stores time series.
io::Array time_series(const HostMatrix<float>& x) { return io::to_array<float>(x.transpose()); }

// Eigenvalues as an (n, 2) array of (real, imaginary) parts.
io::Array eigenvalues(const HostMatrix<float>& w) {
  const Eigen::EigenSolver<Eigen::MatrixXd> solver(w.cast<double>(), false);
  HostMatrix<double> ev(w.rows(), 2);
  ev.col(0) = solver.eigenvalues().real();
  ev.col(1) = solver.eigenvalues().imag();
  return io::to_array<double>(ev);
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0.0 : v[v.size() / 2];
}

int run(int argc, char** argv) {
  CLI::App app{"FORCE learning: train a chaotic echo-state network's readout by RLS to reproduce a chaotic teacher"};
  ChaoticTeacherOptions teacher;
  Index n = 500;
  double g = 1.5;
  ForceOptions force;
  Index passes = 15;
  std::uint64_t seed = 0;
  int threads = std::min(2, omp_get_max_threads());
  examples::OutputFolder out{"out/force_esn"};
  app.add_option("--n", n, "student reservoir size")->capture_default_str()->check(examples::positive);
  app.add_option("--m", teacher.outputs, "outputs: the teacher's first m hidden units")
      ->capture_default_str()->check(examples::positive);
  app.add_option("--g", g, "student recurrent gain")->capture_default_str()->check(examples::positive);
  app.add_option("--teacher-n", teacher.n, "teacher reservoir size")->capture_default_str()->check(examples::positive);
  app.add_option("--teacher-g", teacher.g, "teacher recurrent gain")->capture_default_str()->check(examples::positive);
  app.add_option("--dt-over-tau", teacher.dt_over_tau, "Euler step dt/tau (student and teacher)")
      ->capture_default_str()->check(examples::positive);
  app.add_option("--steps", teacher.steps, "time steps per pass")->capture_default_str()->check(examples::positive);
  app.add_option("--passes", passes, "training passes")->capture_default_str()->check(CLI::NonNegativeNumber);
  app.add_option("--update-every", force.update_every, "RLS update every k steps (the paper used 2)")
      ->capture_default_str()->check(examples::positive);
  app.add_option("--p0-diagonal", force.rls.p0_diagonal,
                 "P(0) = p0_diagonal * I (the tutorial's alpha; the paper's and reservoirpy's 1/alpha)")
      ->capture_default_str()->check(examples::positive);
  app.add_option("--seed", seed, "seed of the teacher and the student")->capture_default_str();
  app.add_option("--threads", threads,
                 "threads sharing each step's large products (wR h, P h, P's update)")
      ->capture_default_str()->check(examples::positive);
  out.add_to(app);
  examples::parse_or_exit(app, argc, argv);
  out.claim({"force.h5"}, false);

  const auto start = std::chrono::steady_clock::now();
  cpu::context ctx(1, threads);  // one trajectory: no trials to share out, only its products
  Rng rng(seed);
  const HostMatrix<float> targets = chaotic_teacher_targets<cpu, float>(ctx, rng, teacher);
  const Index m = teacher.outputs, T = teacher.steps;
  const Esn cell(n, 1, m, float(teacher.dt_over_tau));
  Parameters<cpu, float> params(Esn::specs(n, 1, m));
  const auto w = bind_values<Esn>(params);
  Esn::Init init;
  init.g = float(g);
  Esn::initialize(ctx, w, rng, init);
  const HostMatrix<float> wO_initial = download<cpu, float>(ctx, w.wO);

  ForceTrainer<cpu, float> trainer(ctx, cell, w, targets, {}, force);
  const double rms_before = trainer.test_pass(ctx);
  const HostMatrix<float> outputs_before = download<cpu, float>(ctx, trainer.outputs());
  fmt::print("FORCE: student n {} (g {}), teacher n {} (g {}), m {}, {} steps per pass, RLS every {} step(s)\n", n, g,
             teacher.n, teacher.g, m, T, force.update_every);
  fmt::print("before training: RMS error {:.4f}\n", rms_before);

  std::vector<double> train_rms, pass_ms;
  std::vector<float> train_outputs;  // (passes, T, m)
  train_outputs.reserve(std::size_t(passes * T * m));
  for (Index pass = 0; pass < passes; ++pass) {
    const auto t0 = std::chrono::steady_clock::now();
    train_rms.push_back(trainer.train_pass(ctx));
    pass_ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    const HostMatrix<float> z = download<cpu, float>(ctx, trainer.outputs());
    for (Index t = 0; t < T; ++t)
      for (Index i = 0; i < m; ++i) train_outputs.push_back(z(i, t));
    fmt::print("pass {:>3}/{}  train RMS error {:.5f}  {:.1f} ms/pass\n", pass + 1, passes, train_rms.back(),
               pass_ms.back());
    std::fflush(stdout);
  }
  const auto t0 = std::chrono::steady_clock::now();
  const double rms_test = trainer.test_pass(ctx);
  const double test_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  const HostMatrix<float> outputs_after = download<cpu, float>(ctx, trainer.outputs());
  fmt::print("test pass (no learning): RMS error {:.5f}\n", rms_test);

  io::Dict d;
  io::save_parameters(ctx, params, d);
  d.set("wO_initial", io::to_array<float>(wO_initial));
  d.set("targets", time_series(targets));
  d.set("outputs_before", time_series(outputs_before));
  d.set("outputs_after", time_series(outputs_after));
  d.set<float>("outputs_train", {std::size_t(passes), std::size_t(T), std::size_t(m)}, std::move(train_outputs));
  d.set<double>("train_rms_error", {train_rms.size()}, train_rms);
  d.set<double>("dt_over_tau", {}, {teacher.dt_over_tau});
  const HostMatrix<float> wR = download<cpu, float>(ctx, w.wR);
  const HostMatrix<float> loop = wR + download<cpu, float>(ctx, w.wF) * download<cpu, float>(ctx, w.wO);
  d.set("eigenvalues_wR", eigenvalues(wR));
  d.set("eigenvalues_wR_wF_wO", eigenvalues(loop));
  io::write_h5(out / "force.h5", d);

  const nlohmann::json summary = {
      {"train_rms_error_last_pass", train_rms.empty() ? nlohmann::json() : nlohmann::json(train_rms.back())},
      {"test_rms_error", rms_test},
      {"rms_error_before_training", rms_before},
      {"train_rms_error_per_pass", train_rms},
      {"passes", passes},
      {"steps_per_pass", T},
      {"ms_per_training_pass", median(pass_ms)},
      {"ms_per_test_pass", test_ms},
      {"seconds", std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()},
      {"n", n},
      {"m", m},
      {"g", g},
      {"teacher_n", teacher.n},
      {"teacher_g", teacher.g},
      {"dt_over_tau", teacher.dt_over_tau},
      {"update_every", force.update_every},
      {"p0_diagonal", force.rls.p0_diagonal},
      {"precision", "float32"},
      {"threads", threads},
      {"seed", seed},
  };
  examples::write_json(out / "summary.json", summary);
  fmt::print("wrote {} and {}\n", (out / "force.h5").string(), (out / "summary.json").string());
  return 0;
}

}  // namespace

int main(int argc, char** argv) { return ctd::examples::run_program("force_esn", argc, argv, run); }
