// Fixed-point finder workloads (reference workload c, wl_fixed_points.py):
// a random tutorial GRU (n = 100, u = 1), 10000 candidates from 400 decision
// trials x 25 steps, F = one step at x* = 0.
//   1. one Adam step of the finder on all 10000 candidates;
//   2. dF/dh at 300 points (float, analytic, batched);
//   3. eigen-decompositions of those 300 Jacobians (double, eigenvalues,
//      R sorted and L = pinv(R)^T, as the tutorial's loop);
//   4. both together (linearize): Jacobians plus eigen-decompositions.
// Ours, the tutorial's own JAX code (jit-compiled, on this CPU) and the
// PyTorch/NumPy reference are timed in the same invocation.
//
//   bench_fixed_points [--json out.json] [--busy-cores C] [--no-reference]
//
// --busy-cores C: C other processes keep a core busy each for the whole
// run, as in bench_training.
#include <string>
#include <vector>

#include <fmt/core.h>

#include "common/harness.hpp"
#include "common/options.hpp"
#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/analysis/linearization.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/rnn_regressor.hpp"

using namespace ctd;

int main(int argc, char** argv) {
  bench::Options options("");
  CLI::App app{"The fixed-point finder's Adam step, Jacobians and eigen-decompositions against JAX and PyTorch",
               "bench_fixed_points"};
  options.add_to(app);
  options.add_busy_cores_to(app);
  examples::parse_or_exit(app, argc, argv);
  const bench::CompetingLoad load(options.busy_cores);
  const Index n = 100, u = 1, trials = 400, points = 300;
  cpu::context ctx;
  Rng rng(0);
  RnnRegressor<GruCell, cpu, float> model(n, u, 1);
  model.initialize(ctx, rng, {1.0f, 1.0f, 0.1f});
  model.load(ctx, decision_batch<float>(rng, trials));
  model.forward(ctx);
  const HostMatrix<float> candidates = download<cpu, float>(ctx, model.states());  // 25 x 400 steps
  StepMap<GruCell<cpu, float>> map(GruCell<cpu, float>(n, u), model.cell_values());
  const HostMatrix<float> zero = HostMatrix<float>::Zero(u, 1);

  std::vector<bench::Row> rows;
  FixedPointOptions opt;  // the tutorial's Adam: lr 0.2 * 0.9999^i, eps 1e-5
  FixedPointOptimizer<StepMap<GruCell<cpu, float>>> optimizer(ctx, map, candidates, zero, opt);
  const double fwd_bwd_flops = 2.0 * 6.0 * double(candidates.cols()) * n * (n + u);
  rows.push_back({"c fixed-point Adam step", "10000 x 100, float", bench::time_ms([&] { optimizer.step(ctx); }, 3, 60),
                  "torch autograd + Adam", {}, fwd_bwd_flops});
  rows.push_back({"c fixed-point Adam step", "10000 x 100, float", rows.back().ours,
                  "jax: seed optimize_fp_core_jit", {}, fwd_bwd_flops});
  rows.push_back({"c fixed-point Adam step", "10000 x 100, float", rows.back().ours,
                  "tutorial, JAX on a 2019 GPU: 200 steps in 0.8 s", 4.0, fwd_bwd_flops});

  // 300 points after a few steps, as the reference takes them.
  const HostMatrix<float> pts = optimizer.points(ctx).leftCols(points);
  const Matrix<cpu, float> pts_dev = upload<cpu, float>(ctx, pts);
  const Matrix<cpu, float> x_dev = upload<cpu, float>(ctx, HostMatrix<float>::Zero(u, points));
  HostMatrix<float> J;
  Scratch<cpu, float> scratch;  // the Jacobians' temporaries, reused by every call
  rows.push_back({"c 300 Jacobians dF/dh", "analytic, batched, float",
                  bench::time_ms([&] { map.jacobians(ctx, pts_dev.view(), x_dev.view(), &J, nullptr, scratch); }, 2, 30),
                  "functorch vmap(jacrev) (seed's form)", {}, 2.0 * n * n * n * points});
  rows.push_back({"c 300 Jacobians dF/dh", "analytic, batched, float", rows.back().ours,
                  "jax: seed jit(vmap(jacrev(F)))", {}, 2.0 * n * n * n * points});
  std::vector<EigenDecomposition> eig(points);
  const auto decompose = [&](bool vectors) {
    parallel_points(points, "bench", [&](Index p) {
      eig[std::size_t(p)] = eigen_decomposition(J.middleCols(p * n, n), EigenOrder::real_part, vectors);
    });
  };
  rows.push_back({"c 300 eig (values, R, L)", "Eigen float, threaded", bench::time_ms([&] { decompose(true); }, 1, 10),
                  "seed loop: eig + argsort + pinv(R)", {}, 0});
  rows.push_back({"c 300 eig (values, R, L)", "Eigen float, threaded", rows.back().ours,
                  "numpy.linalg.eig stacked (300,100,100)", {}, 0});
  rows.push_back({"c 300 eig (values, R, L)", "Eigen float, threaded", rows.back().ours,
                  "jax: seed compute_eigenvalue_decomposition", {}, 0});
  rows.push_back({"c 300 eig (values, R, L)", "Eigen float, threaded", rows.back().ours,
                  "jax: jit(jnp.linalg.eig) stacked, float32", {}, 0});
  rows.push_back({"c 300 eig (values only)", "Eigen float, threaded", bench::time_ms([&] { decompose(false); }, 1, 10),
                  "numpy.linalg.eig stacked (300,100,100)", {}, 0});
  const HostMatrix<double> pts64 = pts.cast<double>(), x64 = HostMatrix<double>::Zero(u, points);
  LinearizeOptions lin;
  lin.keep_jacobians = false;
  rows.push_back({"c 300 Jacobians + eig", "linearize(), R and L",
                  bench::time_ms([&] { linearize(ctx, map, pts64, x64, lin); }, 1, 10),
                  "vmap(jacrev) + seed loop (eig, pinv)", {}, 0});
  rows.push_back({"c 300 Jacobians + eig", "linearize(), R and L", rows.back().ours,
                  "jax: vmap(jacrev) + seed loop (eig, pinv)", {}, 0});

  if (options.reference) {
    const auto ref = bench::run_reference("c");
    const auto jax_ref = bench::run_jax_reference("c,c_eig", 20);
    for (auto& r : rows) {
      if (r.theirs_ms) continue;
      // A label beginning "jax: " names a row of the JAX reference.
      const bool jax = r.theirs_label.rfind("jax: ", 0) == 0;
      const auto& theirs = jax ? jax_ref : ref;
      if (r.workload == "c 300 Jacobians + eig") {
        const auto jac = bench::reference_ms(theirs, "c_fixed_point_300_jacobians",
                                             jax ? "jax: seed jit(vmap(jacrev(F)))" : "functorch vmap(jacrev) (seed's form)");
        const auto loop = bench::reference_ms(theirs, "c_fixed_point_300_eig",
                                              jax ? "jax: seed compute_eigenvalue_decomposition" : "seed loop: eig + argsort + pinv(R)");
        if (jac && loop) r.theirs_ms = *jac + *loop;
      } else {
        const std::string workload = r.workload.rfind("c fixed-point Adam", 0) == 0 ? "c_fixed_point_adam_step"
                                     : r.workload.rfind("c 300 Jacobians", 0) == 0 ? "c_fixed_point_300_jacobians"
                                                                                    : "c_fixed_point_300_eig";
        r.theirs_ms = bench::reference_ms(theirs, workload, r.theirs_label);
      }
    }
  }
  fmt::print("threads: {} (the CPU context's, OMP_NUM_THREADS); built with {}\n", ctx.threads,
#ifdef __AVX512F__
             "AVX-512"
#elif defined(__AVX2__)
             "AVX2"
#else
             "no AVX2"
#endif
  );
  bench::report(rows, options.json);
  return 0;
}
