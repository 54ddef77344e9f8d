// Every parameter gradient of the whole masked-MSE + L2 BPTT loss, and the
// cotangents of inputs and initial states, against central finite
// differences in double precision.
#include <catch2/catch.hpp>

#include <cmath>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/rnn_regressor.hpp"

using namespace ctd;


namespace {

constexpr double l2 = 1e-3;

// A batch with a random mask, random targets and inputs of O(1), so every
// path of the loss is exercised.
SequenceBatch<double> random_batch(Rng& rng, Index u, Index o, Index T, Index B) {
  SequenceBatch<double> b{random_normal<double>(rng, u, T * B, 1.0), random_normal<double>(rng, o, T * B, 1.0),
                          HostMatrix<double>(o, T * B), T, B};
  for (Index j = 0; j < b.mask.cols(); ++j)
    for (Index i = 0; i < o; ++i) b.mask(i, j) = rng.uniform() < 0.6 ? 1.0 : 0.0;
  b.mask(0, 0) = 1.0;
  return b;
}

double relative_error(const HostMatrix<double>& a, const HostMatrix<double>& b) {
  return (a - b).norm() / std::max(1e-12, std::max(a.norm(), b.norm()));
}

template <template <class, class> class Cell>
void check_all_parameter_gradients(const typename Cell<cpu, double>::Init& init) {
  cpu::context ctx;
  Rng rng(7);
  const Index n = 6, u = 3, o = 2, T = 5, B = 4;
  RnnRegressor<Cell, cpu, double> model(n, u, o);
  model.initialize(ctx, rng, init);
  // Non-zero biases so their gradients are tested away from 0.
  auto values = model.parameters().values();
  for (Index i = 0; i < values.rows; ++i) values.data[i] += 0.1 * rng.normal();
  model.load(ctx, random_batch(rng, u, o, T, B));

  model.loss_and_gradient(ctx, l2);
  const HostMatrix<double> analytic = download<cpu, double>(ctx, model.parameters().grads());
  HostMatrix<double> numeric(analytic.rows(), 1);
  const double h = 1e-6;
  for (Index i = 0; i < values.rows; ++i) {
    const double keep = values.data[i];
    values.data[i] = keep + h;
    const double up = model.loss_and_gradient(ctx, l2).total();
    values.data[i] = keep - h;
    const double down = model.loss_and_gradient(ctx, l2).total();
    values.data[i] = keep;
    numeric(i, 0) = (up - down) / (2 * h);
  }
  for (const auto& spec : model.parameters().specs()) {
    const Index at = model.parameters().find(spec.name);
    Index offset = 0;
    for (Index k = 0; k < at; ++k) offset += model.parameters().specs()[std::size_t(k)].rows *
                                               model.parameters().specs()[std::size_t(k)].cols;
    const Index size = spec.rows * spec.cols;
    INFO("parameter " << spec.name);
    CHECK(relative_error(analytic.middleRows(offset, size), numeric.middleRows(offset, size)) < 1e-6);
  }
}

// d loss / d inputs and d loss / d initial states through the cell alone,
// with loss = sum(C .* states[1..T]) for a fixed random C.
template <template <class, class> class Cell>
void check_input_and_state_cotangents() {
  cpu::context ctx;
  Rng rng(11);
  const Index n = 5, u = 2, T = 4, B = 3;
  Parameters<cpu, double> params(Cell<cpu, double>::specs(n, u));
  Cell<cpu, double> cell(n, u);
  const auto w = Cell<cpu, double>::values(params);
  Cell<cpu, double>::initialize(ctx, w, rng, {});
  HostMatrix<double> x = random_normal<double>(rng, u, T * B, 1.0);
  HostMatrix<double> h0 = random_normal<double>(rng, n, B, 0.5);
  const HostMatrix<double> C = random_normal<double>(rng, n, T * B, 1.0);
  auto loss = [&] {
    const auto states = cell.forward(ctx, w, ConstView<double>(x.data(), u, T * B),
                                     ConstView<double>(h0.data(), n, B), T, B);
    return (cpu::map(states.col_block(B, T * B)).array() * C.array()).sum();
  };
  loss();
  HostMatrix<double> d_states = C, d_x(u, T * B), d_h0(n, B);
  cell.backward(ctx, w, nullptr, ConstView<double>(x.data(), u, T * B),
                MatrixView<double>(d_states.data(), n, T * B), MatrixView<double>(d_x.data(), u, T * B),
                MatrixView<double>(d_h0.data(), n, B));
  auto numeric = [&](HostMatrix<double>& m) {
    HostMatrix<double> g(m.rows(), m.cols());
    for (Index i = 0; i < m.size(); ++i) {
      const double keep = m.data()[i];
      m.data()[i] = keep + 1e-6;
      const double up = loss();
      m.data()[i] = keep - 1e-6;
      const double down = loss();
      m.data()[i] = keep;
      g.data()[i] = (up - down) / 2e-6;
    }
    return g;
  };
  CHECK(relative_error(d_x, numeric(x)) < 1e-6);
  CHECK(relative_error(d_h0, numeric(h0)) < 1e-6);
}

}  // namespace

