#pragma once
// Linearisation at fixed points (SPEC §5): J = dF/dh and dF/dx, the
// eigen-decomposition of J sorted by real part or magnitude (descending)
// with right eigenvectors R (columns) and left eigenvectors L = pinv(R)^T,
// so that J = R diag(lambda) L^T, and the stability of each point as a
// fixed point of the discrete-time map (|lambda| > 1 is an unstable mode).
// Eigen-decompositions run on the host in the map's precision, points
// shared among the OpenMP threads.
#include <algorithm>
#include <cmath>
#include <complex>
#include <numeric>
#include <string>
#include <utility>
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

// R and L^T = pinv(R) from Eigen's real form J V = V D, where a complex
// pair a +- ib takes two columns v_re, v_im of V (and D's 2x2 block says
// which): R's columns are (v_re +- i v_im) / nu, nu the complex column's
// norm, as EigenSolver::eigenvectors() makes them, so R = V M N^-1 and
// L^T = N M^-1 pinv(V) with M^-1's pair block [1 -i; 1 i] / 2: real work
// only. pinv(V) is V's LU inverse (a fifth of the pseudo-inverse's cost)
// unless V is singular to working precision — a defective J, whose
// eigenvectors come out parallel — where the inverse would be ~1/eps.
template <class Solver>
auto eigenvectors_from_real_form(const Solver& solver) {
  using T = typename Solver::RealScalar;
  using Real = typename Solver::MatrixType;
  using Complex = Eigen::Matrix<std::complex<T>, Eigen::Dynamic, Eigen::Dynamic>;
  const auto& V = solver.pseudoEigenvectors();
  const Real D = solver.pseudoEigenvalueMatrix();
  const Eigen::PartialPivLU<Real> lu(V);
  const Real W = lu.rcond() > std::sqrt(Eigen::NumTraits<T>::epsilon())
                     ? Real(lu.inverse())
                     : Real(V.completeOrthogonalDecomposition().pseudoInverse());
  const Index n = V.cols();
  const std::complex<T> i(0, 1);
  Complex R(n, n), Lt(n, n);
  for (Index k = 0; k < n; ++k) {
    if (k + 1 < n && D(k, k + 1) != T(0)) {
      const T nu = std::sqrt(V.col(k).squaredNorm() + V.col(k + 1).squaredNorm());
      R.col(k) = (V.col(k).template cast<std::complex<T>>() + i * V.col(k + 1).template cast<std::complex<T>>()) / nu;
      R.col(k + 1) = R.col(k).conjugate();
      Lt.row(k) = (W.row(k).template cast<std::complex<T>>() - i * W.row(k + 1).template cast<std::complex<T>>()) * (nu / 2);
      Lt.row(k + 1) = Lt.row(k).conjugate();
      ++k;
    } else {
      const T nu = V.col(k).norm();
      R.col(k) = V.col(k).template cast<std::complex<T>>() / nu;
      Lt.row(k) = W.row(k).template cast<std::complex<T>>() * nu;
    }
  }
  return std::pair{R, Lt};
}

// In J's own precision: a float Jacobian is decomposed in float, as the
// tutorial's NumPy does with its float32 Jacobians (2.5x faster than double
// here); the results are returned in double either way. A template also
// keeps Eigen's eigen-solver and the pseudo-inverse — seconds of
// compile time — out of the programs that include ctd.hpp without calling it.
template <class Derived>
EigenDecomposition eigen_decomposition(const Eigen::MatrixBase<Derived>& J, EigenOrder order = EigenOrder::real_part,
                                       bool vectors = true) {
  using T = typename Derived::Scalar;
  using Real = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  require(J.rows() == J.cols(), "eigen_decomposition: the matrix must be square");
  require(J.allFinite(), "eigen_decomposition: the matrix holds NaN or Inf");
  const Eigen::EigenSolver<Real> solver(J, vectors);
  require(solver.info() == Eigen::Success, "eigen_decomposition: the QR iteration did not converge");
  const auto& values = solver.eigenvalues();
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
    const auto [R, Lt] = eigenvectors_from_real_form(solver);
    out.right.resize(R.rows(), R.cols());
    out.left.resize(R.rows(), R.cols());
    for (std::size_t k = 0; k < idx.size(); ++k) {
      out.right.col(Index(k)) = R.col(idx[k]).template cast<std::complex<double>>();
      out.left.col(Index(k)) = Lt.row(idx[k]).transpose().template cast<std::complex<double>>();
    }
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
      auto& e = out.eigen[std::size_t(first + p)];
      e = eigen_decomposition(J.middleCols(p * n, n), opt.order, opt.eigenvectors);
      out.stability[std::size_t(first + p)] = classify_fixed_point(e.values);
    });
  }
  return out;
}

}  // namespace ctd
