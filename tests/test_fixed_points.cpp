// The fixed-point finder, Newton refinement and linearisation on systems
// whose answers are known: an affine map, the scalar map h' = tanh(w h),
// a 2-D system with a saddle, a GRU with zero recurrent weights.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/analysis/linearization.hpp"
#include "ctd/analysis/newton.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/esn.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/vanilla.hpp"

using namespace ctd;
using Mat = HostMatrix<double>;

namespace {

// h' = A h + b: one fixed point (I - A)^-1 b when 1 is not an eigenvalue
// of A, a line or plane of them when it is.
struct AffineMap {
  using backend = cpu;
  using scalar = double;
  Mat A, b;
  Matrix<cpu, double> next;

  Index state_size() const { return A.rows(); }
  Index input_size() const { return 1; }
  ConstView<double> evaluate(cpu::context&, ConstView<double> h, ConstView<double> /*x*/) {
    next.resize(A.rows(), h.cols);
    cpu::map(next.view()) = (A * cpu::map(h)).colwise() + b.col(0);
    return next.view();
  }
  void state_vjp(cpu::context&, ConstView<double> g, MatrixView<double> out) {
    cpu::map(out) = A.transpose() * cpu::map(g);
  }
  void jacobians(cpu::context&, ConstView<double> h, ConstView<double>, Mat* dF_dh, Mat* dF_dx) {
    if (dF_dh) *dF_dh = A.replicate(1, h.cols);
    if (dF_dx) *dF_dx = Mat::Zero(A.rows(), h.cols);
  }
};
static_assert(DynamicalMap<AffineMap>);

// h' = tanh(wR h + wI x + bR) with the given weights.
struct VanillaSystem {
  Parameters<cpu, double> params;
  StepMap<VanillaRnnCell<cpu, double>> map;
  VanillaSystem(cpu::context& ctx, const Mat& wR, const Mat& wI, const Mat& bR)
      : params(VanillaRnnCell<cpu, double>::specs(wR.rows(), wI.cols())),
        map(VanillaRnnCell<cpu, double>(wR.rows(), wI.cols()), VanillaRnnCell<cpu, double>::values(params)) {
    upload<cpu, double>(ctx, wR, params.value("wR"));
    upload<cpu, double>(ctx, wI, params.value("wI"));
    upload<cpu, double>(ctx, bR, params.value("bR"));
  }
};

// The positive root of tanh(w h) = h for w > 1, by bisection.
double tanh_fixed_point(double w) {
  double lo = 1e-3, hi = 1.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (std::tanh(w * mid) > mid ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Finder settings for a handful of candidates in double: the tutorial's
// Adam (lr 0.2, eps 1e-5) is tuned for 10^6 coordinates, where the mean
// loss's gradient is tiny; here a smaller, slower-decaying step fits.
FixedPointOptions small_problem_options() {
  FixedPointOptions opt;
  opt.adam = {0.02, 0.999, 0.9, 0.999, 1e-12};
  opt.max_steps = 4000;
  opt.check_every = 100;
  opt.stop_tol = 1e-16;
  opt.fp_tol = 1e-10;
  return opt;
}

Mat linspace_row(double from, double to, Index count) {
  return Eigen::RowVectorXd::LinSpaced(count, from, to);
}

}  // namespace

TEST_CASE("affine map: one fixed point at (I - A)^-1 b", "[fixed_points]") {
  cpu::context ctx;
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
  cpu::context ctx;
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
  cpu::context ctx;
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
  cpu::context ctx;
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
  cpu::context ctx;
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
  cpu::context ctx;
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
  cpu::context ctx;
  const Index n = 3, u = 2;
  Rng rng(4);
  Parameters<cpu, double> params(GruCell<cpu, double>::specs(n, u));
  const auto w = GruCell<cpu, double>::values(params);
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
  cpu::context ctx;
  const Index n = 4, u = 2, m = 3;
  Rng rng(8);
  Parameters<cpu, double> params(EsnCell<cpu, double>::specs(n, u, m));
  const auto w = EsnCell<cpu, double>::values(params);
  upload<cpu, double>(ctx, random_normal<double>(rng, n, u, 1.0), w.wI);
  upload<cpu, double>(ctx, random_normal<double>(rng, m, n, 1.0), w.wO);  // wR = wF = 0: no loop
  EsnMap<cpu, double> map(ctx, EsnCell<cpu, double>(n, u, m, 0.1), w);
  const Mat x = random_normal<double>(rng, u, 1, 0.5);
  auto search = find_fixed_points(ctx, map, random_normal<double>(rng, n, 30, 0.3), x, small_problem_options());
  FixedPoints& fps = search.fixed_points;
  REQUIRE(fps.size() == 1);
  refine_newton(ctx, map, fps);
  const Mat wI = download<cpu, double>(ctx, w.wI);
  CHECK((fps.points.col(0) - wI * x).norm() < 1e-12);
  const Linearization lin = linearize(ctx, map, fps.points, fps.inputs);
  CHECK((lin.eigen[0].values.array() - 0.9).abs().maxCoeff() < 1e-12);
  CHECK((lin.dF_dx - 0.1 * wI).cwiseAbs().maxCoeff() < 1e-12);
  CHECK(lin.stability[0].kind == Stability::stable);
}

TEST_CASE("Newton's residuals fall quadratically", "[fixed_points]") {
  cpu::context ctx;
  const Index n = 5;
  Rng rng(5);
  Parameters<cpu, double> params(GruCell<cpu, double>::specs(n, 1));
  const auto w = GruCell<cpu, double>::values(params);
  GruCell<cpu, double>::initialize(ctx, w, rng, {0.8, 1.0, 0.1});
  upload<cpu, double>(ctx, random_normal<double>(rng, n, 1, 0.5), w.bC);
  StepMap<GruCell<cpu, double>> map(GruCell<cpu, double>(n, 1), w);

  // The reference point: Newton from the origin, run to the floor.
  FixedPoints reference{Mat::Zero(n, 1), Mat::Zero(1, 1), {1.0}, {0}};
  REQUIRE(refine_newton(ctx, map, reference, {1e-15, 50, 40, 256}).converged(0));
  const Eigen::VectorXd start = reference.points.col(0) + 0.05 * random_normal<double>(rng, n, 1, 1.0).col(0);
  std::vector<double> residuals;
  for (Index iterations = 0; iterations <= 4; ++iterations) {
    FixedPoints fps{start, Mat::Zero(1, 1), {1.0}, {0}};
    const NewtonReport report = refine_newton(ctx, map, fps, {1e-300, iterations, 40, 256});
    CHECK(report.iterations[0] == iterations);
    residuals.push_back(report.residual[0]);
  }
  INFO("residuals " << residuals[0] << " " << residuals[1] << " " << residuals[2] << " " << residuals[3] << " "
                    << residuals[4]);
  CHECK(residuals[0] > 1e-3);
  for (std::size_t k = 0; k + 1 < residuals.size(); ++k)
    if (residuals[k] > 1e-12) CHECK(residuals[k + 1] < 10 * residuals[k] * residuals[k]);
  CHECK(residuals[3] < 1e-13);
}

TEST_CASE("the finder's gradient is the mean speed's, and the stop check ends it", "[fixed_points]") {
  cpu::context ctx;
  const Index n = 4, N = 5;
  Rng rng(6);
  Parameters<cpu, double> params(GruCell<cpu, double>::specs(n, 1));
  const auto w = GruCell<cpu, double>::values(params);
  GruCell<cpu, double>::initialize(ctx, w, rng, {0.5, 1.0, 0.1});
  StepMap<GruCell<cpu, double>> map(GruCell<cpu, double>(n, 1), w);
  const Mat candidates = random_normal<double>(rng, n, N, 0.5), zero = Mat::Zero(1, 1);
  const auto mean_speed = [&](const Mat& h) {
    return (evaluate_at(ctx, map, h, zero.replicate(1, N)) - h).squaredNorm() / double(n * N);
  };

  // With eps far above |g|, Adam's first step is lr g / eps.
  FixedPointOptions opt;
  opt.adam = {1.0, 1.0, 0.9, 0.999, 1e6};
  opt.max_steps = 1;
  const auto moved = optimize_fixed_points(ctx, map, candidates, zero, opt);
  REQUIRE(moved.steps == 1);
  const Mat gradient = (candidates - moved.points) * 1e6;
  Mat fd(n, N);
  for (Index i = 0; i < n; ++i)
    for (Index j = 0; j < N; ++j) {
      Mat hp = candidates, hm = candidates;
      hp(i, j) += 1e-6;
      hm(i, j) -= 1e-6;
      fd(i, j) = (mean_speed(hp) - mean_speed(hm)) / 2e-6;
    }
  CHECK((gradient - fd).cwiseAbs().maxCoeff() / fd.cwiseAbs().maxCoeff() < 1e-5);

  // Progress at every check; the loss falls; the run stops at the first
  // check below stop_tol, on a multiple of check_every.
  std::vector<FinderProgress> seen;
  FixedPointOptions tutorial;
  tutorial.adam = {0.02, 0.999, 0.9, 0.999, 1e-12};
  tutorial.check_every = 50;
  tutorial.stop_tol = 1e-9;
  tutorial.progress = [&](const FinderProgress& p) { seen.push_back(p); };
  const auto run = optimize_fixed_points(ctx, map, candidates, zero, tutorial);
  REQUIRE(!seen.empty());
  CHECK(run.steps % 50 == 0);
  CHECK(run.steps < tutorial.max_steps);
  CHECK(seen.back().loss < 1e-9);
  CHECK(seen.front().loss > seen.back().loss);
  CHECK(run.losses.size() == seen.size());
  CHECK(seen.back().step == run.steps);
  for (std::size_t k = 1; k < seen.size(); ++k) CHECK(seen[k - 1].loss >= 1e-9);
  for (Index j = 0; j < N; ++j)
    CHECK(run.speeds[std::size_t(j)] ==
          Approx((evaluate_at(ctx, map, Mat(run.points.col(j)), zero) - run.points.col(j)).squaredNorm() / n)
              .epsilon(1e-9));
}

TEST_CASE("noise on the candidates is seeded", "[fixed_points]") {
  cpu::context ctx;
  VanillaSystem sys(ctx, Mat::Constant(1, 1, 0.8), Mat::Zero(1, 1), Mat::Zero(1, 1));
  FixedPointOptions opt;
  opt.max_steps = 0;
  opt.noise_var = 0.04;
  opt.seed = 9;
  const Mat candidates = Mat::Zero(1, 2000);
  const auto a = optimize_fixed_points(ctx, sys.map, candidates, Mat::Zero(1, 1), opt);
  const auto b = optimize_fixed_points(ctx, sys.map, candidates, Mat::Zero(1, 1), opt);
  CHECK(a.points == b.points);
  const double sd = std::sqrt(a.points.squaredNorm() / 2000.0);
  CHECK(sd == Approx(0.2).epsilon(0.1));  // sqrt(noise_var), as the tutorial adds it
}

TEST_CASE("filters keep and drop exactly the points they should", "[fixed_points]") {
  SECTION("speed tolerance: strictly below") {
    CHECK(below_tolerance({1e-3, 1e-7, 5e-6, 2e-5, 1e-5}, 1e-5) == std::vector<Index>{1, 2});
  }
  SECTION("uniqueness: within unique_tol of a point already kept") {
    // 0.02 is a duplicate of 0; 0.03 is kept, although within 0.025 of the
    // dropped 0.02; 0.05 is a duplicate of the kept 0.03.
    const Mat line = (Mat(1, 6) << 0.0, 0.01, 0.02, 0.03, 0.05, 1.0).finished();
    CHECK(unique_points(line, 0.025) == std::vector<Index>{0, 3, 5});
    const Mat plane = (Mat(2, 3) << 0, 0.02, 0.02, 0, 0, 0.02).finished();  // (0,0) (0.02,0) (0.02,0.02)
    CHECK(unique_points(plane, 0.025) == std::vector<Index>{0, 2});
  }
  SECTION("outliers: no other point within outlier_tol") {
    const Mat points = (Mat(2, 4) << 0, 0.5, 3.0, 3.0, 0, 0, 0, 1.5).finished();
    CHECK(non_outliers(points, 1.0) == std::vector<Index>{0, 1});
    CHECK(non_outliers(points, 2.0) == std::vector<Index>{0, 1, 2, 3});
    CHECK(non_outliers(Mat::Zero(2, 1), 1e-9) == std::vector<Index>{0});
    CHECK(non_outliers(points, std::numeric_limits<double>::infinity()).size() == 4);
  }
  SECTION("sorting slowest first carries the candidate indices along") {
    FixedPoints fps{(Mat(1, 3) << 10, 20, 30).finished(), Mat::Zero(1, 3), {3e-6, 1e-6, 2e-6}, {7, 8, 9}};
    fps.keep(slowest_first(fps.speeds));
    CHECK(fps.candidate_index == std::vector<Index>{8, 9, 7});
    CHECK(fps.speeds == std::vector<double>{1e-6, 2e-6, 3e-6});
    CHECK(fps.points == (Mat(1, 3) << 20, 30, 10).finished());
  }
}

TEST_CASE("eigen-decomposition: sorted, and R diag(lambda) L^T reconstructs J", "[fixed_points]") {
  Rng rng(7);
  const Mat J = random_normal<double>(rng, 8, 8, 0.5);
  for (const EigenOrder order : {EigenOrder::real_part, EigenOrder::magnitude}) {
    const EigenDecomposition e = eigen_decomposition(J, order);
    const Eigen::MatrixXcd rebuilt = e.right * e.values.asDiagonal() * e.left.transpose();
    CHECK((rebuilt - J.cast<std::complex<double>>()).cwiseAbs().maxCoeff() < 1e-12);
    CHECK((e.left.transpose() * e.right - Eigen::MatrixXcd::Identity(8, 8)).cwiseAbs().maxCoeff() < 1e-12);
    for (Index k = 0; k + 1 < 8; ++k) {
      if (order == EigenOrder::real_part)
        CHECK(e.values(k).real() >= e.values(k + 1).real());
      else
        CHECK(std::abs(e.values(k)) >= std::abs(e.values(k + 1)));
    }
    for (Index k = 0; k < 8; ++k)
      CHECK((J.cast<std::complex<double>>() * e.right.col(k) - e.values(k) * e.right.col(k)).norm() < 1e-12);
  }
  const EigenDecomposition values_only = eigen_decomposition(J, EigenOrder::real_part, false);
  CHECK(values_only.right.size() == 0);
  CHECK((values_only.values - eigen_decomposition(J).values).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("stability of a fixed point of a discrete-time map", "[fixed_points]") {
  using C = std::complex<double>;
  const auto classify = [](std::vector<C> v) {
    return classify_fixed_point(Eigen::Map<Eigen::VectorXcd>(v.data(), Index(v.size())));
  };
  CHECK(classify({0.5, C(0, 0.9), -0.99}).kind == Stability::stable);
  const auto saddle = classify({1.2, 0.5, C(0.3, 0.3)});
  CHECK(saddle.kind == Stability::saddle);
  CHECK(saddle.unstable_modes == 1);
  const auto pair = classify({C(0.9, 0.9), C(0.9, -0.9), 0.1});  // |lambda| = 1.27
  CHECK(pair.kind == Stability::saddle);
  CHECK(pair.unstable_modes == 2);
  CHECK(classify({1.1, -1.3}).kind == Stability::unstable);
}

TEST_CASE("fixed points: bad input is a clear error", "[fixed_points]") {
  cpu::context ctx;
  VanillaSystem sys(ctx, Mat::Constant(2, 2, 0.3), Mat::Zero(2, 1), Mat::Zero(2, 1));
  const FixedPointOptions opt = small_problem_options();
  const auto message = [&](const Mat& candidates, const Mat& inputs, const FixedPointOptions& o) -> std::string {
    try {
      find_fixed_points(ctx, sys.map, candidates, inputs, o);
    } catch (const Error& e) {
      return e.what();
    }
    return "no error";
  };
  const Mat good = Mat::Zero(2, 5), x = Mat::Zero(1, 1);
  CHECK_THAT(message(Mat::Zero(3, 5), x, opt), Catch::Contains("candidates must be (2 x P)"));
  CHECK_THAT(message(Mat::Zero(2, 0), x, opt), Catch::Contains("candidates"));
  Mat nan = good;
  nan(1, 3) = std::nan("");
  CHECK_THAT(message(nan, x, opt), Catch::Contains("candidates column 3 holds NaN"));
  CHECK_THAT(message(good, Mat::Zero(1, 4), opt), Catch::Contains("inputs must be (1 x 1) or (1 x 5)"));
  CHECK_THAT(message(good, Mat::Constant(1, 1, std::nan("")), opt), Catch::Contains("inputs hold NaN"));
  for (double FixedPointOptions::*tol : {&FixedPointOptions::fp_tol, &FixedPointOptions::stop_tol,
                                         &FixedPointOptions::unique_tol, &FixedPointOptions::outlier_tol}) {
    for (const double bad : {0.0, -1e-6, std::nan("")}) {
      FixedPointOptions o = opt;
      o.*tol = bad;
      CHECK_THAT(message(good, x, o), Catch::Contains("must be positive"));
    }
  }
  FixedPointOptions noisy = opt;
  noisy.noise_var = -1;
  CHECK_THAT(message(good, x, noisy), Catch::Contains("noise_var"));

  FixedPoints fps{Mat::Zero(3, 2), Mat::Zero(1, 2), {0, 0}, {0, 1}};
  CHECK_THROWS_AS(refine_newton(ctx, sys.map, fps), Error);
  CHECK_THROWS_AS(linearize(ctx, sys.map, Mat::Zero(2, 2), Mat::Zero(1, 3)), Error);
  CHECK_THROWS_AS(eigen_decomposition(Mat::Constant(2, 2, std::nan(""))), Error);
}
