// The models, unchanged, on the CUDA backend against the CPU backend on
// identical inputs: training steps of the integrator RNN and the decision
// GRU, short trainings, FORCE/RLS passes, and the BPTT gradient checks in
// double precision against finite differences on the GPU itself.
//
// Tolerances (float, GPU vs CPU). One step: relative error below 1e-4.
// After many steps rounding differences grow; the bounds below are 100x
// the float-vs-double drift measured on the CPU for the same runs (300
// training steps: parameters 8e-7, loss 3e-5; FORCE after 3 passes: readout
// 4e-5, error 3e-5), since GPU and CPU float differ by rounding alone.
#include <catch2/catch.hpp>

#include <cmath>
#include <numeric>
#include <tuple>

#include "ctd/cells/gru.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/force/force_trainer.hpp"
#include "ctd/force/rls.hpp"
#include "ctd/tasks/chaotic_teacher.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/regularize.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "twin.hpp"

using namespace ctd_test;
using ctd::CudaContext;
using ctd::Rng;

namespace {

// The tutorials' training step: loss and BPTT gradient, global-norm
// clipping at 10, Adam. The cell's Init is made from `init` (its fields in
// order), as each backend has its own Init type.
template <template <class, class> class Cell, class B>
struct Trainee {
  ctd::RnnRegressor<Cell, B, float> model;
  ctd::Adam<B, float> adam;
  float l2;

