// The finder's machinery: its gradient and stop check, chunks and threads,
// seeded noise, the filters on constructed point sets, Newton's quadratic
// convergence, and clear errors for bad input.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/analysis/linearization.hpp"
#include "ctd/analysis/newton.hpp"
#include "ctd/analysis/precision.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"

#include "fixed_point_systems.hpp"

using namespace ctd;
using namespace fixed_point_systems;

TEST_CASE("Newton's residuals fall quadratically", "[fixed_points]") {
  cpu::context ctx(1);
  const Index n = 5;
  Rng rng(5);
  GruSystem gru(ctx, n, rng, {0.8, 1.0, 0.1});
  upload<cpu, double>(ctx, random_normal<double>(rng, n, 1, 0.5), gru.w.bC);
  auto& map = gru.map;

  // The reference point: Newton from the origin, run to the floor.
  FixedPoints reference{Mat::Zero(n, 1), Mat::Zero(1, 1), {1.0}, {0}};
  REQUIRE(refine_newton(ctx, map, reference, {.tolerance = 1e-15, .max_iterations = 50}).converged(0));
  const Eigen::VectorXd start = reference.points.col(0) + 0.05 * random_normal<double>(rng, n, 1, 1.0).col(0);
  std::vector<double> residuals;
  for (Index iterations = 0; iterations <= 4; ++iterations) {
    FixedPoints fps{start, Mat::Zero(1, 1), {1.0}, {0}};
    const NewtonReport report = refine_newton(ctx, map, fps, {.tolerance = 1e-300, .max_iterations = iterations});
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
  cpu::context ctx(1);
  const Index n = 4, N = 5;
  Rng rng(6);
  GruSystem gru(ctx, n, rng, {0.5, 1.0, 0.1});
  auto& map = gru.map;
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

TEST_CASE("the finder's result does not depend on the chunks or the threads that run them", "[fixed_points]") {
  cpu::context one(1), two(2);
  const Index n = 6, N = 40;
  Rng rng(10);
  GruSystem gru(one, n, rng, {1.2, 1.0, 0.1});
  auto& map = gru.map;
  const Mat candidates = random_normal<double>(rng, n, N, 0.5), zero = Mat::Zero(1, 1);
  FixedPointOptions opt;
  opt.max_steps = 30;
  opt.check_every = 10;
  opt.chunk = 0;
  const auto all = optimize_fixed_points(one, map, candidates, zero, opt);
  opt.chunk = 7;  // 5 chunks of 7 and one of 5, taken by two threads as they finish
  const auto chunked = optimize_fixed_points(two, map, candidates, zero, opt);
  CHECK((all.points - chunked.points).cwiseAbs().maxCoeff() < 1e-12);
  for (Index j = 0; j < N; ++j)
    CHECK(all.speeds[std::size_t(j)] == Approx(chunked.speeds[std::size_t(j)]).epsilon(1e-10));
  REQUIRE(all.losses.size() == chunked.losses.size());
  for (std::size_t k = 0; k < all.losses.size(); ++k) CHECK(all.losses[k] == Approx(chunked.losses[k]).epsilon(1e-10));
}

TEST_CASE("a float network in double for Newton: cast_parameters", "[fixed_points]") {
  cpu::context ctx(1);
  Rng rng(12);
  Parameters<cpu, float> params(GruCell<cpu, float>::specs(3, 2));
  GruCell<cpu, float>::initialize(ctx, bind_values<GruCell<cpu, float>>(params), rng, {});
  const Parameters<cpu, double> params64 = cast_parameters<double>(ctx, params);
  REQUIRE(params64.specs().size() == params.specs().size());
  CHECK(download<cpu, double>(ctx, params64.values()) ==
        download<cpu, float>(ctx, params.values()).cast<double>());
}

TEST_CASE("noise on the candidates is seeded", "[fixed_points]") {
  cpu::context ctx(1);
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

TEST_CASE("fixed points: bad input is a clear error", "[fixed_points]") {
  cpu::context ctx(1);
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
