// The white-noise tasks: seeded and reproducible, with the targets and
// masks of SPEC §1a/§1b and the input statistics of the definition.
#include <catch2/catch.hpp>

#include <cmath>

#include "ctd/tasks/white_noise.hpp"

using namespace ctd;

TEST_CASE("white-noise tasks: the same seed gives the same batch, another seed another", "[tasks]") {
  Rng a(5), b(5), c(6);
  const auto x = integrator_batch<float>(a, 16);
  const auto y = integrator_batch<float>(b, 16);
  const auto z = integrator_batch<float>(c, 16);
  CHECK(x.inputs == y.inputs);
  CHECK(x.targets == y.targets);
  CHECK(x.inputs != z.inputs);
}

TEST_CASE("integrator task: targets are the running sum of the inputs, every step in the loss", "[tasks]") {
  Rng rng(1);
  const auto b = integrator_batch<double>(rng, 8);
  REQUIRE(b.inputs.cols() == 25 * 8);
  for (Index j = 0; j < 8; ++j) {
    double sum = 0;
    for (Index t = 0; t < 25; ++t) {
      sum += b.inputs(0, t * 8 + j);
      CHECK(b.targets(0, t * 8 + j) == Approx(sum).margin(1e-12));
    }
  }
  CHECK(b.mask.sum() == 25 * 8);
}

TEST_CASE("decision task: the sign of the integral at the last step only", "[tasks]") {
  Rng rng(2);
  const auto b = decision_batch<double>(rng, 64);
  const Index last = 24 * 64;
  CHECK(b.mask.sum() == 64);
  for (Index j = 0; j < 64; ++j) {
    double sum = 0;
    for (Index t = 0; t < 25; ++t) sum += b.inputs(0, t * 64 + j);
    CHECK(b.mask(0, last + j) == 1.0);
    CHECK(b.targets(0, last + j) == (sum > 0 ? 1.0 : -1.0));
    CHECK(b.targets.leftCols(last).col(j).squaredNorm() == 0.0);
  }
}

TEST_CASE("white noise has the defined spread: stddev sval / sqrt(dt) around a per-trial bias", "[tasks]") {
  Rng rng(3);
  const Index trials = 4000;
  const auto x = white_noise_inputs<double>(rng, trials, {});
  // Within-trial deviations from the trial mean: the noise alone.
  double ss = 0;
  for (Index j = 0; j < trials; ++j) {
    double mean = 0;
    for (Index t = 0; t < 25; ++t) mean += x(0, t * trials + j) / 25;
    for (Index t = 0; t < 25; ++t) ss += std::pow(x(0, t * trials + j) - mean, 2);
  }
  const double stddev = std::sqrt(ss / double(trials * 24));
  CHECK(stddev == Approx(0.025 / std::sqrt(1.0 / 25)).epsilon(0.02));
  CHECK_THROWS_WITH(white_noise_inputs<double>(rng, 0, {}), Catch::Contains("trials"));
}