  template <class Init>
  Trainee(typename B::context& ctx, const Init& init, const ctd::AdamOptions& opt, float l2)
      : model(100, 1, 1), adam(model.parameters().total_size(), opt), l2(l2) {
    Rng rng(42);
    model.initialize(ctx, rng, std::make_from_tuple<typename Cell<B, float>::Init>(init));
  }
  // Returns the loss; grads() holds the unclipped gradient until the
  // clipping, so it is kept for comparison.
  double step(typename B::context& ctx, const ctd::SequenceBatch<float>& batch, HostMatrix<float>* gradient = nullptr) {
    model.load(ctx, batch);
    const double loss = model.loss_and_gradient(ctx, l2).total();
    if (gradient) *gradient = ctd::download<B, float>(ctx, model.parameters().grads());
    ctd::clip_global_norm<B, float>(ctx, model.parameters().grads(), 10.0f);
    adam.update(ctx, model.parameters().values(), model.parameters().grads());
    return loss;
  }
  HostMatrix<float> parameters(typename B::context& ctx) {
    return ctd::download<B, float>(ctx, model.parameters().values());
  }
};

struct Run {
  bool decision;  // the decision task (GRU), else the integrator (vanilla)
  ctd::AdamOptions adam;
  float l2;
  double final_loss_below;  // mean of the last 10 losses after 300 steps
};
const Run integrator{false, {0.025, 0.99975, 0.9, 0.999, 0.1}, 2e-4f, 0.06};
const Run decision{true, {0.04, 0.9999, 0.9, 0.999, 0.1}, 2e-5f, 0.25};

ctd::SequenceBatch<float> batch_for(const Run& run, Rng& rng) {
  return run.decision ? ctd::decision_batch<float>(rng, 128) : ctd::integrator_batch<float>(rng, 128);
}

template <template <class, class> class Cell, class Init>
void check_one_step(const Run& run, const Init& init) {
  CudaContext gpu;
  cpu::context host;
  Trainee<Cell, cpu> on_cpu(host, init, run.adam, run.l2);
  Trainee<Cell, cuda> on_gpu(gpu, init, run.adam, run.l2), again(gpu, init, run.adam, run.l2);
  const HostMatrix<float> before = on_cpu.parameters(host);
  REQUIRE(on_gpu.parameters(gpu) == before);  // the same seeded initialisation

  Rng data(7);
  const auto batch = batch_for(run, data);
  HostMatrix<float> cpu_gradient, gpu_gradient;
  const double cpu_loss = on_cpu.step(host, batch, &cpu_gradient);
  const double gpu_loss = on_gpu.step(gpu, batch, &gpu_gradient);
  CHECK(gpu_loss == Approx(cpu_loss).epsilon(1e-5));
  CHECK(relative_difference(gpu_gradient, cpu_gradient) < 1e-4);
  const HostMatrix<float> after_cpu = on_cpu.parameters(host), after_gpu = on_gpu.parameters(gpu);
  CHECK(relative_difference(after_gpu, after_cpu) < 1e-4);
  const HostMatrix<float> update_cpu = after_cpu - before, update_gpu = after_gpu - before;
  CHECK(relative_difference(update_gpu, update_cpu) < 1e-4);
  // Same inputs, same bits: the GPU's reductions have a fixed order.
  again.step(gpu, batch);
  CHECK(again.parameters(gpu) == after_gpu);
}

template <template <class, class> class Cell, class Init>
void check_short_training(const Run& run, const Init& init) {
  CudaContext gpu;
  cpu::context host;
  Trainee<Cell, cpu> on_cpu(host, init, run.adam, run.l2);
  Trainee<Cell, cuda> on_gpu(gpu, init, run.adam, run.l2);
  Rng data(8);
  const int steps = 300;
  std::vector<double> cpu_losses, gpu_losses;
  for (int s = 0; s < steps; ++s) {
    const auto batch = batch_for(run, data);
    cpu_losses.push_back(on_cpu.step(host, batch));
    gpu_losses.push_back(on_gpu.step(gpu, batch));
  }
  const auto last10 = [](const std::vector<double>& l) { return std::accumulate(l.end() - 10, l.end(), 0.0) / 10; };
  INFO("final losses: CPU " << last10(cpu_losses) << ", GPU " << last10(gpu_losses));
  CHECK(last10(gpu_losses) < run.final_loss_below);
  CHECK(last10(gpu_losses) == Approx(last10(cpu_losses)).epsilon(1e-3));
  CHECK(relative_difference(on_gpu.parameters(gpu), on_cpu.parameters(host)) < 1e-4);
}

// ---- gradient checks in double, on the GPU ------------------------------------

constexpr double l2_check = 1e-3;

ctd::SequenceBatch<double> random_batch(Rng& rng, Index u, Index o, Index T, Index B) {
  ctd::SequenceBatch<double> b{ctd::random_normal<double>(rng, u, T * B, 1.0),
                               ctd::random_normal<double>(rng, o, T * B, 1.0), HostMatrix<double>(o, T * B), T, B};
  for (Index i = 0; i < b.mask.size(); ++i) b.mask.data()[i] = rng.uniform() < 0.6 ? 1.0 : 0.0;
  b.mask(0, 0) = 1.0;
  return b;
}

// Writes one entry of a device view.
void set_entry(CudaContext& gpu, MatrixView<double> v, Index i, double value) {
  cuda::copy_from_host(gpu, &value, MatrixView<double>(v.data + i, 1, 1));
}

template <template <class, class> class Cell>
void check_parameter_gradients(const typename Cell<cuda, double>::Init& init) {
  CudaContext gpu;
  Rng rng(7);
  ctd::RnnRegressor<Cell, cuda, double> model(6, 3, 2);
  model.initialize(gpu, rng, init);
  auto values = model.parameters().values();
  HostMatrix<double> start = ctd::download<cuda, double>(gpu, values);
  for (Index i = 0; i < start.size(); ++i) start.data()[i] += 0.1 * rng.normal();  // biases away from 0
  ctd::upload<cuda, double>(gpu, start, values);
  model.load(gpu, random_batch(rng, 3, 2, 5, 4));

  model.loss_and_gradient(gpu, l2_check);
  const HostMatrix<double> analytic = ctd::download<cuda, double>(gpu, model.parameters().grads());
  HostMatrix<double> numeric(analytic.rows(), 1);
  const double h = 1e-6;
  for (Index i = 0; i < start.size(); ++i) {
    set_entry(gpu, values, i, start(i) + h);
    const double up = model.loss_and_gradient(gpu, l2_check).total();
    set_entry(gpu, values, i, start(i) - h);
    const double down = model.loss_and_gradient(gpu, l2_check).total();
    set_entry(gpu, values, i, start(i));
    numeric(i) = (up - down) / (2 * h);
  }
  Index offset = 0;
  for (const auto& spec : model.parameters().specs()) {
    const Index size = spec.rows * spec.cols;
    INFO("parameter " << spec.name);
    CHECK(relative_difference<double>(analytic.middleRows(offset, size), numeric.middleRows(offset, size)) < 1e-6);
    offset += size;
  }
}

// d loss / d inputs and d loss / d initial states through the cell alone,
// with loss = sum(C .* states[1..T]) for a fixed random C.
template <template <class, class> class Cell>
void check_input_and_state_cotangents() {
  CudaContext gpu;
  Rng rng(11);
  const Index n = 5, u = 2, T = 4, B = 3;
  ctd::Parameters<cuda, double> params(Cell<cuda, double>::specs(n, u));
  Cell<cuda, double> cell(n, u);
  const auto w = Cell<cuda, double>::values(params);
  Cell<cuda, double>::initialize(gpu, w, rng, {});
  HostMatrix<double> x = ctd::random_normal<double>(rng, u, T * B, 1.0);
  HostMatrix<double> h0 = ctd::random_normal<double>(rng, n, B, 0.5);
  const HostMatrix<double> C = ctd::random_normal<double>(rng, n, T * B, 1.0);
  Matrix<cuda, double> x_gpu = ctd::upload<cuda, double>(gpu, x), h0_gpu = ctd::upload<cuda, double>(gpu, h0);
  auto loss = [&] {
    ctd::upload<cuda, double>(gpu, x, x_gpu.view());
    ctd::upload<cuda, double>(gpu, h0, h0_gpu.view());
    const auto states = cell.forward(gpu, w, x_gpu.view(), h0_gpu.view(), T, B);
    return (ctd::download<cuda, double>(gpu, states.col_block(B, T * B)).array() * C.array()).sum();
  };
  loss();
  Matrix<cuda, double> d_states = ctd::upload<cuda, double>(gpu, C), d_x(u, T * B), d_h0(n, B);
  cell.backward(gpu, w, nullptr, x_gpu.view(), d_states.view(), d_x.view(), d_h0.view());
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
  CHECK(relative_difference(ctd::download<cuda, double>(gpu, d_x.view()), numeric(x)) < 1e-6);
  CHECK(relative_difference(ctd::download<cuda, double>(gpu, d_h0.view()), numeric(h0)) < 1e-6);
}

// ---- FORCE --------------------------------------------------------------------------

// The tutorial's student ESN (n 500, m 20, g 1.5) on both backends, with
// the same float parameters and the chaotic teacher's targets.
struct ForceTwins {
  using Esn = ctd::EsnCell<cpu, float>;
  using GpuEsn = ctd::EsnCell<cuda, float>;
  static constexpr Index n = 500, u = 1, m = 20;
  cpu::context host;
  ctd::Parameters<cpu, float> cpu_params{Esn::specs(n, u, m)};
  ctd::Parameters<cuda, float> gpu_params{GpuEsn::specs(n, u, m)};
  Esn cpu_cell{n, u, m, 0.1f};
  GpuEsn gpu_cell{n, u, m, 0.1f};
  HostMatrix<float> targets;

