// The models, unchanged, on the CUDA backend against the CPU backend on
// identical inputs: training steps of the integrator RNN, the decision GRU
// and an LSTM through the library's trainer, short trainings, FORCE/RLS
// passes, and the BPTT gradient checks in double precision against finite
// differences (tests/gradient_check.hpp) on the GPU itself.
//
// Tolerances (float, GPU vs CPU). One step: relative error below 1e-4.
// After many steps rounding differences grow; the bounds below are 100x
// the float-vs-double drift measured on the CPU for the same runs (300
// training steps: parameters 8e-7, loss 3e-5; FORCE after 3 passes: readout
// 4e-5, error 3e-5), since GPU and CPU float differ by rounding alone.
#include <catch2/catch.hpp>

#include <cstdint>
#include <numeric>
#include <tuple>
#include <vector>

#include "ctd/cells/gru.hpp"
#include "ctd/cells/lstm.hpp"
#include "ctd/cells/sequence.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/force/force_trainer.hpp"
#include "ctd/force/rls.hpp"
#include "ctd/tasks/chaotic_teacher.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "ctd/train/trainer.hpp"
#include "gradient_check.hpp"
#include "twin.hpp"

using namespace ctd_test;
using ctd::CudaContext;
using ctd::Rng;
using ctd::testing::numeric_gradient;
using ctd::testing::relative_error;

namespace {

struct Run {
  bool decision;  // the decision task, else the integrator
  ctd::AdamOptions adam;
  float l2;
  double final_loss_below;  // mean of the last 10 losses after 300 steps
};
const Run integrator{false, {0.025, 0.99975, 0.9, 0.999, 0.1}, 2e-4f, 0.06};
const Run decision{true, {0.04, 0.9999, 0.9, 0.999, 0.1}, 2e-5f, 0.25};

ctd::SequenceBatch<float> batch_for(const Run& run, Rng& rng) {
  return run.decision ? ctd::decision_batch<float>(rng, 128) : ctd::integrator_batch<float>(rng, 128);
}

// A model of the tutorials' size and the library's trainer (global-norm
// clipping at 10, Adam) on fresh batches from the trainer's data generator:
// the same seed gives both backends the same batches. The cell's Init is
// made from `init` (its fields in order), as each backend has its own Init
// type.
template <template <class, class> class Cell, class B>
struct Trainee {
  const Run& run;
  ctd::RnnRegressor<Cell, B, float> model;
  ctd::Trainer<B, float> trainer;

