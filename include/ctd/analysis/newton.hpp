#pragma once
// Newton refinement of fixed points in double precision: solve
//   (J - I) delta = -(F(h) - h),  J = dF/dh (analytic)
// and step h += alpha delta, alpha halved until the squared residual
// decreases enough (Armijo) and h stays within max_displacement of where
// it started, until max_i |F(h)_i - h_i| falls below the tolerance or the
// iteration limit. Each point reports, for where it ends, the residual, the
// distance moved and the smallest singular value of (J - I) — near zero
// where the point is not isolated (a continuous attractor) — and the Newton
// steps taken.
//
// On an approximate line attractor most slow points are not fixed points:
// Newton slides them along the line to the few true fixed points there are
// (the displacement says how far). max_displacement (default unlimited)
// keeps the refinement local instead, so a point is either certified where
// it is or stays a slow point nearby.
//
// Points are refined together: F and J are evaluated batched on the map's
// backend, the solves and SVDs run on the host, shared among OpenMP threads.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <type_traits>
#include <vector>

#include <Eigen/Dense>
#include <Eigen/SVD>

#include "ctd/analysis/dynamical_map.hpp"
#include "ctd/analysis/fixed_points.hpp"
#include "ctd/analysis/parallel_points.hpp"
#include "ctd/core/error.hpp"

namespace ctd {

struct NewtonOptions {
  double tolerance = 1e-10;  // on the max-norm of F(h) - h
  Index max_iterations = 100;  // damped steps along a slow manifold are short
  double max_displacement = std::numeric_limits<double>::infinity();  // trust radius around the start
  Index max_halvings = 40;  // backtracking steps per iteration
  Index chunk = 256;        // points per batched Jacobian call
};

struct NewtonReport {
  double tolerance = 0;
  std::vector<double> residual;                 // final max_i |F(h)_i - h_i|
  std::vector<Index> iterations;                // Newton steps taken
  std::vector<double> smallest_singular_value;  // of (J - I) at the final point
  std::vector<double> displacement;             // |h_final - h_start|

