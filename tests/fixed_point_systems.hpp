#pragma once
// Small dynamical systems with known fixed points, shared by the
// fixed-point tests: an affine map, a vanilla RNN with given weights, the
// root of tanh(w h) = h, and finder settings for a handful of candidates.
//
// The problems are tiny: one thread (cpu::context ctx(1)) spares thousands
// of Adam steps a fork and join each, which a busy machine (ctest -j) turns
// into seconds.
#include <cmath>

#include "ctd/analysis/dynamical_map.hpp"
#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/vanilla.hpp"

namespace fixed_point_systems {

using namespace ctd;
using Mat = HostMatrix<double>;

// h' = A h + b: one fixed point (I - A)^-1 b when 1 is not an eigenvalue
// of A, a line or plane of them when it is.
struct AffineMap {
  using backend = cpu;
  using scalar = double;
  Mat A, b;

  Index state_size() const { return A.rows(); }
  Index input_size() const { return 1; }
  Index workspace_rows() const { return A.rows(); }
  ConstView<double> evaluate(cpu::context&, ConstView<double> h, ConstView<double> /*x*/,
                             MatrixView<double> workspace) const {
    cpu::map(workspace) = (A * cpu::map(h)).colwise() + b.col(0);
    return workspace;
  }
  void state_vjp(cpu::context&, ConstView<double>, MatrixView<double>, ConstView<double> g,
                 MatrixView<double> out) const {
    cpu::map(out) = A.transpose() * cpu::map(g);
  }
  void jacobians(cpu::context&, ConstView<double> h, ConstView<double>, Mat* dF_dh, Mat* dF_dx,
                 Scratch<cpu, double>&) const {
    if (dF_dh) *dF_dh = A.replicate(1, h.cols);
    if (dF_dx) *dF_dx = Mat::Zero(A.rows(), h.cols);
  }
};
static_assert(DynamicalMap<AffineMap>);

// h' = tanh(wR h + wI x + bR) with the given weights.
struct VanillaSystem {
  Parameters<cpu, double> params;
  StepMap<VanillaRnnCell<cpu, double>> map;
  VanillaSystem(cpu::context& ctx, const Mat& wR, const Mat& wI, const Mat& bR)
      : params(VanillaRnnCell<cpu, double>::specs(wR.rows(), wI.cols())),
        map(VanillaRnnCell<cpu, double>(wR.rows(), wI.cols()), bind_values<VanillaRnnCell<cpu, double>>(params)) {
    upload<cpu, double>(ctx, wR, params.value("wR"));
    upload<cpu, double>(ctx, wI, params.value("wI"));
    upload<cpu, double>(ctx, bR, params.value("bR"));
  }
};

// One step of a random tutorial GRU with one input, in double.
struct GruSystem {
  using Cell = GruCell<cpu, double>;
  Parameters<cpu, double> params;
  Cell::Tensors w;
  StepMap<Cell> map;
  GruSystem(cpu::context& ctx, Index n, Rng& rng, const Cell::Init& init)
      : params(Cell::specs(n, 1)), w(bind_values<Cell>(params)), map(Cell(n, 1), w) {
    Cell::initialize(ctx, w, rng, init);
  }
};

// The positive root of tanh(w h) = h for w > 1, by bisection.
inline double tanh_fixed_point(double w) {
  double lo = 1e-3, hi = 1.0;
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    (std::tanh(w * mid) > mid ? lo : hi) = mid;
  }
  return 0.5 * (lo + hi);
}

// Finder settings for a handful of candidates in double: the tutorial's
// Adam (lr 0.2, eps 1e-5) is tuned for 10^6 coordinates, where the mean
// loss's gradient is tiny; here a smaller, slower-decaying step fits.
inline FixedPointOptions small_problem_options() {
  FixedPointOptions opt;
  opt.adam = {0.02, 0.999, 0.9, 0.999, 1e-12};
  opt.max_steps = 4000;
  opt.check_every = 100;
  opt.stop_tol = 1e-16;
  opt.fp_tol = 1e-10;
  return opt;
}

inline Mat linspace_row(double from, double to, Index count) {
  return Eigen::RowVectorXd::LinSpaced(count, from, to);
}

}  // namespace fixed_point_systems
