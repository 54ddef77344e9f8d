// Tests for ctd/force/force_trainer.hpp and ctd/tasks/chaotic_teacher.hpp
// (SPEC §1c, §4): FORCE learns a sum of sines and the tutorial's chaotic
// teacher in float (the example's precision), P stays symmetric positive
// definite over long runs, passes restart from a0 while P and wO persist,
// and bad input is refused with a clear error.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <numbers>

#include <Eigen/Eigenvalues>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/force/force_trainer.hpp"
#include "ctd/tasks/chaotic_teacher.hpp"

using ctd::cpu;
using ctd::HostMatrix;
using ctd::Index;
using Catch::Matchers::Contains;

namespace {

template <class S>
struct Student {
  using Esn = ctd::EsnCell<cpu, S>;
  cpu::context ctx;
  Esn cell;
  ctd::Parameters<cpu, S> params;
  typename Esn::Tensors w;
  Student(Index n, Index m, double g, ctd::Rng& rng, double dt_over_tau = 0.1)
      : cell(n, 1, m, S(dt_over_tau)), params(Esn::specs(n, 1, m)), w(bind_values<Esn>(params)) {
    typename Esn::Init init;
    init.g = S(g);
    Esn::initialize(ctx, w, rng, init);
  }
};

// (m x T) sums of three sines with periods of 60, 30 and 20 steps,
// a different phase per output.
HostMatrix<float> sum_of_sines(Index m, Index T) {
  HostMatrix<float> f(m, T);
  const double two_pi = 2 * std::numbers::pi;
  for (Index i = 0; i < m; ++i)
    for (Index t = 0; t < T; ++t) {
      const double s = double(t + 1), phase = 0.7 * double(i);
      f(i, t) = float(0.5 * std::sin(two_pi * s / 60 + phase) + 0.3 * std::sin(two_pi * s / 30) +
                      0.2 * std::sin(two_pi * s / 20 + 2 * phase));
    }
  return f;
}

double min_eigenvalue(const HostMatrix<float>& P) {
  return Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(P.cast<double>()).eigenvalues().minCoeff();
}

}  // namespace

TEST_CASE("FORCE learns a sum of sines", "[force]") {
  ctd::Rng rng(1);
  Student<float> net(300, 2, 1.5, rng);
  const HostMatrix<float> f = sum_of_sines(2, 300);
  ctd::ForceTrainer<cpu, float> trainer(net.ctx, net.cell, net.w, f);
  const double before = trainer.test_pass(net.ctx);
  double first = 0, last = 0;
  for (int pass = 0; pass < 15; ++pass) {
    last = trainer.train_pass(net.ctx);
    if (pass == 0) first = last;
  }
  const double test = trainer.test_pass(net.ctx);
  INFO("test RMS before " << before << ", first pass " << first << ", last pass " << last << ", test " << test);
  CHECK(before > 0.3);
  CHECK(last < first);
  CHECK(test < 0.05);
}

TEST_CASE("FORCE with RLS every second step also learns", "[force]") {
  ctd::Rng rng(2);
  Student<float> net(300, 1, 1.5, rng);
  ctd::ForceOptions opt;
  opt.update_every = 2;
  ctd::ForceTrainer<cpu, float> trainer(net.ctx, net.cell, net.w, sum_of_sines(1, 300), {}, opt);
  for (int pass = 0; pass < 15; ++pass) trainer.train_pass(net.ctx);
  CHECK(trainer.test_pass(net.ctx) < 0.05);
}

TEST_CASE("FORCE learns the tutorial's chaotic teacher", "[force]") {
  cpu::context ctx;
  ctd::Rng rng(0);
  const HostMatrix<float> f = ctd::chaotic_teacher_targets<cpu, float>(ctx, rng);
  REQUIRE(f.rows() == 20);
  REQUIRE(f.cols() == 300);
  CHECK(f.cwiseAbs().maxCoeff() <= 1.0f);  // hidden units of a tanh network
  CHECK(std::sqrt(f.squaredNorm() / double(f.size())) > 0.3);  // and far from quiet
  Student<float> net(500, 20, 1.5, rng);
  ctd::ForceTrainer<cpu, float> trainer(net.ctx, net.cell, net.w, f);
  const double before = trainer.test_pass(net.ctx);
  double last = 0;
  for (int pass = 0; pass < 15; ++pass) last = trainer.train_pass(net.ctx);
  const double test = trainer.test_pass(net.ctx);
  INFO("before " << before << ", last training pass " << last << ", test " << test);
  CHECK(before > 0.5);
  CHECK(test <= 0.05);
}

// The product team (cpu::context's product_threads) shares wR h, P h and
// P's update by rows and blocks of columns; only the order of the sums
// changes, so in double the passes agree to rounding, learning included.
TEST_CASE("FORCE passes with a product team of two threads match one thread's", "[force]") {
  cpu::context ctx;
  ctd::Rng teacher_rng(0);
  const HostMatrix<double> f = ctd::chaotic_teacher_targets<cpu, double>(ctx, teacher_rng);
  HostMatrix<double> outputs[2];
  double before = 0, test_rms[2];
  for (const int threads : {1, 2}) {
    ctd::Rng rng(1);
    Student<double> net(500, 20, 1.5, rng);
    net.ctx = cpu::context(1, threads);
    ctd::ForceTrainer<cpu, double> trainer(net.ctx, net.cell, net.w, f);
    before = trainer.test_pass(net.ctx);
    for (int pass = 0; pass < 3; ++pass) trainer.train_pass(net.ctx);
    test_rms[threads - 1] = trainer.test_pass(net.ctx);
    outputs[threads - 1] = ctd::download<cpu, double>(net.ctx, trainer.outputs());
  }
  INFO("test RMS before " << before << ", after 3 passes: one thread " << test_rms[0] << ", two " << test_rms[1]);
  CHECK(test_rms[0] < 0.8 * before);  // it learned
  CHECK((outputs[1] - outputs[0]).norm() < 1e-8 * outputs[0].norm());
}