  explicit ForceTwins(CudaContext& gpu) {
    Rng rng(1);
    targets = ctd::chaotic_teacher_targets<cpu, float>(host, rng);
    Esn::initialize(host, Esn::values(cpu_params), rng, {});
    ctd::upload<cuda, float>(gpu, ctd::download<cpu, float>(host, cpu_params.values()), gpu_params.values());
  }
};

}  // namespace

TEST_CASE("cuda: one training step of the integrator RNN equals the CPU's", "[cuda][training]") {
  check_one_step<ctd::VanillaRnnCell>(integrator, std::tuple{0.85f, 0.1f});
}

TEST_CASE("cuda: one training step of the decision GRU equals the CPU's", "[cuda][training]") {
  check_one_step<ctd::GruCell>(decision, std::tuple{1.0f, 1.0f, 0.1f});
}

TEST_CASE("cuda: 300 integrator training steps track the CPU's and learn", "[cuda][training]") {
  check_short_training<ctd::VanillaRnnCell>(integrator, std::tuple{0.85f, 0.1f});
}

TEST_CASE("cuda: 300 decision training steps track the CPU's and learn", "[cuda][training]") {
  check_short_training<ctd::GruCell>(decision, std::tuple{1.0f, 1.0f, 0.1f});
}

TEST_CASE("cuda: vanilla RNN parameter gradients in double match finite differences", "[cuda][gradients]") {
  check_parameter_gradients<ctd::VanillaRnnCell>({0.9, 0.3});
}

