// Tests for ctd/cells/esn.hpp (SPEC §2c): the Euler step on hand-computed
// numbers, batched steps equal single ones, the analytic Jacobians of the
// autonomous map against central finite differences, seeded initialisation
// with the tutorial's scales, and bad arguments.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/esn.hpp"

using ctd::cpu;
using ctd::HostMatrix;
using ctd::Index;
using Catch::Matchers::Contains;

namespace {

using Esn = ctd::EsnCell<cpu, double>;

HostMatrix<double> host(Index rows, Index cols, std::initializer_list<double> column_major) {
  HostMatrix<double> m(rows, cols);
  Index i = 0;
  for (double v : column_major) m.data()[i++] = v;
  return m;
}

// A random ESN in double: n units, u inputs, m outputs.
struct RandomEsn {
  cpu::context ctx;
  Esn cell;
  ctd::Parameters<cpu, double> params;
  Esn::Tensors w;
  RandomEsn(Index n, Index u, Index m, double g, double dt_over_tau, std::uint64_t seed)
      : cell(n, u, m, dt_over_tau), params(Esn::specs(n, u, m)), w(bind_values<Esn>(params)) {
    ctd::Rng rng(seed);
    Esn::Init init;
    init.g = g;
    Esn::initialize(ctx, w, rng, init);
  }
};

}  // namespace

TEST_CASE("ESN step matches the equations on hand-computed numbers", "[esn]") {
  cpu::context ctx;
  const Esn cell(2, 1, 1, 0.1);
  ctd::Parameters<cpu, double> params(Esn::specs(2, 1, 1));
  const auto w = bind_values<Esn>(params);
  ctd::upload<cpu, double>(ctx, host(2, 1, {0.5, -0.25}), w.a0);
  ctd::upload<cpu, double>(ctx, host(2, 1, {1.0, 2.0}), w.wI);
  ctd::upload<cpu, double>(ctx, host(2, 2, {0.1, 0.3, 0.2, -0.4}), w.wR);  // [[0.1 0.2] [0.3 -0.4]]
  ctd::upload<cpu, double>(ctx, host(1, 2, {1.0, -1.0}), w.wO);
  ctd::upload<cpu, double>(ctx, host(2, 1, {0.5, 2.0}), w.wF);
  auto state = cell.make_state(ctx, 1);
  cell.reset(ctx, w, state);
  // h = tanh(a0) = (0.46211715726000974, -0.24491866240370913); z = h0 - h1.
  CHECK(state.h.data()[0] == Approx(0.46211715726000974).epsilon(1e-14));
  CHECK(state.h.data()[1] == Approx(-0.24491866240370913).epsilon(1e-14));
  CHECK(state.z.data()[0] == Approx(0.7070358196637189).epsilon(1e-14));

  // drive = wI x + wR h + wF z with x = 0.4:
  //   0.4 + 0.1*0.46211716 + 0.2*(-0.24491866) + 0.5*0.70703582 = 0.75074589
  //   0.8 + 0.3*0.46211716 - 0.4*(-0.24491866) + 2.0*0.70703582 = 2.45067425
  // a' = a + 0.1 (drive - a) = (0.52507459, 0.02006743); h' = tanh(a'); z' = h'0 - h'1.
  const auto x = ctd::upload<cpu, double>(ctx, host(1, 1, {0.4}));
  cell.step(ctx, w, x.view(), state);
  CHECK(state.a.data()[0] == Approx(0.5250745893077119).epsilon(1e-14));
  CHECK(state.a.data()[1] == Approx(0.02006742514669246).epsilon(1e-14));
  CHECK(state.h.data()[0] == Approx(0.4816070890840162).epsilon(1e-14));
  CHECK(state.h.data()[1] == Approx(0.02006473185277856).epsilon(1e-14));
  CHECK(state.z.data()[0] == Approx(0.46154235723123765).epsilon(1e-14));
  CHECK(state.drive.data()[0] == Approx(0.7507458930771186).epsilon(1e-14));
  CHECK(state.drive.data()[1] == Approx(2.4506742514669244).epsilon(1e-14));

  // An empty input view is zero input: the drive loses wI x = (0.4, 0.8).
  cell.reset(ctx, w, state);
  cell.step(ctx, w, {}, state);
  CHECK(state.drive.data()[0] == Approx(0.7507458930771186 - 0.4).epsilon(1e-14));
  CHECK(state.drive.data()[1] == Approx(2.4506742514669244 - 0.8).epsilon(1e-14));
}