  template <class Init>
  Trainee(typename B::context& ctx, const Run& run, const Init& init, Index steps, std::uint64_t data_seed)
      : run(run), model(100, 1, 1), trainer(model.parameters(), options(run, steps, data_seed)) {
    Rng rng(42);
    model.initialize(ctx, rng, std::apply([](auto... field) { return typename Cell<B, float>::Init{field...}; }, init));
  }
  // Trains; returns the loss of every step. *gradient receives the last
  // step's gradient as the loss left it, before the trainer clips it.
  std::vector<double> train(typename B::context& ctx, HostMatrix<float>* gradient = nullptr) {
    auto loss = ctd::fresh_batch_loss(model, [this](Rng& rng) { return batch_for(run, rng); }, run.l2);
    const auto observed = [&](typename B::context& c, Rng& rng, Index step) {
      const auto parts = loss(c, rng, step);
      if (gradient) *gradient = ctd::download<B, float>(c, model.parameters().grads());
      return parts;
    };
    return trainer.run(ctx, observed, nullptr).loss_history;
  }
  HostMatrix<float> parameters(typename B::context& ctx) {
    return ctd::download<B, float>(ctx, model.parameters().values());
  }
  static ctd::TrainerOptions options(const Run& run, Index steps, std::uint64_t data_seed) {
    ctd::TrainerOptions o;
    o.steps = steps;
    o.max_grad_norm = 10;
    o.adam = run.adam;
    o.seed = data_seed;
    return o;
  }
};

template <template <class, class> class Cell, class Init>
void check_one_step(const Run& run, const Init& init) {
  CudaContext gpu;
  cpu::context host;
  Trainee<Cell, cpu> on_cpu(host, run, init, 1, 7);
  Trainee<Cell, cuda> on_gpu(gpu, run, init, 1, 7), again(gpu, run, init, 1, 7);
  const HostMatrix<float> before = on_cpu.parameters(host);
  REQUIRE(on_gpu.parameters(gpu) == before);  // the same seeded initialisation

  HostMatrix<float> cpu_gradient, gpu_gradient;
  const double cpu_loss = on_cpu.train(host, &cpu_gradient).back();
  const double gpu_loss = on_gpu.train(gpu, &gpu_gradient).back();
  CHECK(gpu_loss == Approx(cpu_loss).epsilon(1e-5));
  CHECK(relative_difference(gpu_gradient, cpu_gradient) < 1e-4);
  const HostMatrix<float> after_cpu = on_cpu.parameters(host), after_gpu = on_gpu.parameters(gpu);
  CHECK(relative_difference(after_gpu, after_cpu) < 1e-4);
  const HostMatrix<float> update_cpu = after_cpu - before, update_gpu = after_gpu - before;
  CHECK(relative_difference(update_gpu, update_cpu) < 1e-4);
  // Same inputs, same bits: the GPU's reductions have a fixed order.
  again.train(gpu);
  CHECK(again.parameters(gpu) == after_gpu);
}

template <template <class, class> class Cell, class Init>
void check_short_training(const Run& run, const Init& init) {
  CudaContext gpu;
  cpu::context host;
  const Index steps = 300;
  Trainee<Cell, cpu> on_cpu(host, run, init, steps, 8);
  Trainee<Cell, cuda> on_gpu(gpu, run, init, steps, 8);
  const std::vector<double> cpu_losses = on_cpu.train(host), gpu_losses = on_gpu.train(gpu);
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

template <template <class, class> class Cell>
void check_parameter_gradients(const typename Cell<cuda, double>::Init& init) {
  CudaContext gpu;
  Rng rng(7);
  ctd::RnnRegressor<Cell, cuda, double> model(6, 3, 2);
  model.initialize(gpu, rng, init);
  const auto values = model.parameters().values();
  HostMatrix<double> start = ctd::download<cuda, double>(gpu, values);
  for (Index i = 0; i < start.size(); ++i) start.data()[i] += 0.1 * rng.normal();  // biases away from 0
  ctd::upload<cuda, double>(gpu, start, values);
  model.load(gpu, random_batch(rng, 3, 2, 5, 4));

  model.loss_and_gradient(gpu, l2_check);
  const HostMatrix<double> analytic = ctd::download<cuda, double>(gpu, model.parameters().grads());
  // The parameters are perturbed in their host copy and uploaded for each loss.
  const HostMatrix<double> numeric = numeric_gradient(start, [&] {
    ctd::upload<cuda, double>(gpu, start, values);
    return model.loss_and_gradient(gpu, l2_check).total();
  });
  Index offset = 0;
  for (const auto& spec : model.parameters().specs()) {
    const Index size = spec.rows * spec.cols;
    INFO("parameter " << spec.name);
    CHECK(relative_error(analytic.middleRows(offset, size), numeric.middleRows(offset, size)) < 1e-6);
    offset += size;
  }
}

// d loss / d inputs and d loss / d initial states through the sequence
// driver, with loss = sum(C .* outputs) for a fixed random C; the inputs
// and initial states are perturbed in their host copies.
template <template <class, class> class Cell>
void check_input_and_state_cotangents(ctd::Direction direction) {
  using C = Cell<cuda, double>;
  CudaContext gpu;
  Rng rng(11);
  const Index n = 5, u = 2, T = 4, B = 3;
  ctd::Parameters<cuda, double> params(C::specs(n, u));
  const ctd::Sequence<C> sequence(C(n, u), direction);
  const Index ns = sequence.cell().state_size();
  const auto w = ctd::bind_values<C>(params);
  C::initialize(gpu, w, rng, {});
  HostMatrix<double> x = ctd::random_normal<double>(rng, u, T * B, 1.0);
  HostMatrix<double> h0 = ctd::random_normal<double>(rng, ns, B, 0.5);
  const HostMatrix<double> cot = ctd::random_normal<double>(rng, ns, T * B, 1.0);
  Matrix<cuda, double> x_gpu(u, T * B), h0_gpu(ns, B);
  ctd::SequenceTape<cuda, double> tape;
  auto loss = [&] {
    ctd::upload<cuda, double>(gpu, x, x_gpu.view());
    ctd::upload<cuda, double>(gpu, h0, h0_gpu.view());
    const auto outputs = sequence.forward(gpu, w, x_gpu.view(), h0_gpu.view(), T, B, tape);
    return (ctd::download<cuda, double>(gpu, outputs).array() * cot.array()).sum();
  };
  loss();
  Matrix<cuda, double> d_outputs = ctd::upload<cuda, double>(gpu, cot), d_x(u, T * B), d_h0(ns, B);
  sequence.backward(gpu, w, x_gpu.view(), tape, d_outputs.view(),
                    {.inputs = d_x.view(),
                     .input_mode = ctd::Grad::overwrite,
                     .initial = d_h0.view(),
                     .initial_mode = ctd::Grad::overwrite});
  CHECK(relative_error(ctd::download<cuda, double>(gpu, d_x.view()), numeric_gradient(x, loss)) < 1e-6);
  CHECK(relative_error(ctd::download<cuda, double>(gpu, d_h0.view()), numeric_gradient(h0, loss)) < 1e-6);
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
    Esn::initialize(host, ctd::bind_values<Esn>(cpu_params), rng, {});
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

TEST_CASE("cuda: one training step of a decision LSTM equals the CPU's", "[cuda][training]") {
  check_one_step<ctd::LstmCell>(decision, std::tuple{1.0f, 1.0f, 0.1f});
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

TEST_CASE("cuda: LSTM parameter gradients in double match finite differences", "[cuda][gradients]") {
  check_parameter_gradients<ctd::LstmCell>({1.0, 1.0, 0.3});
}

TEST_CASE("cuda: vanilla RNN input and initial-state cotangents match finite differences", "[cuda][gradients]") {
  check_input_and_state_cotangents<ctd::VanillaRnnCell>(ctd::Direction::forward);
  check_input_and_state_cotangents<ctd::VanillaRnnCell>(ctd::Direction::backward);
}

TEST_CASE("cuda: GRU input and initial-state cotangents match finite differences", "[cuda][gradients]") {
  check_input_and_state_cotangents<ctd::GruCell>(ctd::Direction::forward);
  check_input_and_state_cotangents<ctd::GruCell>(ctd::Direction::backward);
}

TEST_CASE("cuda: LSTM input and initial-state cotangents match finite differences", "[cuda][gradients]") {
  check_input_and_state_cotangents<ctd::LstmCell>(ctd::Direction::forward);
  check_input_and_state_cotangents<ctd::LstmCell>(ctd::Direction::backward);
}

TEST_CASE("cuda: RLS updates equal the CPU's", "[cuda][force]") {
  CudaContext gpu;
  cpu::context host;
  Rng rng(12);
  const Index n = 60, m = 4;
  // 200 samples in batches of 16: 12 rank-16 updates and 8 pending.
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
  const auto cpu_w = ctd::bind_values<ForceTwins::Esn>(twins.cpu_params);
  const auto gpu_w = ctd::bind_values<ForceTwins::GpuEsn>(twins.gpu_params);
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