TEST_CASE("Passes restart from a0 while P and the readout persist", "[force]") {
  ctd::Rng rng(3);
  Student<float> net(100, 2, 1.5, rng);
  ctd::ForceTrainer<cpu, float> trainer(net.ctx, net.cell, net.w, sum_of_sines(2, 50));
  const HostMatrix<float> wO0 = ctd::download<cpu, float>(net.ctx, net.w.wO);
  const double e1 = trainer.test_pass(net.ctx);
  const HostMatrix<float> z1 = ctd::download<cpu, float>(net.ctx, trainer.outputs());
  CHECK(trainer.test_pass(net.ctx) == e1);  // same start, no learning: the same pass
  CHECK(ctd::download<cpu, float>(net.ctx, trainer.outputs()) == z1);
  CHECK(ctd::download<cpu, float>(net.ctx, net.w.wO) == wO0);
  trainer.train_pass(net.ctx);
  const HostMatrix<float> wO1 = ctd::download<cpu, float>(net.ctx, net.w.wO);
  const HostMatrix<float> P1 = trainer.rls().P(net.ctx);
  CHECK(wO1 != wO0);
  CHECK(P1.trace() < 100.0f);  // P(0) = I has trace n = 100; samples shrink it
  trainer.train_pass(net.ctx);
  CHECK(trainer.rls().P(net.ctx).trace() < P1.trace());  // carried over, shrinking further
  CHECK(ctd::download<cpu, float>(net.ctx, net.w.wO) != wO1);
}

TEST_CASE("RLS in float stays symmetric positive definite over long FORCE runs", "[force][rls]") {
  cpu::context ctx;
  ctd::Rng rng(4);
  ctd::ChaoticTeacherOptions teacher;
  teacher.n = 200;
  const HostMatrix<float> f = ctd::chaotic_teacher_targets<cpu, float>(ctx, rng, teacher);
  Student<float> net(200, 20, 1.5, rng);
  ctd::ForceTrainer<cpu, float> trainer(net.ctx, net.cell, net.w, f);
  double after_15 = 0;
  for (int pass = 0; pass < 300; ++pass) {  // 90000 updates
    const double e = trainer.train_pass(net.ctx);
    REQUIRE(std::isfinite(e));
    if (pass == 14) after_15 = trainer.test_pass(net.ctx);
  }
  const HostMatrix<float> P = trainer.rls().P(net.ctx);
  CHECK(P == P.transpose());
  CHECK(min_eigenvalue(P) > 0);
  CHECK(trainer.test_pass(net.ctx) < after_15);  // still learning, not drifting
}

TEST_CASE("FORCE refuses bad input with a clear error", "[force]") {
  ctd::Rng rng(5);
  Student<float> net(50, 3, 1.5, rng);
  auto& ctx = net.ctx;
  using Trainer = ctd::ForceTrainer<cpu, float>;
  const HostMatrix<float> good = sum_of_sines(3, 40);

  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, sum_of_sines(2, 40)),
                    Contains("expected 3 rows (one per readout output, m), got 2"));
  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, HostMatrix<float>(3, 0)), Contains("at least one time step"));
  HostMatrix<float> nan = good;
  nan(1, 17) = std::numeric_limits<float>::quiet_NaN();
  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, nan), Contains("FORCE targets: NaN at row 1, step 17"));
  HostMatrix<float> inf = good;
  inf(0, 3) = std::numeric_limits<float>::infinity();
  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, inf), Contains("Inf at row 0, step 3"));
  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, good, HostMatrix<float>::Zero(1, 39)),
                    Contains("FORCE inputs: expected (1 x 40)"));

  ctd::ForceOptions opt;
  opt.rls.p0_diagonal = 0;
  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, good, {}, opt), Contains("p0_diagonal"));
  opt.rls.p0_diagonal = -1;
  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, good, {}, opt), Contains("must be positive"));
  opt = {};
  opt.update_every = 0;
  CHECK_THROWS_WITH(Trainer(ctx, net.cell, net.w, good, {}, opt), Contains("update_every must be positive"));

  // dt/tau is the cell's: a non-positive one never makes a cell.
  CHECK_THROWS_WITH((ctd::EsnCell<cpu, float>(50, 1, 3, 0.0f)), Contains("dt_over_tau must be positive"));
  CHECK_THROWS_WITH((ctd::EsnCell<cpu, float>(50, 1, 3, -0.1f)), Contains("dt_over_tau must be positive"));
  // Tensors of another network size.
  const ctd::EsnCell<cpu, float> bigger(60, 1, 3, 0.1f);
  CHECK_THROWS_WITH(Trainer(ctx, bigger, net.w, good), Contains("do not match the cell"));

  ctd::ChaoticTeacherOptions teacher;
  teacher.outputs = 0;
  CHECK_THROWS_WITH((ctd::chaotic_teacher_targets<cpu, float>(ctx, rng, teacher)), Contains("outputs (m)"));
}