TEST_CASE("ESN batched steps equal single-trajectory steps", "[esn]") {
  RandomEsn esn(40, 2, 3, 1.5, 0.1, 7);
  auto& ctx = esn.ctx;
  const Index P = 3, T = 20;
  ctd::Rng rng(11);
  const HostMatrix<double> a_init = ctd::random_normal<double>(rng, 40, P, 0.5);
  const HostMatrix<double> inputs = ctd::random_normal<double>(rng, 2, T * P, 1.0);
  auto batch = esn.cell.make_state(ctx, P);
  const auto a_dev = ctd::upload<cpu, double>(ctx, a_init);
  esn.cell.set_state(ctx, esn.w, a_dev.view(), batch);
  const auto x_dev = ctd::upload<cpu, double>(ctx, inputs);
  for (Index t = 0; t < T; ++t) esn.cell.step(ctx, esn.w, x_dev.view().col_block(t * P, P), batch);
  for (Index p = 0; p < P; ++p) {
    auto single = esn.cell.make_state(ctx, 1);
    const auto a_p = ctd::upload<cpu, double>(ctx, HostMatrix<double>(a_init.col(p)));
    esn.cell.set_state(ctx, esn.w, a_p.view(), single);
    for (Index t = 0; t < T; ++t) esn.cell.step(ctx, esn.w, x_dev.view().col_block(t * P + p, 1), single);
    const HostMatrix<double> got = ctd::download<cpu, double>(ctx, batch.z.view()).col(p);
    const HostMatrix<double> want = ctd::download<cpu, double>(ctx, single.z.view());
    CHECK((got - want).norm() <= 1e-12 * want.norm());
  }
}

TEST_CASE("ESN Jacobians of the closed-loop map match central finite differences", "[esn]") {
  RandomEsn esn(30, 2, 3, 1.5, 0.1, 3);
  auto& ctx = esn.ctx;
  const Index n = 30, u = 2, P = 4;
  ctd::Rng rng(5);
  const HostMatrix<double> a = ctd::random_normal<double>(rng, n, P, 0.8);
  const HostMatrix<double> x = ctd::random_normal<double>(rng, u, P, 1.0);
  const auto a_dev = ctd::upload<cpu, double>(ctx, a);
  const auto x_dev = ctd::upload<cpu, double>(ctx, x);
  HostMatrix<double> dF_da, dF_dx;
  esn.cell.jacobians(ctx, esn.w, a_dev.view(), x_dev.view(), &dF_da, &dF_dx);
  REQUIRE(dF_da.rows() == n);
  REQUIRE(dF_da.cols() == n * P);
  REQUIRE(dF_dx.rows() == n);
  REQUIRE(dF_dx.cols() == u * P);

  auto work = esn.cell.make_state(ctx, 1);
  // F at one state and input, through the cell's own map (backend ops).
  const auto F = [&](const HostMatrix<double>& a_p, const HostMatrix<double>& x_p) {
    const auto ad = ctd::upload<cpu, double>(ctx, a_p);
    const auto xd = ctd::upload<cpu, double>(ctx, x_p);
    esn.cell.set_state(ctx, esn.w, ad.view(), work);
    esn.cell.step(ctx, esn.w, xd.view(), work);
    return ctd::download<cpu, double>(ctx, work.a.view());
  };
  const double eps = 1e-6;
  for (Index p = 0; p < P; ++p) {
    HostMatrix<double> fd_a(n, n), fd_x(n, u);
    for (Index j = 0; j < n; ++j) {
      HostMatrix<double> plus = a.col(p), minus = a.col(p);
      plus(j) += eps;
      minus(j) -= eps;
      fd_a.col(j) = (F(plus, x.col(p)) - F(minus, x.col(p))) / (2 * eps);
    }
    for (Index j = 0; j < u; ++j) {
      HostMatrix<double> plus = x.col(p), minus = x.col(p);
      plus(j) += eps;
      minus(j) -= eps;
      fd_x.col(j) = (F(a.col(p), plus) - F(a.col(p), minus)) / (2 * eps);
    }
    const HostMatrix<double> J = dF_da.middleCols(p * n, n), Jx = dF_dx.middleCols(p * u, u);
    CHECK((J - fd_a).norm() / fd_a.norm() < 1e-6);
    CHECK((Jx - fd_x).norm() / fd_x.norm() < 1e-6);
  }
  // The feedback loop matters: dropping wF wO changes the Jacobian.
  HostMatrix<double> open_loop(n, n);
  const HostMatrix<double> wR = ctd::download<cpu, double>(ctx, esn.w.wR);
  const HostMatrix<double> slope = (1 - a.col(0).array().tanh().square()).matrix();
  open_loop = 0.1 * wR * slope.asDiagonal();
  open_loop.diagonal().array() += 0.9;
  CHECK((dF_da.leftCols(n) - open_loop).norm() > 1e-3);
}

