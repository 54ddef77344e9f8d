// Jacobians dF/dh and dF/dx of every cell, at a batch of points, against
// central finite differences in double (relative error < 1e-6), and the
// analysis maps' state VJPs against the same Jacobians.
#include <catch2/catch.hpp>

#include <cstdint>

#include "ctd/analysis/dynamical_map.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/esn.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/lstm.hpp"
#include "ctd/cells/vanilla.hpp"
#include "gradient_check.hpp"

using namespace ctd;
using Mat = HostMatrix<double>;
using testing::relative_error;

namespace {

constexpr Index n = 6, u = 3, P = 4;

// Random weights everywhere (biases too, so no term of the formulas hides
// behind a zero).
void randomize(cpu::context& ctx, Parameters<cpu, double>& params, Rng& rng, double scale) {
  for (Index i = 0; i < Index(params.specs().size()); ++i) {
    const auto v = params.value(i);
    upload<cpu, double>(ctx, random_normal<double>(rng, v.rows, v.cols, scale), v);
  }
}

// Central differences of F at each point p with respect to its state and
// its input (testing::numeric_jacobian), laid out as the maps' blocks.
template <class Map>
void finite_differences(cpu::context& ctx, const Map& map, const Mat& h, const Mat& x, Mat& dh, Mat& dx) {
  const Index ns = h.rows();
  dh.resize(ns, ns * P);
  dx.resize(ns, u * P);
  for (Index p = 0; p < P; ++p) {
    const Mat hp = h.col(p), xp = x.col(p);
    dh.middleCols(p * ns, ns) = testing::numeric_jacobian([&](const Mat& v) { return evaluate_at(ctx, map, v, xp); }, hp);
    dx.middleCols(p * u, u) = testing::numeric_jacobian([&](const Mat& v) { return evaluate_at(ctx, map, hp, v); }, xp);
  }
}

template <class Map>
void check_map(cpu::context& ctx, const Map& map, Rng& rng) {
  const Index ns = map.state_size();
  const Mat h = random_normal<double>(rng, ns, P, 0.8), x = random_normal<double>(rng, u, P, 1.0);
  Mat J, X, J_fd, X_fd;
  Scratch<cpu, double> scratch;
  jacobians_at(ctx, map, h, x, &J, &X, scratch);
  finite_differences(ctx, map, h, x, J_fd, X_fd);
  REQUIRE(J.rows() == ns);
  REQUIRE(J.cols() == ns * P);
  REQUIRE(X.cols() == u * P);
  CHECK(relative_error(J, J_fd) < 1e-6);
  CHECK(relative_error(X, X_fd) < 1e-6);
  // Null outputs are skipped; the other is still right.
  Mat J_only;
  jacobians_at(ctx, map, h, x, &J_only, nullptr, scratch);
  CHECK((J_only - J).cwiseAbs().maxCoeff() == 0.0);

  // The state VJP is J_p^T g_p for every point.
  const Mat g = random_normal<double>(rng, ns, P, 1.0);
  const Matrix<cpu, double> hd = upload<cpu, double>(ctx, h), xd = upload<cpu, double>(ctx, x),
                            gd = upload<cpu, double>(ctx, g);
  Matrix<cpu, double> vjp(ns, P), workspace(map.workspace_rows(), P);
  map.evaluate(ctx, hd.view(), xd.view(), workspace.view());
  map.state_vjp(ctx, hd.view(), workspace.view(), gd.view(), vjp.view());
  const Mat got = download<cpu, double>(ctx, vjp.view());
  Mat expected(ns, P);
  for (Index p = 0; p < P; ++p) expected.col(p) = J.middleCols(p * ns, ns).transpose() * g.col(p);
  CHECK(relative_error(got, expected) < 1e-12);
  // The cotangent is read, not consumed.
  CHECK((download<cpu, double>(ctx, gd.view()) - g).cwiseAbs().maxCoeff() == 0.0);
}

// One step of a step cell with random weights of the given scale.
template <class Cell>
void check_step_cell(std::uint64_t seed, double scale) {
  cpu::context ctx;
  Rng rng(seed);
  Parameters<cpu, double> params(Cell::specs(n, u));
  randomize(ctx, params, rng, scale);
  const StepMap<Cell> map(Cell(n, u), bind_values<Cell>(params));
  check_map(ctx, map, rng);
}

}  // namespace

TEST_CASE("vanilla RNN Jacobians match finite differences", "[jacobians]") {
  check_step_cell<VanillaRnnCell<cpu, double>>(11, 0.6);
}

TEST_CASE("GRU Jacobians match finite differences", "[jacobians]") {
  check_step_cell<GruCell<cpu, double>>(12, 0.7);
}

TEST_CASE("LSTM Jacobians (of its state [h; c]) match finite differences", "[jacobians][lstm]") {
  check_step_cell<LstmCell<cpu, double>>(14, 0.7);
}

TEST_CASE("ESN Jacobians match finite differences", "[jacobians]") {
  cpu::context ctx;
  Rng rng(13);
  const Index m = 2;
  Parameters<cpu, double> params(EsnCell<cpu, double>::specs(n, u, m));
  randomize(ctx, params, rng, 0.5);
  EsnMap<cpu, double> map(ctx, EsnCell<cpu, double>(n, u, m, 0.1), bind_values<EsnCell<cpu, double>>(params));
  check_map(ctx, map, rng);
}

TEST_CASE("cell Jacobians reject mismatched shapes", "[jacobians]") {
  cpu::context ctx;
  Parameters<cpu, double> params(GruCell<cpu, double>::specs(n, u));
  GruCell<cpu, double> gru(n, u);
  const Matrix<cpu, double> h(n, P), x_wrong(u + 1, P);
  Mat J;
  Scratch<cpu, double> scratch;
  CHECK_THROWS_AS(gru.jacobians(ctx, bind_values<GruCell<cpu, double>>(params), h.view(), x_wrong.view(), &J, nullptr,
                                scratch),
                  Error);
  Parameters<cpu, double> vparams(VanillaRnnCell<cpu, double>::specs(n, u));
  VanillaRnnCell<cpu, double> rnn(n, u);
  const Matrix<cpu, double> h_wrong(n + 1, P), x(u, P);
  CHECK_THROWS_AS(rnn.jacobians(ctx, bind_values<VanillaRnnCell<cpu, double>>(vparams), h_wrong.view(), x.view(), &J,
                                nullptr, scratch),
                  Error);
}
