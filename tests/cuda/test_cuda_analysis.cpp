// The fixed-point finder's Adam phase, the step cells' Jacobians and the
// ESN's map, unchanged, on the CUDA backend against the CPU backend on
// identical inputs.
//
// Tolerance of the Adam phase (float, 200 steps): 1e-4, over 300x the
// float-vs-double drift measured on the CPU for the same run (3e-7).
#include <catch2/catch.hpp>

#include <algorithm>
#include <utility>

#include "ctd/analysis/dynamical_map.hpp"
#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/cells/esn.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/lstm.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "twin.hpp"

using namespace ctd_test;
using ctd::CudaContext;
using ctd::Rng;

namespace {

constexpr Index n = 100, u = 1;

// A random tutorial GRU with the same parameters on both backends, as the
// finder's map, and candidates: its states over 100 decision trials.
template <class S>
struct GruSystem {
  cpu::context host;
  ctd::Parameters<cpu, S> cpu_params{ctd::GruCell<cpu, S>::specs(n, u)};
  ctd::Parameters<cuda, S> gpu_params{ctd::GruCell<cuda, S>::specs(n, u)};
  ctd::StepMap<ctd::GruCell<cpu, S>> cpu_map{ctd::GruCell<cpu, S>(n, u),
                                             ctd::bind_values<ctd::GruCell<cpu, S>>(cpu_params)};
  ctd::StepMap<ctd::GruCell<cuda, S>> gpu_map{ctd::GruCell<cuda, S>(n, u),
                                              ctd::bind_values<ctd::GruCell<cuda, S>>(gpu_params)};
  HostMatrix<S> candidates;

  explicit GruSystem(CudaContext& gpu) {
    Rng rng(0);
    const Index trials = 100;
    ctd::RnnRegressor<ctd::GruCell, cpu, S> model(n, u, 1);
    model.initialize(host, rng, {S(1), S(1), S(0.1)});
    model.load(host, ctd::decision_batch<S>(rng, trials));
    model.forward(host);
    candidates = ctd::download<cpu, S>(host, model.states());
    const HostMatrix<S> values =
        ctd::download<cpu, S>(host, model.parameters().values()).topRows(cpu_params.total_size());
    ctd::upload<cpu, S>(host, values, cpu_params.values());
    ctd::upload<cuda, S>(gpu, values, gpu_params.values());
  }
};

// A cell with the same random weights on both backends, as step maps.
template <template <class, class> class Cell, class S>
struct TwinMaps {
  ctd::Parameters<cpu, S> cpu_params{Cell<cpu, S>::specs(n, u)};
  ctd::Parameters<cuda, S> gpu_params{Cell<cuda, S>::specs(n, u)};
  ctd::StepMap<Cell<cpu, S>> on_cpu{Cell<cpu, S>(n, u), ctd::bind_values<Cell<cpu, S>>(cpu_params)};
  ctd::StepMap<Cell<cuda, S>> on_gpu{Cell<cuda, S>(n, u), ctd::bind_values<Cell<cuda, S>>(gpu_params)};

  TwinMaps(cpu::context& host, CudaContext& gpu, Rng& rng) {
    Cell<cpu, S>::initialize(host, ctd::bind_values<Cell<cpu, S>>(cpu_params), rng, {});
    ctd::upload<cuda, S>(gpu, ctd::download<cpu, S>(host, cpu_params.values()), gpu_params.values());
  }
};

// Both backends' Jacobians of the same map at the same points.
template <class CpuMap, class GpuMap, class S>
void check_jacobians(cpu::context& host, CudaContext& gpu, const CpuMap& on_cpu, const GpuMap& on_gpu,
                     const HostMatrix<S>& states, const HostMatrix<S>& inputs) {
  HostMatrix<S> cpu_dh, cpu_dx, gpu_dh, gpu_dx;
  ctd::Scratch<cpu, S> cpu_scratch;
  ctd::Scratch<cuda, S> gpu_scratch;
  ctd::jacobians_at(host, on_cpu, states, inputs, &cpu_dh, &cpu_dx, cpu_scratch);
  ctd::jacobians_at(gpu, on_gpu, states, inputs, &gpu_dh, &gpu_dx, gpu_scratch);
  CHECK(relative_difference(gpu_dh, cpu_dh) < op_tolerance<S>);
  CHECK(relative_difference(gpu_dx, cpu_dx) < op_tolerance<S>);
}

}  // namespace

