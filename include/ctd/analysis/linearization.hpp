#pragma once
// Linearisation at fixed points (SPEC §5): J = dF/dh and dF/dx, the
// eigen-decomposition of J sorted by real part or magnitude (descending)
// with right eigenvectors R (columns) and left eigenvectors L = pinv(R)^T,
// so that J = R diag(lambda) L^T, and the stability of each point as a
// fixed point of the discrete-time map (|lambda| > 1 is an unstable mode).
// Eigen-decompositions run in double on the host, points shared among the
// OpenMP threads.
#include <algorithm>
#include <complex>
#include <numeric>
#include <string>
#include <vector>

#include <Eigen/Dense>

#include "ctd/analysis/dynamical_map.hpp"
#include "ctd/analysis/parallel_points.hpp"
#include "ctd/core/error.hpp"

namespace ctd {

enum class EigenOrder { real_part, magnitude };

struct EigenDecomposition {
  Eigen::VectorXcd values;  // descending by the chosen key
  Eigen::MatrixXcd right;   // R, one eigenvector per column (empty unless asked for)
  Eigen::MatrixXcd left;    // L = pinv(R)^T, columns matching R: L^T R = I
};

// A template only so that its body — Eigen's eigen-solver and the complex
// pseudo-inverse, seconds of compile time — is instantiated in the programs
// that call it, not in every one that includes ctd.hpp.
template <class = void>
EigenDecomposition eigen_decomposition(const Eigen::Ref<const Eigen::MatrixXd>& J,
                                       EigenOrder order = EigenOrder::real_part, bool vectors = true) {
  require(J.rows() == J.cols(), "eigen_decomposition: the matrix must be square");
  require(J.allFinite(), "eigen_decomposition: the matrix holds NaN or Inf");
  const Eigen::EigenSolver<Eigen::MatrixXd> solver(J, vectors);
  require(solver.info() == Eigen::Success, "eigen_decomposition: the QR iteration did not converge");
  const Eigen::VectorXcd& values = solver.eigenvalues();
  const auto key = [&](Index k) {
    return order == EigenOrder::real_part ? values(k).real() : std::abs(values(k));
  };
  std::vector<Index> idx(std::size_t(values.size()));
  std::iota(idx.begin(), idx.end(), Index(0));
  std::stable_sort(idx.begin(), idx.end(), [&](Index a, Index b) { return key(a) > key(b); });
  EigenDecomposition out;
  out.values.resize(values.size());
  for (std::size_t k = 0; k < idx.size(); ++k) out.values(Index(k)) = values(idx[k]);
  if (vectors) {
    const Eigen::MatrixXcd R = solver.eigenvectors();
    out.right.resize(R.rows(), R.cols());
    for (std::size_t k = 0; k < idx.size(); ++k) out.right.col(Index(k)) = R.col(idx[k]);
    out.left = out.right.completeOrthogonalDecomposition().pseudoInverse().transpose();
  }
  return out;
}

enum class Stability { stable, saddle, unstable };

struct StabilityClass {
  Stability kind = Stability::stable;
  Index unstable_modes = 0;  // eigenvalues with |lambda| > 1
};

// For the discrete-time map h -> F(h): stable when every |lambda| < 1,
// unstable when every one exceeds 1, a saddle in between.
inline StabilityClass classify_fixed_point(const Eigen::VectorXcd& eigenvalues) {
  StabilityClass c;
  for (Index k = 0; k < eigenvalues.size(); ++k) c.unstable_modes += std::abs(eigenvalues(k)) > 1.0;
  c.kind = c.unstable_modes == 0                    ? Stability::stable
           : c.unstable_modes == eigenvalues.size() ? Stability::unstable
                                                    : Stability::saddle;
  return c;
}

inline const char* stability_name(Stability s) {
  switch (s) {
    case Stability::stable: return "stable";
    case Stability::saddle: return "saddle";
    case Stability::unstable: return "unstable";
  }
  return "?";
}

struct LinearizeOptions {
  EigenOrder order = EigenOrder::real_part;
  bool eigenvectors = true;    // R and L (else eigenvalues only)
  bool keep_jacobians = true;  // return dF/dh of every point (n x n*K)
  Index chunk = 256;           // points per batched Jacobian call
};

struct Linearization {
  HostMatrix<double> dF_dh;  // (n x n*K), block k = J at point k (when kept)
  HostMatrix<double> dF_dx;  // (n x u*K)
  std::vector<EigenDecomposition> eigen;
  std::vector<StabilityClass> stability;
};

// Linearises the map at points (n x K) with inputs (u x K).
template <DynamicalMap M>
Linearization linearize(typename M::backend::context& ctx, const M& map, const HostMatrix<double>& points,
                        const HostMatrix<double>& inputs, const LinearizeOptions& opt = {}) {
  using S = typename M::scalar;
  const Index n = map.state_size(), u = map.input_size(), K = points.cols();
  require(points.rows() == n && inputs.rows() == u && inputs.cols() == K,
          "linearize: expected points (" + std::to_string(n) + " x K) and inputs (" + std::to_string(u) +
              " x K), got (" + std::to_string(points.rows()) + " x " + std::to_string(K) + ") and (" +
              std::to_string(inputs.rows()) + " x " + std::to_string(inputs.cols()) + ")");
  require(opt.chunk > 0, "linearize: chunk must be positive");
  Linearization out;
  out.dF_dx.resize(n, u * K);
  if (opt.keep_jacobians) out.dF_dh.resize(n, n * K);
  out.eigen.resize(std::size_t(K));
  out.stability.resize(std::size_t(K));
  HostMatrix<S> J, X;
  Scratch<typename M::backend, S> scratch;
  for (Index first = 0; first < K; first += opt.chunk) {
    const Index count = std::min(opt.chunk, K - first);
    jacobians_at(ctx, map, HostMatrix<S>(points.middleCols(first, count).template cast<S>()),
                 HostMatrix<S>(inputs.middleCols(first, count).template cast<S>()), &J, &X, scratch);
    out.dF_dx.middleCols(first * u, count * u) = X.template cast<double>();
    if (opt.keep_jacobians) out.dF_dh.middleCols(first * n, count * n) = J.template cast<double>();
    parallel_points(count, "linearize", [&](Index p) {
      const Eigen::MatrixXd Jp = J.middleCols(p * n, n).template cast<double>();
      auto& e = out.eigen[std::size_t(first + p)];
      e = eigen_decomposition(Jp, opt.order, opt.eigenvectors);
      out.stability[std::size_t(first + p)] = classify_fixed_point(e.values);
    });
  }
  return out;
}

}  // namespace ctd