TEST_CASE("ESN initialisation is seeded and uses the tutorial's scales", "[esn]") {
  const Index n = 500, u = 1, m = 20;
  RandomEsn a(n, u, m, 1.5, 0.1, 42), b(n, u, m, 1.5, 0.1, 42), c(n, u, m, 1.5, 0.1, 43);
  const HostMatrix<double> va = ctd::download<cpu, double>(a.ctx, a.params.values());
  CHECK(va == ctd::download<cpu, double>(b.ctx, b.params.values()));
  CHECK(va != ctd::download<cpu, double>(c.ctx, c.params.values()));
  const auto rms = [&](ctd::ConstView<double> v) {
    return std::sqrt(ctd::download<cpu, double>(a.ctx, v).squaredNorm() / double(v.size()));
  };
  CHECK(rms(a.w.wR) == Approx(1.5 / std::sqrt(500.0)).epsilon(0.01));  // 250000 draws
  CHECK(rms(a.w.wO) == Approx(1 / std::sqrt(500.0)).epsilon(0.03));    // 10000 draws
  CHECK(rms(a.w.wF) == Approx(1.0).epsilon(0.03));
  CHECK(rms(a.w.wI) == Approx(1.0).epsilon(0.1));
  CHECK(rms(a.w.a0) == Approx(0.25).epsilon(0.1));
}

TEST_CASE("ESN rejects bad arguments with a clear error", "[esn]") {
  CHECK_THROWS_WITH(Esn(10, 1, 2, 0.0), Contains("dt_over_tau must be positive"));
  CHECK_THROWS_WITH(Esn(10, 1, 2, -0.1), Contains("dt_over_tau must be positive"));
  CHECK_THROWS_WITH(Esn(10, 1, 2, std::numeric_limits<double>::quiet_NaN()), Contains("dt_over_tau"));
  CHECK_THROWS_WITH(Esn(0, 1, 2, 0.1), Contains("sizes must be positive"));
  RandomEsn esn(10, 1, 2, 1.5, 0.1, 1);
  auto state = esn.cell.make_state(esn.ctx, 2);
  const ctd::Matrix<cpu, double> wrong(9, 2);
  CHECK_THROWS_WITH(esn.cell.set_state(esn.ctx, esn.w, wrong.view(), state), Contains("expected states of shape"));
  HostMatrix<double> J;
  CHECK_THROWS_WITH(esn.cell.jacobians(esn.ctx, esn.w, wrong.view(), {}, &J, nullptr), Contains("rows"));
}