TEST_CASE("cuda: the fixed-point finder's Adam phase tracks the CPU's", "[cuda][fixed_points]") {
  CudaContext gpu;
  GruSystem<float> system(gpu);
  ctd::FixedPointOptions opt;  // the tutorial's Adam: lr 0.2 * 0.9999^i, eps 1e-5
  opt.max_steps = 200;
  opt.check_every = 100;
  opt.stop_tol = 1e-12;  // run all 200 steps
  const HostMatrix<float> zero = HostMatrix<float>::Zero(u, 1);
  const auto on_cpu = ctd::optimize_fixed_points(system.host, system.cpu_map, system.candidates, zero, opt);
  const auto on_gpu = ctd::optimize_fixed_points(gpu, system.gpu_map, system.candidates, zero, opt);
  REQUIRE(on_gpu.steps == 200);
  CHECK(relative_difference(on_gpu.points, on_cpu.points) < 1e-4);
  const HostMatrix<float> moved_cpu = on_cpu.points - system.candidates, moved_gpu = on_gpu.points - system.candidates;
  CHECK(relative_difference(moved_gpu, moved_cpu) < 1e-4);
  REQUIRE(on_gpu.losses.size() == on_cpu.losses.size());
  for (std::size_t i = 0; i < on_cpu.losses.size(); ++i) CHECK(on_gpu.losses[i] == Approx(on_cpu.losses[i]).epsilon(1e-4));
  CHECK(on_gpu.losses.back() < 0.5 * on_gpu.losses.front());  // the candidates slow down
  const Eigen::Map<const Eigen::VectorXd> speeds_cpu(on_cpu.speeds.data(), Index(on_cpu.speeds.size()));
  const Eigen::Map<const Eigen::VectorXd> speeds_gpu(on_gpu.speeds.data(), Index(on_gpu.speeds.size()));
  CHECK((speeds_gpu - speeds_cpu).norm() < 1e-3 * speeds_cpu.norm());
}

TEMPLATE_TEST_CASE("cuda: vanilla RNN, GRU and LSTM Jacobians equal the CPU's", "[cuda][jacobians]", float, double) {
  using S = TestType;
  CudaContext gpu;
  GruSystem<S> system(gpu);
  const Index points = 40;
  const HostMatrix<S> states = system.candidates.leftCols(points);
  Rng rng(3);
  const HostMatrix<S> inputs = ctd::random_normal<S>(rng, u, points, S(1));
  check_jacobians(system.host, gpu, system.cpu_map, system.gpu_map, states, inputs);
  // The vanilla RNN's and the LSTM's with random weights; the LSTM's at
  // random states [h; c].
  const TwinMaps<ctd::VanillaRnnCell, S> vanilla(system.host, gpu, rng);
  check_jacobians(system.host, gpu, vanilla.on_cpu, vanilla.on_gpu, states, inputs);
  const TwinMaps<ctd::LstmCell, S> lstm(system.host, gpu, rng);
  const HostMatrix<S> lstm_states = ctd::random_normal<S>(rng, 2 * n, points, S(0.5));
  check_jacobians(system.host, gpu, lstm.on_cpu, lstm.on_gpu, lstm_states, inputs);
}

TEST_CASE("cuda: the ESN's map and its state VJP equal the CPU's", "[cuda][jacobians]") {
  CudaContext gpu;
  cpu::context host;
  const Index esn_n = 80, m = 3, points = 25;
  using CpuEsn = ctd::EsnCell<cpu, double>;
  using GpuEsn = ctd::EsnCell<cuda, double>;
  ctd::Parameters<cpu, double> p_cpu(CpuEsn::specs(esn_n, u, m));
  ctd::Parameters<cuda, double> p_gpu(GpuEsn::specs(esn_n, u, m));
  Rng rng(4);
  CpuEsn::initialize(host, ctd::bind_values<CpuEsn>(p_cpu), rng, {});
  ctd::upload<cuda, double>(gpu, ctd::download<cpu, double>(host, p_cpu.values()), p_gpu.values());
  const ctd::EsnMap<cpu, double> map_cpu(host, CpuEsn(esn_n, u, m, 0.1), ctd::bind_values<CpuEsn>(p_cpu));
  const ctd::EsnMap<cuda, double> map_gpu(gpu, GpuEsn(esn_n, u, m, 0.1), ctd::bind_values<GpuEsn>(p_gpu));
  Twin<double> states(gpu, rng, esn_n, points), inputs(gpu, rng, u, points), cotangent(gpu, rng, esn_n, points);
  Twin<double> vjp(gpu, rng, esn_n, points);
  Matrix<cpu, double> workspace_cpu(map_cpu.workspace_rows(), points);
  Matrix<cuda, double> workspace_gpu(map_gpu.workspace_rows(), points);
  const auto next_cpu = ctd::download<cpu, double>(
      host, map_cpu.evaluate(host, states.cpu_view(), inputs.cpu_view(), workspace_cpu.view()));
  const auto next_gpu = ctd::download<cuda, double>(
      gpu, map_gpu.evaluate(gpu, states.gpu_view(), inputs.gpu_view(), workspace_gpu.view()));
  CHECK(relative_difference(next_gpu, next_cpu) < 1e-13);
  map_cpu.state_vjp(host, states.cpu_view(), workspace_cpu.view(), cotangent.cpu_view(), vjp.cpu_view());
  map_gpu.state_vjp(gpu, states.gpu_view(), workspace_gpu.view(), cotangent.gpu_view(), vjp.gpu_view());
  CHECK(vjp.compared(gpu) < 1e-13);
}