TEST_CASE("vanilla RNN: every parameter gradient of the BPTT loss matches finite differences",
          "[gradients][vanilla]") {
  check_all_parameter_gradients<VanillaRnnCell>({0.9, 0.3});
}

TEST_CASE("GRU: every parameter gradient of the BPTT loss matches finite differences", "[gradients][gru]") {
  check_all_parameter_gradients<GruCell>({1.0, 1.0, 0.3});
}

TEST_CASE("vanilla RNN: input and initial-state cotangents match finite differences", "[gradients][vanilla]") {
  check_input_and_state_cotangents<VanillaRnnCell>();
}

TEST_CASE("GRU: input and initial-state cotangents match finite differences", "[gradients][gru]") {
  check_input_and_state_cotangents<GruCell>();
}

TEST_CASE("GRU step matches the tutorial's equations on one hand-checked point", "[gru]") {
  cpu::context ctx;
  const Index n = 2, u = 1;
  Parameters<cpu, double> params(GruCell<cpu, double>::specs(n, u));
  const auto w = GruCell<cpu, double>::values(params);
  HostMatrix<double> wRUHX(4, 3), wCHX(2, 3);
  wRUHX << 0.1, -0.2, 0.3, 0.4, 0.5, -0.6, -0.7, 0.8, 0.9, 0.2, -0.1, 0.05;
  wCHX << 0.3, 0.1, -0.4, -0.2, 0.6, 0.7;
  upload<cpu, double>(ctx, wRUHX, w.wRUHX);
  upload<cpu, double>(ctx, wCHX, w.wCHX);
  HostMatrix<double> bRU(4, 1), bC(2, 1);
  bRU << 0.01, 0.02, -0.03, 0.04;
  bC << -0.05, 0.06;
  upload<cpu, double>(ctx, bRU, w.bRU);
  upload<cpu, double>(ctx, bC, w.bC);
  Eigen::VectorXd h(2);
  h << 0.3, -0.5;
  Eigen::VectorXd x(1);
  x << 0.7;
  GruCell<cpu, double> cell(n, u);
  const auto states = cell.forward(ctx, w, ConstView<double>(x.data(), 1, 1), ConstView<double>(h.data(), 2, 1), 1, 1);

  auto sigma = [](double z) { return 0.5 * (std::tanh(z / 2) + 1); };
  Eigen::Vector3d hx(h(0), h(1), x(0));
  const Eigen::Vector4d ru = wRUHX * hx + bRU;
  const Eigen::Vector2d r(sigma(ru(0)), sigma(ru(1)));
  const Eigen::Vector2d uu(sigma(ru(2) + 0.5), sigma(ru(3) + 0.5));
  Eigen::Vector3d rhx(r(0) * h(0), r(1) * h(1), x(0));
  const Eigen::Vector2d c = (wCHX * rhx + bC).array().tanh();
  const Eigen::Vector2d expected = uu.cwiseProduct(h) + (Eigen::Vector2d::Ones() - uu).cwiseProduct(c);
  CHECK(states.data[2] == Approx(expected(0)).epsilon(1e-14));
  CHECK(states.data[3] == Approx(expected(1)).epsilon(1e-14));
}
