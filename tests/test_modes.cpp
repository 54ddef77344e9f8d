// Mode coordinates, mode removal and angles to left eigenvectors on a
// linear map whose eigenmodes are known by construction: J = P B P^-1 with
// B = diag(0.9, 0.1, [[0.5, 0.6], [-0.6, 0.5]]) (a complex pair 0.5 +- 0.6i).
#include <catch2/catch.hpp>

#include <cmath>
#include <numbers>

#include "ctd/analysis/modes.hpp"
#include "ctd/core/rng.hpp"

using namespace ctd;

namespace {

struct KnownSystem {
  Eigen::MatrixXd P, J;
  EigenDecomposition e;
  Index slow = -1, fast = -1, pair = -1;  // modes 0.9, 0.1 and one of the pair
};

KnownSystem known_system() {
  KnownSystem s;
  Rng rng(21);
  s.P = Eigen::MatrixXd::NullaryExpr(4, 4, [&] { return rng.normal(); });
  Eigen::MatrixXd B = Eigen::MatrixXd::Zero(4, 4);
  B(0, 0) = 0.9;
  B(1, 1) = 0.1;
  B.block(2, 2, 2, 2) << 0.5, 0.6, -0.6, 0.5;
  s.J = s.P * B * s.P.inverse();
  s.e = eigen_decomposition(s.J);
  for (Index i = 0; i < 4; ++i) {
    const auto l = s.e.values(i);
    if (std::abs(l - 0.9) < 1e-9) s.slow = i;
    if (std::abs(l - 0.1) < 1e-9) s.fast = i;
    if (std::abs(l.imag()) > 0.5) s.pair = i;
  }
  return s;
}

}  // namespace

TEST_CASE("modes: coordinates recover how a vector was built from the right eigenvectors", "[modes]") {
  const KnownSystem s = known_system();
  REQUIRE(s.slow >= 0);
  REQUIRE(s.fast >= 0);
  REQUIRE(s.pair >= 0);
  CHECK(mode_groups(s.e).size() == 3);
  CHECK(mode_group(s.e, s.slow).size() == 1);
  CHECK(mode_group(s.e, s.pair).size() == 2);
  const Eigen::VectorXd v = (s.e.right.col(s.slow) - 2.0 * s.e.right.col(s.fast)).real();
  const Eigen::VectorXcd c = mode_coordinates(s.e, v);
  CHECK(std::abs(c(s.slow) - 1.0) < 1e-10);
  CHECK(std::abs(c(s.fast) + 2.0) < 1e-10);
  for (Index j : mode_group(s.e, s.pair)) CHECK(std::abs(c(j)) < 1e-10);
}

TEST_CASE("modes: removing modes leaves exactly the other components, real for a complex pair", "[modes]") {
  const KnownSystem s = known_system();
  const Eigen::VectorXd along_pair = s.P.col(2);  // the pair's real plane is P's columns 2 and 3
  const Eigen::VectorXd v = 3.0 * s.P.col(0) + along_pair;
  // Mode 0.9's right eigenvector is P's column 0 (up to scale).
  CHECK((remove_modes(s.e, v, {s.pair}) - 3.0 * s.P.col(0)).norm() < 1e-10);
  CHECK((remove_modes(s.e, v, {s.slow}) - along_pair).norm() < 1e-10);
  CHECK(remove_modes(s.e, v, {s.slow, s.pair}).norm() < 1e-10);
  CHECK((remove_modes(s.e, v, {s.fast}) - v).norm() < 1e-10);
  // Removing a mode removes its effect on the map's response.
  const Eigen::VectorXd w = remove_modes(s.e, v, {s.pair});
  CHECK((s.J * w - 0.9 * w).norm() < 1e-10);
}

TEST_CASE("modes: angles to a left eigenvector's line or plane", "[modes]") {
  const KnownSystem s = known_system();
  const Eigen::MatrixXd Linv = s.P.inverse();  // rows: the left eigenvectors of the blocks
  const Eigen::VectorXd in_plane = 0.3 * Linv.row(2).transpose() - 1.7 * Linv.row(3).transpose();
  CHECK(angle_to_left_mode(s.e, s.pair, in_plane) < 1e-7);
  CHECK(angle_to_left_mode(s.e, s.slow, Linv.row(0).transpose()) < 1e-7);
  // A vector orthogonal to the plane, and one at 45 degrees to the slow mode's line.
  Eigen::MatrixXd plane(4, 2);
  plane << Linv.row(2).transpose(), Linv.row(3).transpose();
  const Eigen::MatrixXd Q = plane.householderQr().householderQ() * Eigen::MatrixXd::Identity(4, 2);
  const Eigen::VectorXd x = Eigen::VectorXd::LinSpaced(4, 1.0, 2.0);
  const Eigen::VectorXd orthogonal = x - Q * (Q.transpose() * x);
  CHECK(angle_to_left_mode(s.e, s.pair, orthogonal) == Approx(std::numbers::pi / 2).margin(1e-7));
  const Eigen::VectorXd l = Linv.row(0).transpose().normalized();
  Eigen::VectorXd o = x - l * l.dot(x);
  o.normalize();
  CHECK(angle_to_left_mode(s.e, s.slow, l + o) == Approx(std::numbers::pi / 4).margin(1e-7));
  CHECK_THROWS_WITH(angle_to_left_mode(s.e, s.slow, Eigen::VectorXd::Ones(3)), Catch::Contains("3 entries"));
}

// The notebook's removal: v less its projection on the left eigenvectors'
// span. On the known system: nothing of v stays along the removed modes'
// left eigenvectors and only that span's part goes; on a normal map (J
// symmetric, left = right eigenvectors, orthonormal) it is remove_modes.
TEST_CASE("modes: removing the left eigenvectors' span, and on a normal map the modes themselves", "[modes]") {
  const KnownSystem s = known_system();
  const Eigen::MatrixXd Linv = s.P.inverse();
  const Eigen::VectorXd v = Eigen::VectorXd::LinSpaced(4, -1.0, 2.5);
  const Eigen::VectorXd w = remove_left_span(s.e, v, {s.pair, s.fast});
  for (Index row : {1, 2, 3}) CHECK(std::abs(Linv.row(row).dot(w)) < 1e-10);
  Eigen::MatrixXd span(4, 3);
  span << Linv.row(1).transpose(), Linv.row(2).transpose(), Linv.row(3).transpose();
  const Eigen::VectorXd removed = v - w;
  CHECK((span * span.colPivHouseholderQr().solve(removed) - removed).norm() < 1e-10);  // in the span
  CHECK(std::abs(removed.dot(w)) < 1e-10);                                             // orthogonal projection
  CHECK((remove_left_span(s.e, v, {}) - v).norm() == 0.0);

  Rng rng(5);
  const Eigen::MatrixXd A = Eigen::MatrixXd::NullaryExpr(4, 4, [&] { return rng.normal(); });
  const Eigen::MatrixXd Q = A.householderQr().householderQ();
  const Eigen::Vector4d lambda(0.9, 0.1, 0.5, -0.3);
  const EigenDecomposition sym = eigen_decomposition(Eigen::MatrixXd(Q * lambda.asDiagonal() * Q.transpose()));
  for (Index i = 0; i < 4; ++i) {
    CHECK((remove_left_span(sym, v, {i}) - remove_modes(sym, v, {i})).norm() < 1e-10);
    const std::vector<Index> two{i, (i + 1) % 4};
    CHECK((remove_left_span(sym, v, two) - remove_modes(sym, v, two)).norm() < 1e-10);
  }
}
