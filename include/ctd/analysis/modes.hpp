#pragma once
// A state displacement seen through the eigenmodes of a linearisation
// J = R diag(lambda) L^T (linearization.hpp): its mode coordinates
// c = L^T v (so v = R c), the displacement with some modes taken out (of
// its coordinates, or of the left eigenvectors' span as the tutorial's
// notebook does), and the angle between it and the subspace a mode's left
// eigenvector spans.
// These are the contextual-processing tutorial's tools for asking which
// modes carry a modifier word's effect. A complex eigenvalue always comes
// with its conjugate: a mode group is the pair, and removing or measuring
// it keeps everything real.
#include <algorithm>
#include <cmath>
#include <vector>

#include <Eigen/Dense>

#include "ctd/analysis/linearization.hpp"
#include "ctd/core/error.hpp"

namespace ctd {

inline void check_modes(const EigenDecomposition& e, Index size, const char* what) {
  require(e.right.cols() == e.values.size() && e.left.cols() == e.values.size(),
          std::string(what) + ": the eigen-decomposition has no eigenvectors (linearise with eigenvectors on)");
  require(size == e.right.rows(), std::string(what) + ": the vector has " + std::to_string(size) +
                                      " entries, the eigenvectors " + std::to_string(e.right.rows()));
}

// c = L^T v: v = sum_i c_i r_i.
inline Eigen::VectorXcd mode_coordinates(const EigenDecomposition& e, const Eigen::VectorXd& v) {
  check_modes(e, v.size(), "mode_coordinates");
  return e.left.transpose() * v.cast<std::complex<double>>();
}

// Mode i and, for a complex eigenvalue, its conjugate partner (the nearest
// eigenvalue to conj(lambda_i) other than i, which must be close to it).
inline std::vector<Index> mode_group(const EigenDecomposition& e, Index i, double tol = 1e-9) {
  require(i >= 0 && i < e.values.size(), "mode_group: no mode " + std::to_string(i));
  const std::complex<double> l = e.values(i);
  const double scale = std::max(1.0, std::abs(l));
  if (std::abs(l.imag()) <= tol * scale) return {i};
  Index partner = -1;
  double best = INFINITY;
  for (Index j = 0; j < e.values.size(); ++j) {
    const double d = std::abs(e.values(j) - std::conj(l));
    if (j != i && d < best) best = d, partner = j;
  }
  require(partner >= 0 && best <= 1e-6 * scale,
          "mode_group: the complex eigenvalue " + std::to_string(l.real()) + " + " + std::to_string(l.imag()) +
              "i has no conjugate in the decomposition");
  return {std::min(i, partner), std::max(i, partner)};
}

// The mode groups in the decomposition's order, each mode in exactly one.
inline std::vector<std::vector<Index>> mode_groups(const EigenDecomposition& e) {
  std::vector<std::vector<Index>> groups;
  std::vector<bool> seen(std::size_t(e.values.size()), false);
  for (Index i = 0; i < e.values.size(); ++i) {
    if (seen[std::size_t(i)]) continue;
    auto g = mode_group(e, i);
    for (Index j : g) {
      require(!seen[std::size_t(j)], "mode_groups: a repeated complex eigenvalue pairs ambiguously");
      seen[std::size_t(j)] = true;
    }
    groups.push_back(std::move(g));
  }
  return groups;
}

// v less its components along `modes` (each with its conjugate partner).
inline Eigen::VectorXd remove_modes(const EigenDecomposition& e, const Eigen::VectorXd& v,
                                    const std::vector<Index>& modes) {
  const Eigen::VectorXcd c = mode_coordinates(e, v);
  std::vector<bool> removed(std::size_t(e.values.size()), false);
  for (Index i : modes)
    for (Index j : mode_group(e, i)) removed[std::size_t(j)] = true;
  Eigen::VectorXcd part = Eigen::VectorXcd::Zero(v.size());
  for (Index j = 0; j < e.values.size(); ++j)
    if (removed[std::size_t(j)]) part += c(j) * e.right.col(j);
  return v - part.real();
}

// An orthonormal basis (columns) of the real span of the left eigenvectors
// of `modes`, each with its conjugate partner: a line for a real
// eigenvalue, the plane of the real and imaginary parts for a complex pair.
inline Eigen::MatrixXd left_span(const EigenDecomposition& e, const std::vector<Index>& modes) {
  std::vector<bool> chosen(std::size_t(e.values.size()), false);
  for (Index i : modes)
    for (Index j : mode_group(e, i)) chosen[std::size_t(j)] = true;
  std::vector<Eigen::VectorXd> vectors;
  for (const auto& g : mode_groups(e)) {
    if (!chosen[std::size_t(g[0])]) continue;
    vectors.push_back(e.left.col(g[0]).real());
    if (g.size() == 2) vectors.push_back(e.left.col(g[0]).imag());
  }
  const Index n = e.left.rows(), k = Index(vectors.size());
  Eigen::MatrixXd span(n, k);
  for (Index c = 0; c < k; ++c) span.col(c) = vectors[std::size_t(c)];
  return span.householderQr().householderQ() * Eigen::MatrixXd::Identity(n, k);
}

// v less its orthogonal projection onto the real span of the modes' left
// eigenvectors: how the contextual-processing notebook takes modes out of
// a modifier's deflection (its kill_modes, Supplemental Figure 14). As with
// remove_modes, l_i^T v = 0 after it for every mode removed; unlike it, the
// other modes' coordinates change as well, unless the left eigenvectors
// are orthogonal (a normal J, where the two agree).
inline Eigen::VectorXd remove_left_span(const EigenDecomposition& e, const Eigen::VectorXd& v,
                                        const std::vector<Index>& modes) {
  check_modes(e, v.size(), "remove_left_span");
  if (modes.empty()) return v;
  const Eigen::MatrixXd Q = left_span(e, modes);
  return v - Q * (Q.transpose() * v);
}

// The angle (radians, in [0, pi/2]) between v and the real span of mode
// i's left eigenvector (left_span).
inline double angle_to_left_mode(const EigenDecomposition& e, Index i, const Eigen::VectorXd& v) {
  check_modes(e, v.size(), "angle_to_left_mode");
  const double norm = v.norm();
  require(norm > 0, "angle_to_left_mode: the vector is zero");
  return std::acos(std::min(1.0, (left_span(e, {i}).transpose() * v).norm() / norm));
}

}  // namespace ctd
