// The CPU backend's random fills against the counter-based draws they
// stand for (core/rng.hpp): a float normal fill is computed vectorised, not
// by calling Rng::normal_at, and must stay within float rounding of it.
#include <cmath>
#include <vector>

#include <catch2/catch.hpp>

#include "ctd/backend/cpu/cpu.hpp"

using namespace ctd;

TEST_CASE("the vectorisable uniform is Rng::uniform_at bit for bit", "[random]") {
  for (const std::uint64_t seed : {0ULL, 1ULL, 12345ULL, ~0ULL})
    for (std::uint64_t i = 0; i < 200000; ++i) {
      const double a = cpu::uniform_vectorizable(seed, i), b = Rng::uniform_at(seed, i);
      if (a != b) FAIL("seed " << seed << ", draw " << i << ": " << a << " != " << b);
    }
}

// An odd column length starts every other column, and ends it, inside a
// Box-Muller pair.
TEST_CASE("a float normal fill is normal_at within float rounding, column by column", "[random]") {
  const Index rows = 999, cols = 300, ld = rows + 3;
  std::vector<float> buffer(std::size_t(ld * cols), -7.0f);
  cpu::context ctx(2);
  Rng rng(42);
  rng.counter = 5;
  cpu::fill_normal(ctx, MatrixView<float>{buffer.data(), rows, cols, ld}, 0.5f, 2.0f, rng);
  CHECK(rng.counter == 5 + std::uint64_t(rows * cols));
  double worst = 0, sum = 0, sum_sq = 0;
  for (Index j = 0; j < cols; ++j) {
    for (Index i = 0; i < rows; ++i) {
      const double z = Rng::normal_at(42, 5 + std::uint64_t(i + j * rows));
      const double got = (double(buffer[std::size_t(i + j * ld)]) - 0.5) / 2.0;
      worst = std::max(worst, std::abs(got - z) / (1 + std::abs(z)));
      sum += got;
      sum_sq += got * got;
    }
    for (Index i = rows; i < ld; ++i) REQUIRE(buffer[std::size_t(i + j * ld)] == -7.0f);  // outside the view
  }
  CHECK(worst < 1e-6);
  const double count = double(rows * cols), mean = sum / count;
  CHECK(std::abs(mean) < 0.01);
  CHECK(std::abs(sum_sq / count - mean * mean - 1) < 0.01);
}

TEST_CASE("the two normals of a Box-Muller pair are uncorrelated standard normals", "[random]") {
  const std::uint64_t pairs = 200000;
  double even_sq = 0, odd_sq = 0, product = 0, product_sq = 0;
  for (std::uint64_t p = 0; p < pairs; ++p) {
    const double a = Rng::normal_at(7, 2 * p), b = Rng::normal_at(7, 2 * p + 1);
    even_sq += a * a;
    odd_sq += b * b;
    product += a * b;
    product_sq += a * a * b * b;  // 1 for independent standard normals
  }
  const double n = double(pairs);
  CHECK(std::abs(even_sq / n - 1) < 0.01);
  CHECK(std::abs(odd_sq / n - 1) < 0.01);
  CHECK(std::abs(product / n) < 0.01);
  CHECK(std::abs(product_sq / n - 1) < 0.03);
}