TEST_CASE("cuda: GRU parameter gradients in double match finite differences", "[cuda][gradients]") {
  check_parameter_gradients<ctd::GruCell>({1.0, 1.0, 0.3});
}

TEST_CASE("cuda: vanilla RNN input and initial-state cotangents match finite differences", "[cuda][gradients]") {
  check_input_and_state_cotangents<ctd::VanillaRnnCell>();
}

TEST_CASE("cuda: GRU input and initial-state cotangents match finite differences", "[cuda][gradients]") {
  check_input_and_state_cotangents<ctd::GruCell>();
}

TEST_CASE("cuda: RLS updates equal the CPU's", "[cuda][force]") {
  CudaContext gpu;
  cpu::context host;
  Rng rng(12);
  const Index n = 60, m = 4;
  ctd::RlsState<cpu, double> cpu_rls(host, n);
  ctd::RlsState<cuda, double> gpu_rls(gpu, n);
  Twin<double> h(gpu, rng, n, 1), e(gpu, rng, m, 1), w(gpu, rng, m, n);
  for (int t = 0; t < 200; ++t) {
    const HostMatrix<double> sample = ctd::random_normal<double>(rng, n, 1, 1.0);
    h.set(gpu, sample);
    e.set(gpu, ctd::random_normal<double>(rng, m, 1, 0.1));
    cpu_rls.update(host, h.cpu_view(), e.cpu_view(), w.cpu_view());
    gpu_rls.update(gpu, h.gpu_view(), e.gpu_view(), w.gpu_view());
  }
  CHECK(relative_difference(gpu_rls.P(gpu), cpu_rls.P(host)) < 1e-11);
  CHECK(w.compared(gpu) < 1e-11);
}

TEST_CASE("cuda: FORCE training passes track the CPU's", "[cuda][force]") {
  CudaContext gpu;
  ForceTwins twins(gpu);
  const auto cpu_w = ForceTwins::Esn::values(twins.cpu_params);
  const auto gpu_w = ForceTwins::GpuEsn::values(twins.gpu_params);
  ctd::ForceTrainer<cpu, float> on_cpu(twins.host, twins.cpu_cell, cpu_w, twins.targets);
  ctd::ForceTrainer<cuda, float> on_gpu(gpu, twins.gpu_cell, gpu_w, twins.targets);

  // One pass (300 RLS updates): within 1e-4.
  CHECK(on_gpu.train_pass(gpu) == Approx(on_cpu.train_pass(twins.host)).epsilon(1e-4));
  CHECK(relative_difference(ctd::download<cuda, float>(gpu, on_gpu.outputs()),
                            ctd::download<cpu, float>(twins.host, on_cpu.outputs())) < 1e-4);
  CHECK(relative_difference(ctd::download<cuda, float>(gpu, gpu_w.wO), ctd::download<cpu, float>(twins.host, cpu_w.wO)) <
        1e-4);
  // Three passes: the documented bounds.
  double cpu_error = 0, gpu_error = 0;
  for (int pass = 1; pass < 3; ++pass) {
    cpu_error = on_cpu.train_pass(twins.host);
    gpu_error = on_gpu.train_pass(gpu);
  }
  CHECK(gpu_error == Approx(cpu_error).epsilon(5e-3));
  CHECK(relative_difference(ctd::download<cuda, float>(gpu, gpu_w.wO), ctd::download<cpu, float>(twins.host, cpu_w.wO)) <
        5e-3);
  CHECK(on_gpu.test_pass(gpu) == Approx(on_cpu.test_pass(twins.host)).epsilon(5e-3));
}
