// Every parameter gradient of the whole masked-MSE + L2 BPTT loss, and the
// cotangents of inputs and initial states, against central finite
// differences in double precision.
#include <catch2/catch.hpp>

#include <cmath>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/lstm.hpp"
#include "ctd/cells/sequence.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "gradient_check.hpp"

using namespace ctd;
using testing::numeric_gradient;
using testing::relative_error;

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

// With state noise, the same draws at every evaluation of the loss. On
// one thread and on three (the weight gradients sum their 20 columns in
// shards of 7, 7 and 6).
template <template <class, class> class Cell>
void check_all_parameter_gradients(const typename Cell<cpu, double>::Init& init, double state_noise = 0) {
  for (int threads : {1, 3}) {
    INFO("threads " << threads);
    cpu::context ctx(threads);
    Rng rng(7);
    const Index n = 6, u = 3, o = 2, T = 5, B = 4;
    RnnRegressor<Cell, cpu, double> model(n, u, o);
    model.initialize(ctx, rng, init);
    // Non-zero biases so their gradients are tested away from 0.
    auto values = model.parameters().values();
    for (Index i = 0; i < values.rows; ++i) values.data[i] += 0.1 * rng.normal();
    model.load(ctx, random_batch(rng, u, o, T, B));

    const auto loss = [&] {
      Rng noise(13);
      return model.loss_and_gradient(ctx, l2, {state_noise, &noise});
    };
    loss();
    const HostMatrix<double> analytic = download<cpu, double>(ctx, model.parameters().grads());
    const HostMatrix<double> numeric = numeric_gradient(values.data, values.rows, [&] { return loss().total(); });
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
}

// d loss / d inputs and d loss / d initial states through the sequence
// driver, in both directions, with loss = sum(C .* outputs) for a fixed
// random C; with state noise, the same draws at every evaluation.
template <template <class, class> class Cell>
void check_input_and_state_cotangents(Direction direction, double state_noise = 0) {
  using C = Cell<cpu, double>;
  cpu::context ctx;
  Rng rng(11);
  const Index n = 5, u = 2, T = 4, B = 3;
  Parameters<cpu, double> params(C::specs(n, u));
  const Sequence<C> sequence(C(n, u), direction);
  const Index ns = sequence.cell().state_size();
  const auto w = bind_values<C>(params);
  C::initialize(ctx, w, rng, {});
  HostMatrix<double> x = random_normal<double>(rng, u, T * B, 1.0);
  HostMatrix<double> h0 = random_normal<double>(rng, ns, B, 0.5);
  const HostMatrix<double> cot = random_normal<double>(rng, ns, T * B, 1.0);
  SequenceTape<cpu, double> tape;
  auto loss = [&] {
    Rng noise_rng(12);
    const auto outputs = sequence.forward(ctx, w, ConstView<double>(x.data(), u, T * B),
                                          ConstView<double>(h0.data(), ns, B), T, B, tape, {state_noise, &noise_rng});
    return (cpu::map(outputs).array() * cot.array()).sum();
  };
  loss();
  HostMatrix<double> d_outputs = cot, d_x(u, T * B), d_h0(ns, B);
  sequence.backward(ctx, w, ConstView<double>(x.data(), u, T * B), tape, MatrixView<double>(d_outputs.data(), ns, T * B),
                    {.inputs = MatrixView<double>(d_x.data(), u, T * B),
                     .input_mode = Grad::overwrite,
                     .initial = MatrixView<double>(d_h0.data(), ns, B),
                     .initial_mode = Grad::overwrite});
  CHECK(relative_error(d_x, numeric_gradient(x, loss)) < 1e-6);
  CHECK(relative_error(d_h0, numeric_gradient(h0, loss)) < 1e-6);
}

}  // namespace

// dW = beta dW + d x^T and db = beta db + row sums of d, summed in shards
// of the columns, against the product in one piece: every shard count up
// to more shards than columns, the three kinds of beta, no bias, and
// views inside larger matrices (padded leading dimensions).
TEST_CASE("a weight gradient summed in shards of the steps equals the whole sum", "[gradients][backend]") {
  Rng rng(5);
  const Index m = 7, n = 5, k = 11;
  const HostMatrix<double> d = random_normal<double>(rng, m + 2, k, 1.0), x = random_normal<double>(rng, n + 1, k, 1.0);
  const HostMatrix<double> w0 = random_normal<double>(rng, m + 3, n + 2, 1.0), b0 = random_normal<double>(rng, m, 1, 1.0);
  for (int threads : {1, 2, 3, 12})
    for (double beta : {0.0, 1.0, 0.5})
      for (bool bias : {true, false}) {
        INFO("threads " << threads << ", beta " << beta << ", bias " << bias);
        cpu::context ctx(threads);
        HostMatrix<double> w = w0, b = b0;
        const auto view = [](HostMatrix<double>& a, Index rows, Index cols) {
          return MatrixView<double>{a.data(), rows, cols, a.rows()};
        };
        const auto const_view = [](const HostMatrix<double>& a, Index rows, Index cols) {
          return ConstView<double>{a.data(), rows, cols, a.rows()};
        };
        parallel_weight_gradient<cpu, double>(ctx, const_view(d, m, k), const_view(x, n, k), beta, view(w, m, n),
                                              bias ? view(b, m, 1) : MatrixView<double>{});
        const HostMatrix<double> dm = d.topRows(m), xm = x.topRows(n);
        const HostMatrix<double> expected_w = beta * w0.topLeftCorner(m, n) + dm * xm.transpose();
        CHECK((w.topLeftCorner(m, n) - expected_w).cwiseAbs().maxCoeff() < 1e-12);
        CHECK(w.bottomRows(3) == w0.bottomRows(3));  // outside the view
        CHECK(w.rightCols(2) == w0.rightCols(2));
        const HostMatrix<double> expected_b = bias ? HostMatrix<double>(beta * b0 + dm.rowwise().sum()) : b0;
        CHECK((b - expected_b).cwiseAbs().maxCoeff() < 1e-12);
      }
}

