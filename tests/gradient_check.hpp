#pragma once
// The one finite-difference checker of the test suite (mlpack's
// CheckGradient): central differences of a function of doubles, perturbing
// the coordinates in place and restoring them. Every gradient and Jacobian
// test, CPU and CUDA, compares against these.
#include <algorithm>
#include <cmath>

#include <Eigen/Core>

namespace ctd::testing {

using Dense = Eigen::MatrixXd;

inline double relative_error(const Dense& a, const Dense& b) {
  return (a - b).norm() / std::max(1e-12, std::max(a.norm(), b.norm()));
}

// d loss / d x[i] for i < size, loss() a scalar function of x's contents.
template <class Loss>
Dense numeric_gradient(double* x, Eigen::Index size, Loss&& loss, double h = 1e-6) {
  Dense g(size, 1);
  for (Eigen::Index i = 0; i < size; ++i) {
    const double keep = x[i];
    x[i] = keep + h;
    const double up = loss();
    x[i] = keep - h;
    const double down = loss();
    x[i] = keep;
    g(i, 0) = (up - down) / (2 * h);
  }
  return g;
}

// The same, shaped like m.
template <class Loss>
Dense numeric_gradient(Dense& m, Loss&& loss, double h = 1e-6) {
  return numeric_gradient(m.data(), m.size(), loss, h).reshaped(m.rows(), m.cols());
}

// The Jacobian (rows of f's output x x.size()) of a vector function f of x.
template <class F>
Dense numeric_jacobian(F&& f, Dense x, double h = 1e-6) {
  Dense J;
  for (Eigen::Index j = 0; j < x.size(); ++j) {
    const double keep = x(j);
    x(j) = keep + h;
    const Dense up = f(x);
    x(j) = keep - h;
    const Dense down = f(x);
    x(j) = keep;
    if (J.size() == 0) J.resize(up.size(), x.size());
    J.col(j) = (up - down).reshaped() / (2 * h);
  }
  return J;
}

}  // namespace ctd::testing