  bool converged(Index k) const { return residual[std::size_t(k)] < tolerance; }
  double converged_fraction() const {
    if (residual.empty()) return 0;
    Index count = 0;
    for (Index k = 0; k < Index(residual.size()); ++k) count += converged(k);
    return double(count) / double(residual.size());
  }
  double max_residual() const {
    return residual.empty() ? 0 : *std::max_element(residual.begin(), residual.end());
  }
};

namespace detail {

inline HostMatrix<double> gather(const HostMatrix<double>& m, const std::vector<Index>& cols) {
  HostMatrix<double> out(m.rows(), Index(cols.size()));
  for (std::size_t k = 0; k < cols.size(); ++k) out.col(Index(k)) = m.col(cols[k]);
  return out;
}

}  // namespace detail

// Refines fps in place (points and speeds) with a map over doubles.
template <DynamicalMap M>
NewtonReport refine_newton(typename M::backend::context& ctx, const M& map, FixedPoints& fps,
                           const NewtonOptions& opt = {}) {
  static_assert(std::is_same_v<typename M::scalar, double>,
                "Newton refinement runs in double: build the map on double parameters (cast_parameters)");
  require(opt.tolerance > 0 && opt.max_displacement > 0 && opt.chunk > 0,
          "refine_newton: tolerance, max_displacement and chunk must be positive");
  require(opt.max_iterations >= 0 && opt.max_halvings >= 0, "refine_newton: the limits must not be negative");
  const Index n = map.state_size(), K = fps.size();
  require(fps.points.rows() == n && fps.inputs.rows() == map.input_size() && fps.inputs.cols() == K,
          "refine_newton: points must be (" + std::to_string(n) + " x K) with inputs (" +
              std::to_string(map.input_size()) + " x K)");
  const auto residual_of = [&](const HostMatrix<double>& h, const HostMatrix<double>& x) {
    return HostMatrix<double>(evaluate_at(ctx, map, h, x) - h);
  };
  NewtonReport report;
  report.tolerance = opt.tolerance;
  report.iterations.assign(std::size_t(K), 0);
  const HostMatrix<double> start = fps.points;
  HostMatrix<double> H = start, R = K > 0 ? residual_of(start, fps.inputs) : HostMatrix<double>(n, 0);
  std::vector<bool> stalled(std::size_t(K), false);
  Scratch<typename M::backend, double> scratch;  // the Jacobians' temporaries, reused every iteration

  for (Index it = 0; it < opt.max_iterations; ++it) {
    std::vector<Index> active;
    for (Index k = 0; k < K; ++k)
      if (!stalled[std::size_t(k)] && R.col(k).lpNorm<Eigen::Infinity>() >= opt.tolerance) active.push_back(k);
    if (active.empty()) break;
    const Index A = Index(active.size());
    const HostMatrix<double> Ha = detail::gather(H, active), Xa = detail::gather(fps.inputs, active);
    HostMatrix<double> delta(n, A), J;
    for (Index first = 0; first < A; first += opt.chunk) {
      const Index count = std::min(opt.chunk, A - first);
      jacobians_at(ctx, map, HostMatrix<double>(Ha.middleCols(first, count)),
                   HostMatrix<double>(Xa.middleCols(first, count)), &J, nullptr, scratch);
      parallel_points(count, "refine_newton", [&](Index p) {
        Eigen::MatrixXd JmI = J.middleCols(p * n, n);
        JmI.diagonal().array() -= 1.0;
        delta.col(first + p) = JmI.partialPivLu().solve(-R.col(active[std::size_t(first + p)]));
      });
    }
    // Backtracking, batched over the points still searching.
    std::vector<Index> searching;
    std::vector<double> alpha(std::size_t(A), 1.0);
    for (Index a = 0; a < A; ++a) {
      ++report.iterations[std::size_t(active[std::size_t(a)])];
      if (delta.col(a).allFinite())
        searching.push_back(a);
      else
        stalled[std::size_t(active[std::size_t(a)])] = true;  // J - I exactly singular
    }
    for (Index halving = 0; halving <= opt.max_halvings && !searching.empty(); ++halving) {
      HostMatrix<double> trial(n, Index(searching.size())), trial_inputs(Xa.rows(), Index(searching.size()));
      for (std::size_t s = 0; s < searching.size(); ++s) {
        const Index a = searching[s];
        trial.col(Index(s)) = Ha.col(a) + alpha[std::size_t(a)] * delta.col(a);
        trial_inputs.col(Index(s)) = Xa.col(a);
      }
      const HostMatrix<double> trial_residual = residual_of(trial, trial_inputs);
      std::vector<Index> still;
      for (std::size_t s = 0; s < searching.size(); ++s) {
        const Index a = searching[s], k = active[std::size_t(a)];
        const double before = R.col(k).squaredNorm(), after = trial_residual.col(Index(s)).squaredNorm();
        const bool within = (trial.col(Index(s)) - start.col(k)).norm() <= opt.max_displacement;
        if (within && after <= (1.0 - 2e-4 * alpha[std::size_t(a)]) * before) {
          H.col(k) = trial.col(Index(s));
          R.col(k) = trial_residual.col(Index(s));
        } else {
          alpha[std::size_t(a)] *= 0.5;
          still.push_back(a);
        }
      }
      searching = std::move(still);
    }
    for (const Index a : searching) stalled[std::size_t(active[std::size_t(a)])] = true;
  }

  report.residual.resize(std::size_t(K));
  report.displacement.resize(std::size_t(K));
  report.smallest_singular_value.resize(std::size_t(K));
  for (Index k = 0; k < K; ++k) {
    report.residual[std::size_t(k)] = R.col(k).lpNorm<Eigen::Infinity>();
    report.displacement[std::size_t(k)] = (H.col(k) - start.col(k)).norm();
    fps.speeds[std::size_t(k)] = R.col(k).squaredNorm() / double(n);
  }
  fps.points = H;
  HostMatrix<double> J;
  for (Index first = 0; first < K; first += opt.chunk) {
    const Index count = std::min(opt.chunk, K - first);
    jacobians_at(ctx, map, HostMatrix<double>(H.middleCols(first, count)),
                 HostMatrix<double>(fps.inputs.middleCols(first, count)), &J, nullptr, scratch);
    parallel_points(count, "refine_newton", [&](Index p) {
      Eigen::MatrixXd JmI = J.middleCols(p * n, n);
      JmI.diagonal().array() -= 1.0;
      // JacobiSVD: as accurate for the smallest value, and at n ~ 100 it
      // costs a third of BDCSVD's compile time for a few ms more per point.
      report.smallest_singular_value[std::size_t(first + p)] =
          Eigen::JacobiSVD<Eigen::MatrixXd>(JmI).singularValues().minCoeff();
    });
  }
  return report;
}

}  // namespace ctd