TEST_CASE("vanilla RNN: every parameter gradient of the BPTT loss matches finite differences",
          "[gradients][vanilla]") {
  check_all_parameter_gradients<VanillaRnnCell>({0.9, 0.3});
}

TEST_CASE("GRU: every parameter gradient of the BPTT loss matches finite differences", "[gradients][gru]") {
  check_all_parameter_gradients<GruCell>({1.0, 1.0, 0.3});
}

TEST_CASE("LSTM: every parameter gradient of the BPTT loss matches finite differences", "[gradients][lstm]") {
  check_all_parameter_gradients<LstmCell>({1.0, 1.0, 0.3});
}

TEST_CASE("vanilla RNN: input and initial-state cotangents match finite differences", "[gradients][vanilla]") {
  check_input_and_state_cotangents<VanillaRnnCell>(Direction::forward);
  check_input_and_state_cotangents<VanillaRnnCell>(Direction::backward);
}

TEST_CASE("GRU: input and initial-state cotangents match finite differences", "[gradients][gru]") {
  check_input_and_state_cotangents<GruCell>(Direction::forward);
  check_input_and_state_cotangents<GruCell>(Direction::backward);
}

TEST_CASE("LSTM: input and initial-state cotangents match finite differences", "[gradients][lstm]") {
  check_input_and_state_cotangents<LstmCell>(Direction::forward);
  check_input_and_state_cotangents<LstmCell>(Direction::backward);
}

// The noise is large so that a backward pass that saw it where it should
// not (the vanilla step differentiates tanh from its output) would fail.
TEST_CASE("state noise adds no gradient term: gradients under fixed noise match finite differences",
          "[gradients][noise]") {
  check_all_parameter_gradients<VanillaRnnCell>({0.9, 0.3}, 0.3);
  check_all_parameter_gradients<GruCell>({1.0, 1.0, 0.3}, 0.3);
  check_input_and_state_cotangents<VanillaRnnCell>(Direction::forward, 0.3);
  check_input_and_state_cotangents<VanillaRnnCell>(Direction::backward, 0.3);
  check_input_and_state_cotangents<GruCell>(Direction::forward, 0.3);
  check_input_and_state_cotangents<LstmCell>(Direction::backward, 0.3);
}

TEST_CASE("state noise: one step's output is F(h, x) plus the drawn noise", "[noise]") {
  using C = GruCell<cpu, double>;
  cpu::context ctx;
  Rng rng(3);
  const Index n = 4, u = 2, B = 3;
  Parameters<cpu, double> params(C::specs(n, u));
  const auto w = bind_values<C>(params);
  C::initialize(ctx, w, rng, {});
  const Sequence<C> sequence(C(n, u));
  const HostMatrix<double> x = random_normal<double>(rng, u, B, 1.0);
  SequenceTape<cpu, double> tape;
  const ConstView<double> xv(x.data(), u, B);
  const HostMatrix<double> clean = cpu::map(sequence.forward(ctx, w, xv, {}, 1, B, tape));
  Rng noise_rng(5), expected_rng(5);
  const HostMatrix<double> noisy = cpu::map(sequence.forward(ctx, w, xv, {}, 1, B, tape, {0.1, &noise_rng}));
  HostMatrix<double> expected(n, B);
  cpu::fill_normal(ctx, MatrixView<double>(expected.data(), n, B), 0.0, 0.1, expected_rng);
  CHECK((noisy - clean - expected).cwiseAbs().maxCoeff() < 1e-14);
  CHECK(expected.cwiseAbs().maxCoeff() > 0.01);
}

TEST_CASE("GRU step matches the tutorial's equations on one hand-checked point", "[gru]") {
  cpu::context ctx;
  const Index n = 2, u = 1;
  Parameters<cpu, double> params(GruCell<cpu, double>::specs(n, u));
  const auto w = bind_values<GruCell<cpu, double>>(params);
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
  const GruCell<cpu, double> cell(n, u);
  Matrix<cpu, double> cache(cell.cache_rows(), 1), next(n, 1);
  cell.project_inputs(ctx, w, ConstView<double>(x.data(), 1, 1), cache.view().row_block(0, cell.projection_rows()));
  cell.step(ctx, w, ConstView<double>(h.data(), 2, 1), cache.view(), next.view());

  auto sigma = [](double z) { return 0.5 * (std::tanh(z / 2) + 1); };
  Eigen::Vector3d hx(h(0), h(1), x(0));
  const Eigen::Vector4d ru = wRUHX * hx + bRU;
  const Eigen::Vector2d r(sigma(ru(0)), sigma(ru(1)));
  const Eigen::Vector2d uu(sigma(ru(2) + 0.5), sigma(ru(3) + 0.5));
  Eigen::Vector3d rhx(r(0) * h(0), r(1) * h(1), x(0));
  const Eigen::Vector2d c = (wCHX * rhx + bC).array().tanh();
  const Eigen::Vector2d expected = uu.cwiseProduct(h) + (Eigen::Vector2d::Ones() - uu).cwiseProduct(c);
  CHECK(next.data()[0] == Approx(expected(0)).epsilon(1e-14));
  CHECK(next.data()[1] == Approx(expected(1)).epsilon(1e-14));
}
