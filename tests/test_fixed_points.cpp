// The fixed-point finder, Newton refinement and linearisation on systems
// whose answers are known: an affine map, the scalar map h' = tanh(w h),
// a 2-D system with a saddle, a GRU with zero recurrent weights, an ESN
// without recurrence.
#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/analysis/linearization.hpp"
#include "ctd/analysis/newton.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/esn.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/vanilla.hpp"

#include "fixed_point_systems.hpp"

using namespace ctd;
using namespace fixed_point_systems;

TEST_CASE("affine map: one fixed point at (I - A)^-1 b", "[fixed_points]") {
  cpu::context ctx(1);
  Rng rng(1);
  AffineMap map;
  map.A = random_normal<double>(rng, 4, 4, 0.2);
  map.b = random_normal<double>(rng, 4, 1, 1.0);
  const Eigen::VectorXd exact = (Mat::Identity(4, 4) - map.A).partialPivLu().solve(map.b.col(0));
  const Mat candidates = random_normal<double>(rng, 4, 60, 0.3).colwise() + exact;

  auto search = find_fixed_points(ctx, map, candidates, small_problem_options());
  FixedPoints& fps = search.fixed_points;
  REQUIRE(fps.size() == 1);
  CHECK(search.within_tolerance == 60);
  CHECK(search.unique == 1);
  CHECK((fps.points.col(0) - exact).norm() < 1e-4);
  CHECK(fps.candidate_index[0] >= 0);
  CHECK(fps.candidate_index[0] < 60);

  const NewtonReport newton = refine_newton(ctx, map, fps);
  CHECK(newton.converged_fraction() == 1.0);
  CHECK((fps.points.col(0) - exact).norm() < 1e-12);
  CHECK(newton.smallest_singular_value[0] > 0.1);

  const Linearization lin = linearize(ctx, map, fps.points, fps.inputs);
  Eigen::VectorXcd expected = map.A.eigenvalues();
  std::sort(expected.data(), expected.data() + expected.size(),
            [](auto a, auto b) { return a.real() > b.real(); });
  CHECK((lin.eigen[0].values - expected).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(lin.stability[0].kind == Stability::stable);
}

TEST_CASE("affine map with an eigenvalue 1: a line of fixed points, singular J - I", "[fixed_points]") {
  cpu::context ctx(1);
  AffineMap map;
  map.A = Eigen::Vector2d(1.0, 0.5).asDiagonal();
  map.b = Mat::Zero(2, 1);
  FixedPoints fps;
  fps.points = Mat(2, 3);
  fps.points << -0.5, 0.0, 0.7, 0.01, -0.02, 0.03;
  fps.inputs = Mat::Zero(1, 3);
  fps.speeds.assign(3, 1.0);
  fps.candidate_index = {0, 1, 2};
  const NewtonReport newton = refine_newton(ctx, map, fps);
  for (Index k = 0; k < 3; ++k) {
    INFO("point " << k);
    // Newton lands on the line (y = 0) without moving along it.
    CHECK(newton.converged(k));
    CHECK(std::abs(fps.points(1, k)) < 1e-12);
    CHECK(newton.smallest_singular_value[std::size_t(k)] < 1e-12);
  }
  CHECK(fps.points(0, 2) == Approx(0.7).margin(1e-12));
}

TEST_CASE("Newton stays within max_displacement of its start", "[fixed_points]") {
  cpu::context ctx(1);
  AffineMap map;
  map.A = 0.5 * Mat::Identity(2, 2);
  map.b = (Mat(2, 1) << 0.5, 0.0).finished();  // fixed point (1, 0)
  const auto from_origin = [] { return FixedPoints{Mat::Zero(2, 1), Mat::Zero(1, 1), {1.0}, {0}}; };
  FixedPoints far = from_origin();
  const NewtonReport free = refine_newton(ctx, map, far);
  CHECK(free.converged(0));
  CHECK(free.displacement[0] == Approx(1.0));
  FixedPoints near = from_origin();
  NewtonOptions local;
  local.max_displacement = 0.1;
  const NewtonReport bounded = refine_newton(ctx, map, near, local);
  CHECK(!bounded.converged(0));
  CHECK(bounded.displacement[0] <= 0.1);
  CHECK(bounded.residual[0] < 0.5);  // better than at the start, still far from a fixed point
  CHECK(near.speeds[0] == Approx(bounded.residual[0] * bounded.residual[0] / 2));
}

TEST_CASE("tanh map, w > 1: 0 unstable and +-h* stable", "[fixed_points]") {
  cpu::context ctx(1);
  const double w = 1.5, h_star = tanh_fixed_point(w);
  VanillaSystem sys(ctx, Mat::Constant(1, 1, w), Mat::Zero(1, 1), Mat::Zero(1, 1));
  const Mat candidates = linspace_row(-2.0, 2.0, 81);

  auto search = find_fixed_points(ctx, sys.map, candidates, small_problem_options());
  FixedPoints& fps = search.fixed_points;
  REQUIRE(fps.size() == 3);
  const NewtonReport newton = refine_newton(ctx, sys.map, fps);
  CHECK(newton.converged_fraction() == 1.0);
  const Linearization lin = linearize(ctx, sys.map, fps.points, fps.inputs);
  std::vector<double> found;
  for (Index k = 0; k < 3; ++k) {
    const double h = fps.points(0, k), lambda = lin.eigen[std::size_t(k)].values(0).real();
    found.push_back(h);
    if (std::abs(h) < 1e-6) {
      CHECK(lambda == Approx(w).epsilon(1e-12));
      CHECK(lin.stability[std::size_t(k)].kind == Stability::unstable);
      CHECK(lin.stability[std::size_t(k)].unstable_modes == 1);
    } else {
      CHECK(std::abs(h) == Approx(h_star).epsilon(1e-10));
      CHECK(lambda == Approx(w * (1 - h_star * h_star)).epsilon(1e-9));
      CHECK(lin.stability[std::size_t(k)].kind == Stability::stable);
    }
    // The speeds reported are the speeds of the candidates they came from.
    CHECK(fps.candidate_index[std::size_t(k)] < 81);
  }
  std::sort(found.begin(), found.end());
  CHECK(found[0] == Approx(-h_star).epsilon(1e-10));
  CHECK(std::abs(found[1]) < 1e-10);
  CHECK(found[2] == Approx(h_star).epsilon(1e-10));
}

TEST_CASE("tanh map, w < 1: one stable fixed point at 0", "[fixed_points]") {
  cpu::context ctx(1);
  VanillaSystem sys(ctx, Mat::Constant(1, 1, 0.8), Mat::Zero(1, 1), Mat::Zero(1, 1));
  auto search = find_fixed_points(ctx, sys.map, linspace_row(-2.0, 2.0, 41), small_problem_options());
  FixedPoints& fps = search.fixed_points;
  REQUIRE(fps.size() == 1);
  refine_newton(ctx, sys.map, fps);
  CHECK(std::abs(fps.points(0, 0)) < 1e-12);
  const Linearization lin = linearize(ctx, sys.map, fps.points, fps.inputs);
  CHECK(lin.eigen[0].values(0).real() == Approx(0.8).epsilon(1e-12));
  CHECK(lin.stability[0].kind == Stability::stable);
}

TEST_CASE("2-D system: a saddle between two stable points", "[fixed_points]") {
  cpu::context ctx(1);
  // h' = tanh(diag(1.5, 0.5) h): the origin is a saddle (unstable along x),
  // (+-h*, 0) are stable.
  const double h_star = tanh_fixed_point(1.5);
  VanillaSystem sys(ctx, Eigen::Vector2d(1.5, 0.5).asDiagonal().toDenseMatrix(), Mat::Zero(2, 1), Mat::Zero(2, 1));
  Rng rng(3);
  const Mat candidates = random_normal<double>(rng, 2, 120, 1.0);
  auto search = find_fixed_points(ctx, sys.map, candidates, small_problem_options());
  FixedPoints& fps = search.fixed_points;
  REQUIRE(fps.size() == 3);
  refine_newton(ctx, sys.map, fps);
  const Linearization lin = linearize(ctx, sys.map, fps.points, fps.inputs);
  int saddles = 0, stables = 0;
  for (Index k = 0; k < 3; ++k) {
    const auto& s = lin.stability[std::size_t(k)];
    CHECK(std::abs(fps.points(1, k)) < 1e-10);
    if (fps.points.col(k).norm() < 1e-10) {
      ++saddles;
      CHECK(s.kind == Stability::saddle);
      CHECK(s.unstable_modes == 1);
      // Sorted by real part: the unstable direction first, along x.
      const auto& e = lin.eigen[std::size_t(k)];
      CHECK(e.values(0).real() == Approx(1.5));
      CHECK(std::abs(e.right(0, 0)) == Approx(1.0));
      CHECK(std::abs(e.right(1, 0)) < 1e-12);
      CHECK(std::abs(e.left(0, 0) * e.right(0, 0)) == Approx(1.0));
    } else {
      ++stables;
      CHECK(std::abs(fps.points(0, k)) == Approx(h_star).epsilon(1e-10));
      CHECK(s.kind == Stability::stable);
    }
  }
  CHECK(saddles == 1);
  CHECK(stables == 2);
}

TEST_CASE("GRU with zero recurrent weights: h* = c(x*), J = diag(u), one point per input", "[fixed_points]") {
  cpu::context ctx(1);
  const Index n = 3, u = 2;
  Rng rng(4);
  Parameters<cpu, double> params(GruCell<cpu, double>::specs(n, u));
  const auto w = bind_values<GruCell<cpu, double>>(params);
  upload<cpu, double>(ctx, random_normal<double>(rng, 2 * n, u, 1.0), w.wRUHX.col_block(n, u));
  upload<cpu, double>(ctx, random_normal<double>(rng, n, u, 1.0), w.wCHX.col_block(n, u));
  upload<cpu, double>(ctx, random_normal<double>(rng, 2 * n, 1, 0.5), w.bRU);
  upload<cpu, double>(ctx, random_normal<double>(rng, n, 1, 0.5), w.bC);
  StepMap<GruCell<cpu, double>> map(GruCell<cpu, double>(n, u), w);

  // Two inputs, each shared by half of the candidates.
  const Mat x1 = random_normal<double>(rng, u, 1, 1.0), x2 = random_normal<double>(rng, u, 1, 1.0);
  Mat inputs(u, 40);
  inputs.leftCols(20) = x1.replicate(1, 20);
  inputs.rightCols(20) = x2.replicate(1, 20);
  const Mat candidates = random_normal<double>(rng, n, 40, 0.5);
  FixedPointOptions opt = small_problem_options();
  opt.outlier_tol = std::numeric_limits<double>::infinity();
  auto search = find_fixed_points(ctx, map, candidates, inputs, opt);
  FixedPoints& fps = search.fixed_points;
  REQUIRE(fps.size() == 2);
  refine_newton(ctx, map, fps);
  const Linearization lin = linearize(ctx, map, fps.points, fps.inputs);

  const auto sigma = [](const Eigen::ArrayXd& z) { return 0.5 * ((0.5 * z).tanh() + 1.0); };
  const Mat W_ux = download<cpu, double>(ctx, w.wRUHX.col_block(n, u)).bottomRows(n);
  const Mat W_cx = download<cpu, double>(ctx, w.wCHX.col_block(n, u));
  const Mat b_ru = download<cpu, double>(ctx, w.bRU), b_c = download<cpu, double>(ctx, w.bC);
  for (Index k = 0; k < 2; ++k) {
    const bool first = fps.candidate_index[std::size_t(k)] < 20;
    CHECK(fps.inputs.col(k) == (first ? x1 : x2).col(0));
    const Eigen::VectorXd x = fps.inputs.col(k);
    const Eigen::ArrayXd c = (W_cx * x + b_c.col(0)).array().tanh();
    const Eigen::ArrayXd gate_u = sigma((W_ux * x + b_ru.col(0).tail(n)).array() + GruCell<cpu, double>::forget_bias);
    CHECK((fps.points.col(k).array() - c).abs().maxCoeff() < 1e-12);
    const Mat J = lin.dF_dh.middleCols(k * n, n);
    CHECK((J - Mat(gate_u.matrix().asDiagonal())).cwiseAbs().maxCoeff() < 1e-12);
    const Mat dF_dx = lin.dF_dx.middleCols(k * u, u);
    const Mat expected_dx = ((1 - gate_u) * (1 - c.square())).matrix().asDiagonal() * W_cx;
    CHECK((dF_dx - expected_dx).cwiseAbs().maxCoeff() < 1e-12);
    CHECK(lin.stability[std::size_t(k)].kind == Stability::stable);
  }
}

TEST_CASE("ESN without recurrence: the fixed point of its Euler map is a* = wI x*", "[fixed_points]") {
  cpu::context ctx(1);
  const Index n = 4, u = 2, m = 3;
  Rng rng(8);
  Parameters<cpu, double> params(EsnCell<cpu, double>::specs(n, u, m));
  const auto w = bind_values<EsnCell<cpu, double>>(params);
  upload<cpu, double>(ctx, random_normal<double>(rng, n, u, 1.0), w.wI);
  upload<cpu, double>(ctx, random_normal<double>(rng, m, n, 1.0), w.wO);  // wR = wF = 0: no loop
  EsnMap<cpu, double> map(ctx, EsnCell<cpu, double>(n, u, m, 0.1), w);
  const Mat x = random_normal<double>(rng, u, 1, 0.5);
  auto search = find_fixed_points(ctx, map, random_normal<double>(rng, n, 30, 0.3), x, small_problem_options());
  FixedPoints& fps = search.fixed_points;
  REQUIRE(fps.size() == 1);
  // A tolerance below the finder's own residual, so Newton takes its step
  // (exact for this affine map) wherever Adam left the point.
  NewtonOptions newton;
  newton.tolerance = 1e-14;
  refine_newton(ctx, map, fps, newton);
  const Mat wI = download<cpu, double>(ctx, w.wI);
  CHECK((fps.points.col(0) - wI * x).norm() < 1e-12);
  const Linearization lin = linearize(ctx, map, fps.points, fps.inputs);
  CHECK((lin.eigen[0].values.array() - 0.9).abs().maxCoeff() < 1e-12);
  CHECK((lin.dF_dx - 0.1 * wI).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(lin.stability[0].kind == Stability::stable);
}
