#pragma once
// Seeded, counter-based random numbers.
//
// Every draw is a pure function of (seed, counter): SplitMix64 applied to
// seed + counter * golden_gamma. The same seed gives the same numbers with
// any compiler or standard library (std::normal_distribution does not
// promise that), and a GPU kernel can compute draw i without a sequential
// state, so a device fill can reproduce a host fill exactly.
#include <cmath>
#include <cstdint>
#include <numbers>

// The draw functions are also compiled for CUDA kernels (the CUDA backend's
// fill_normal), so a device fill reproduces a host fill draw for draw.
#if defined(__CUDACC__)
#define CTD_HOST_DEVICE __host__ __device__
#else
#define CTD_HOST_DEVICE
#endif

namespace ctd {

struct Rng {
  std::uint64_t seed = 0;
  std::uint64_t counter = 0;

  explicit Rng(std::uint64_t s = 0) : seed(s) {}

  CTD_HOST_DEVICE static constexpr std::uint64_t bits_at(std::uint64_t seed, std::uint64_t i) {
    std::uint64_t z = seed + (i + 1) * 0x9E3779B97F4A7C15ULL;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform in (0, 1]: never 0, so log() in Box-Muller is finite.
  CTD_HOST_DEVICE static constexpr double uniform_at(std::uint64_t seed, std::uint64_t i) {
    return (static_cast<double>(bits_at(seed, i) >> 11) + 1.0) * 0x1.0p-53;
  }
  // Standard normal i by Box-Muller on the pair of uniforms at 2p and
  // 2p + 1, p = i / 2: both branches are used, the cosine for even i and
  // the sine for odd i, so a fill of k normals costs k/2 logarithms and k
  // uniforms. Normals 2p and 2p + 1 are independent (Box-Muller's two
  // outputs are).
  CTD_HOST_DEVICE static double normal_at(std::uint64_t seed, std::uint64_t i) {
    const std::uint64_t pair = i / 2;
    const double u1 = uniform_at(seed, 2 * pair), u2 = uniform_at(seed, 2 * pair + 1);
    const double radius = std::sqrt(-2.0 * std::log(u1)), angle = 2.0 * std::numbers::pi * u2;
    return radius * (i % 2 == 0 ? std::cos(angle) : std::sin(angle));
  }

  double uniform() { return uniform_at(seed, counter++); }
  double normal() { return normal_at(seed, counter++); }
  bool bernoulli(double p) { return uniform() < p; }
  // Poisson by inversion for small means, normal approximation (rounded,
  // clipped at 0) above 50 where inversion gets slow and the approximation
  // is accurate to well under the sampling noise.
  std::int64_t poisson(double mean) {
    if (mean <= 0) return 0;
    if (mean > 50) {
      const double x = std::round(mean + std::sqrt(mean) * normal());
      return x < 0 ? 0 : static_cast<std::int64_t>(x);
    }
    const double limit = std::exp(-mean);
    double p = uniform();
    std::int64_t k = 0;
    while (p > limit) {
      p *= uniform();
      ++k;
    }
    return k;
  }
  // An independent stream derived from this one (for per-purpose seeds).
  Rng split() { return Rng(bits_at(seed, counter++)); }
};

}  // namespace ctd
