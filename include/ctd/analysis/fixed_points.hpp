#pragma once
// A set of (approximate) fixed points and the tutorial's filters on it
// (SPEC §5), in double precision on the host:
//   speed tolerance  keep points with q < fp_tol
//   uniqueness       keep a point unless it lies within unique_tol of a
//                    point already kept (in the current order)
//   outliers         drop points with no other point within outlier_tol
//   slowest first    sort by q ascending
// Each filter returns the positions to keep; FixedPoints::keep applies them,
// so every point carries its index in the original candidate set along.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <utility>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"

namespace ctd {

struct FixedPoints {
  HostMatrix<double> points;          // (n x K), one point per column
  HostMatrix<double> inputs;          // (u x K): the x* each point is a fixed point for
  std::vector<double> speeds;         // q = mean_i (F(h)_i - h_i)^2
  std::vector<Index> candidate_index;  // column of the candidate it came from

  Index size() const { return points.cols(); }

  // Keeps the points at the given positions, in that order.
  void keep(const std::vector<Index>& positions) {
    HostMatrix<double> p(points.rows(), Index(positions.size())), x(inputs.rows(), Index(positions.size()));
    std::vector<double> q;
    std::vector<Index> c;
    for (std::size_t k = 0; k < positions.size(); ++k) {
      p.col(Index(k)) = points.col(positions[k]);
      x.col(Index(k)) = inputs.col(positions[k]);
      q.push_back(speeds[std::size_t(positions[k])]);
      c.push_back(candidate_index[std::size_t(positions[k])]);
    }
    points = std::move(p);
    inputs = std::move(x);
    speeds = std::move(q);
    candidate_index = std::move(c);
  }
};

// Positions of the points with speed < tol.
inline std::vector<Index> below_tolerance(const std::vector<double>& speeds, double tol) {
  std::vector<Index> kept;
  for (std::size_t k = 0; k < speeds.size(); ++k)
    if (speeds[k] < tol) kept.push_back(Index(k));
  return kept;
}

// Positions of the points (columns) that lie farther than unique_tol from
// every point kept before them.
inline std::vector<Index> unique_points(const HostMatrix<double>& points, double unique_tol) {
  const Index n = points.rows(), K = points.cols();
  HostMatrix<double> kept_points(n, K);
  std::vector<Index> kept;
  const double tol2 = unique_tol * unique_tol;
  for (Index k = 0; k < K; ++k) {
    const Index m = Index(kept.size());
    const bool duplicate =
        m > 0 && (kept_points.leftCols(m).colwise() - points.col(k)).colwise().squaredNorm().minCoeff() <= tol2;
    if (duplicate) continue;
    kept_points.col(m) = points.col(k);
    kept.push_back(k);
  }
  return kept;
}

// Positions of the points whose nearest other point lies closer than
// outlier_tol. With fewer than two points there is nothing to compare, and
// an infinite tolerance keeps everything (the tutorial's conventions).
inline std::vector<Index> non_outliers(const HostMatrix<double>& points, double outlier_tol) {
  const Index K = points.cols();
  std::vector<Index> kept(static_cast<std::size_t>(K));
  std::iota(kept.begin(), kept.end(), Index(0));
  if (K < 2 || std::isinf(outlier_tol)) return kept;
  // Squared distances from Gram products (double: exact enough at these
  // scales), a block of points at a time to bound the memory.
  const Eigen::RowVectorXd norms = points.colwise().squaredNorm();
  const Index block = 256;
  kept.clear();
  for (Index first = 0; first < K; first += block) {
    const Index count = std::min(block, K - first);
    HostMatrix<double> d2 = -2.0 * points.middleCols(first, count).transpose() * points;
    d2.rowwise() += norms;
    d2.colwise() += norms.segment(first, count).transpose();
    for (Index k = 0; k < count; ++k) {
      d2(k, first + k) = std::numeric_limits<double>::infinity();  // not its own neighbour
      if (std::sqrt(std::max(d2.row(k).minCoeff(), 0.0)) < outlier_tol) kept.push_back(first + k);
    }
  }
  return kept;
}

// Positions ordered by speed, slowest first (stable for equal speeds).
inline std::vector<Index> slowest_first(const std::vector<double>& speeds) {
  std::vector<Index> order(speeds.size());
  std::iota(order.begin(), order.end(), Index(0));
  std::stable_sort(order.begin(), order.end(),
                   [&](Index a, Index b) { return speeds[std::size_t(a)] < speeds[std::size_t(b)]; });
  return order;
}

}  // namespace ctd
