// Linearisation: the eigen-decomposition (sorting, R diag(lambda) L^T = J)
// and the stability class of a fixed point of a discrete-time map.
#include <catch2/catch.hpp>

#include <cmath>
#include <complex>
#include <vector>

#include "ctd/analysis/linearization.hpp"
#include "ctd/core/host.hpp"

#include "fixed_point_systems.hpp"

using namespace ctd;
using namespace fixed_point_systems;

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

TEST_CASE("eigen-decomposition of a float matrix: in float, agreeing with double to float precision",
          "[fixed_points]") {
  Rng rng(11);
  const Mat J = random_normal<double>(rng, 40, 40, 0.2);
  const EigenDecomposition d = eigen_decomposition(J, EigenOrder::magnitude);
  const EigenDecomposition f = eigen_decomposition(Eigen::MatrixXf(J.cast<float>()), EigenOrder::magnitude);
  CHECK((f.values - d.values).cwiseAbs().maxCoeff() < 1e-5);
  CHECK(f.values.imag().cwiseAbs().maxCoeff() > 0.1);  // complex pairs are covered
  const Eigen::MatrixXcd rebuilt = f.right * f.values.asDiagonal() * f.left.transpose();
  CHECK((rebuilt - J.cast<std::complex<double>>()).cwiseAbs().maxCoeff() < 1e-5);
  CHECK((f.left.transpose() * f.right - Eigen::MatrixXcd::Identity(40, 40)).cwiseAbs().maxCoeff() < 1e-4);
}

TEST_CASE("eigen-decomposition of a defective matrix: finite vectors from the pseudo-inverse", "[fixed_points]") {
  const Mat J = (Mat(3, 3) << 0.9, 1.0, 0.0, 0.0, 0.9, 0.0, 0.0, 0.0, 0.2).finished();  // a Jordan block
  const EigenDecomposition e = eigen_decomposition(J);
  CHECK(std::abs(e.values(0) - 0.9) < 1e-6);
  CHECK(std::abs(e.values(2) - 0.2) < 1e-12);
  CHECK(e.right.allFinite());
  CHECK(e.left.cwiseAbs().maxCoeff() < 10.0);  // an inverse of the parallel vectors would be ~1e15
  CHECK(std::abs(e.left.col(2).dot(e.right.col(2)) - 1.0) < 1e-12);  // the simple mode keeps L^T R = 1
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
