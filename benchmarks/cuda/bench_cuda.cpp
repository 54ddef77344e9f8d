// bench_cuda — the tutorial workloads on the CUDA backend, against PyTorch
// CUDA and JAX on the same GPU (reference_gpu.py, run in the same
// invocation) and against our CPU backend on this machine's cores:
//   a  integrator vanilla RNN training step (n 100, B 128, T 25)
//   b  decision GRU training step (n 100, B 128, T 25)
//   c  one Adam step of the fixed-point finder on 10000 x 100 candidates
//   d  LFADS: one training step at the tutorial's sizes (B 128, T 25, D 100,
//      encoder/controller/generator 128, factors 32, one inferred input,
//      float32) as benchmarks/bench_lfads.cpp times it on the CPU: the
//      library's LfadsTrainingLoss (batch gathered and uploaded, the step's
//      masks and normals drawn on the device, forward, loss, backward),
//      global-norm clipping and Adam; and the posterior sample-and-average
//      of 2048 trials x 128 samples (one timed run). The aim for the
//      step is 5 ms on a current GPU; the tutorial's 2019 GPU took ~50 ms.
//      And the causal streaming decoder (common/lfads_stream.hpp): a bin,
//      the catch-up bin and a whole trial of one trial, and 128 trials at
//      once, against our CPU backend on one thread and the published FPGA.
//   e  one FORCE training pass (n 500, m 20, 300 steps, RLS every step)
// A training step is one step of the library's trainer (train/trainer.hpp):
// loss and BPTT gradient, global-norm clipping, Adam, on a batch already on
// the device (the references also generate their batches before timing).
// For a and b the step also runs with the sequence driver's forward and
// backward passes replayed as CUDA graphs, and the kernel launches one time
// step costs are counted from the captured graphs.
// Every timed step ends with a stream synchronisation, as the references'
// do (torch.cuda.synchronize, block_until_ready).
//
//   bench_cuda [--json FILE] [--no-reference] [--python PYTHON]
//
// Without a GPU it says so and exits with 77.
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include <fmt/core.h>
#include <nlohmann/json.hpp>
#include <omp.h>

#include "common/harness.hpp"
#include "common/lfads_stream.hpp"
#include "common/lfads_workload.hpp"
#include "common/options.hpp"
#include "ctd/analysis/fixed_point_finder.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/backend/cuda/cuda.hpp"
#include "ctd/backend/cuda/graph.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/sequence.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/force/force_trainer.hpp"
#include "ctd/lfads/posterior.hpp"
#include "ctd/lfads/training.hpp"
#include "ctd/tasks/chaotic_teacher.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/rnn_regressor.hpp"
#include "ctd/train/trainer.hpp"

namespace {

using namespace ctd;

constexpr Index n = 100, u = 1, o = 1, T = 25, batch = 128;

// The tutorials' supervised runs (SPEC §3). Cell inits are given as their
// fields in order: each backend has its own Init type.
struct SupervisedRun {
  bool decision;
  AdamOptions adam;
  float l2;
};
const SupervisedRun integrator_run{false, {0.025, 0.99975, 0.9, 0.999, 0.1}, 2e-4f};
const SupervisedRun decision_run{true, {0.04, 0.9999, 0.9, 0.999, 0.1}, 2e-5f};
const auto vanilla_init = std::tuple{0.85f, 0.1f};
const auto gru_init = std::tuple{1.0f, 1.0f, 0.1f};

// A cell's Init from its fields in order (braces: Init is an aggregate).
template <class Init, class Fields>
Init init_from(const Fields& fields) {
  return std::apply([](auto... field) { return Init{field...}; }, fields);
}

SequenceBatch<float> batch_for(const SupervisedRun& run) {
  Rng rng(1);
  return run.decision ? decision_batch<float>(rng, batch) : integrator_batch<float>(rng, batch);
}

// The tutorials' trainer options for one step per run: clipping at 10 and
// the run's Adam (whose state carries over from run to run).
TrainerOptions one_step(const SupervisedRun& run) {
  TrainerOptions options;
  options.steps = 1;
  options.max_grad_norm = 10;
  options.adam = run.adam;
  return options;
}

// The library's training step, unchanged, on the loaded batch.
template <template <class, class> class Cell, class B>
class TrainingStep {
 public:
  template <class Init>
  TrainingStep(typename B::context& ctx, const SupervisedRun& run, const Init& init)
      : model_(n, u, o), trainer_(model_.parameters(), one_step(run)), l2_(run.l2) {
    Rng rng(0);
    model_.initialize(ctx, rng, init_from<typename Cell<B, float>::Init>(init));
    model_.load(ctx, batch_for(run));
  }
  double operator()(typename B::context& ctx) {
    const auto loss = [&](typename B::context& c, Rng&, Index) { return model_.loss_and_gradient(c, l2_); };
    const double total = trainer_.run(ctx, loss, nullptr).loss_history.back();
    B::synchronize(ctx);
    return total;
  }

 private:
  RnnRegressor<Cell, B, float> model_;
  Trainer<B, float> trainer_;
  float l2_;
};

// The same step with the loss and gradient composed from the model's public
// parts (what RnnRegressor::loss_and_gradient does), everything between the
// host trips recorded once and replayed as a CUDA graph: the sequence's
// forward with the readout, and its backward with the readout's and the L2
// penalty's gradients. The host trips stay: the loss, the penalty and the
// trainer's gradient norm for clipping. The cells here (vanilla, GRU) have
// their whole state as hidden activity.
template <template <class, class> class Cell>
class GraphTrainingStep {
 public:
  using C = Cell<cuda, float>;

  template <class Init>
  GraphTrainingStep(CudaContext& ctx, const SupervisedRun& run, const Init& init)
      : model_(n, u, o),
        sequence_(model_.cell()),
        grads_(bind_grads<C>(model_.parameters())),
        trainer_(model_.parameters(), one_step(run)),
        l2_(run.l2) {
    Rng rng(0);
    model_.initialize(ctx, rng, init_from<typename C::Init>(init));
    const SequenceBatch<float> b = batch_for(run);
    x_ = upload<cuda, float>(ctx, b.inputs);
    y_ = upload<cuda, float>(ctx, b.targets);
    mask_ = upload<cuda, float>(ctx, b.mask);
    out_.resize(o, T * batch);
    d_out_.resize(o, T * batch);
    d_states_.resize(n, T * batch);
    // Once eagerly, so the tape and every workspace have their size before
    // the recording.
    enqueue_forward(ctx);
    enqueue_backward(ctx);
    forward_.capture(ctx, [&] { enqueue_forward(ctx); });
    backward_.capture(ctx, [&] { enqueue_backward(ctx); });
  }
  double operator()(CudaContext& ctx) {
    const auto loss = [&](CudaContext& c, Rng&, Index) {
      LossParts parts;
      forward_.launch(c);
      parts.mse = cuda::masked_mse(c, out_.view(), y_.view(), mask_.view(), d_out_.view());
      backward_.launch(c);
      parts.l2 = l2_ * cuda::sum_squares(c, ConstView<float>(model_.parameters().values()));
      return parts;
    };
    const double total = trainer_.run(ctx, loss, nullptr).loss_history.back();
    cuda::synchronize(ctx);
    return total;
  }
  std::size_t forward_kernels() const { return forward_.kernel_count(); }
  std::size_t backward_kernels() const { return backward_.kernel_count(); }

 private:
  void enqueue_forward(CudaContext& ctx) {
    auto& p = model_.parameters();
    const auto states = sequence_.forward(ctx, model_.cell_values(), x_.view(), {}, T, batch, tape_);
    parallel_affine<cuda, float>(ctx, ConstView<float>(p.value("wO")), states, ConstView<float>(p.value("bO")),
                                 out_.view());
  }
  void enqueue_backward(CudaContext& ctx) {
    auto& p = model_.parameters();
    const ConstView<float> d_out = d_out_.view();
    cuda::gemm(ctx, Trans::no, Trans::yes, 1.0f, d_out, sequence_.outputs(tape_), 0.0f, p.grad("wO"));
    cuda::fill(ctx, p.grad("bO"), 0.0f);
    cuda::add_row_sums(ctx, d_out, p.grad("bO"));
    cuda::gemm(ctx, Trans::yes, Trans::no, 1.0f, ConstView<float>(p.value("wO")), d_out, 0.0f, d_states_.view());
    sequence_.backward(ctx, model_.cell_values(), x_.view(), tape_, d_states_.view(),
                       {.weights = grads_, .weight_mode = Grad::overwrite});
    cuda::axpy(ctx, 2 * l2_, ConstView<float>(p.values()), p.grads());
  }

  RnnRegressor<Cell, cuda, float> model_;
  Sequence<C> sequence_;
  SequenceTape<cuda, float> tape_;
  typename C::Tensors grads_;
  Trainer<cuda, float> trainer_;
  float l2_;
  Matrix<cuda, float> x_, y_, mask_, out_, d_out_, d_states_;
  CudaGraph forward_, backward_;
};

// Kernels one time step launches in the sequence's forward and backward
// passes: the difference between recordings of T and T - 1 steps.
template <template <class, class> class Cell, class Init>
std::pair<std::size_t, std::size_t> kernels_per_time_step(CudaContext& ctx, const Init& init) {
  using C = Cell<cuda, float>;
  Parameters<cuda, float> params(C::specs(n, u));
  const auto w = bind_values<C>(params);
  Rng rng(0);
  C::initialize(ctx, w, rng, init_from<typename C::Init>(init));
  const Sequence<C> sequence(C(n, u));
  const Matrix<cuda, float> x(u, T * batch);
  Matrix<cuda, float> d_outputs(n, T * batch);
  const auto recorded = [&](Index steps) {
    SequenceTape<cuda, float> tape;
    const auto inputs = x.col_block(0, steps * batch);
    const auto d = d_outputs.col_block(0, steps * batch);
    // Once eagerly, so the tape has its size before the recording.
    sequence.forward(ctx, w, inputs, {}, steps, batch, tape);
    sequence.backward(ctx, w, inputs, tape, d, {});
    CudaGraph forward, backward;
    forward.capture(ctx, [&] { sequence.forward(ctx, w, inputs, {}, steps, batch, tape); });
    backward.capture(ctx, [&] { sequence.backward(ctx, w, inputs, tape, d, {}); });
    return std::pair{forward.kernel_count(), backward.kernel_count()};
  };
  const auto [f1, b1] = recorded(T);
  const auto [f0, b0] = recorded(T - 1);
  return {f1 - f0, b1 - b0};
}

// The finder's Adam step (workload c): a random tutorial GRU, candidates
// from 400 decision trials x 25 steps, F = one step at x* = 0.
template <class B>
bench::Timing finder_step(typename B::context& ctx, int samples) {
  Rng rng(0);
  RnnRegressor<GruCell, B, float> model(n, u, o);
  model.initialize(ctx, rng, {1.0f, 1.0f, 0.1f});
  const Index trials = 400;
  model.load(ctx, decision_batch<float>(rng, trials));
  model.forward(ctx);
  const HostMatrix<float> candidates = download<B, float>(ctx, model.states());
  const StepMap<GruCell<B, float>> map(GruCell<B, float>(n, u), model.cell_values());
  FixedPointOptions opt;
  FixedPointOptimizer<StepMap<GruCell<B, float>>> optimizer(ctx, map, candidates, HostMatrix<float>::Zero(u, 1), opt);
  return bench::time_ms(
      [&] {
        optimizer.step(ctx);
        B::synchronize(ctx);
      },
      3, samples);
}

// One FORCE training pass (workload e), P and wO carried from pass to pass.
template <class B>
bench::Timing force_pass(typename B::context& ctx, int samples) {
  const Index esn_n = 500, m = 20;
  Rng rng(0);
  cpu::context teacher_ctx;
  const HostMatrix<float> targets = chaotic_teacher_targets<cpu, double>(teacher_ctx, rng).cast<float>();
  Parameters<B, float> params(EsnCell<B, float>::specs(esn_n, u, m));
  const auto w = bind_values<EsnCell<B, float>>(params);
  EsnCell<B, float>::initialize(ctx, w, rng, {});
  const EsnCell<B, float> cell(esn_n, u, m, 0.1f);
  ForceTrainer<B, float> trainer(ctx, cell, w, targets);
  return bench::time_ms([&] { trainer.train_pass(ctx); }, 2, samples);
}

// An LFADS model at the tutorial's sizes and its training step: the
// library's loss functor, clipping at 10 and the tutorial's Adam, the KL
// warm-up following the step count; every step ends with a synchronisation.
template <class B>
class LfadsStep {
 public:
  explicit LfadsStep(typename B::context& ctx)
      : params_(Lfads<B, float>::specs(config_)),
        model_(config_, params_),
        trials_(bench::lfads_trials(rng_, 8 * batch, config_.data_dim)),
        loss_(model_, trials_, batch),
        options_(lfads_trainer_options(1)),
        adam_(params_.total_size(), options_.adam) {
    initialize_lfads<B, float>(ctx, params_, config_, rng_);
  }
  double operator()(typename B::context& ctx) {
    const double total = loss_(ctx, data_rng_, step_++).total();
    clip_global_norm<B, float>(ctx, params_.grads(), float(options_.max_grad_norm));
    adam_.update(ctx, params_.values(), params_.grads());
    B::synchronize(ctx);
    return total;
  }
  const Lfads<B, float>& model() const { return model_; }
  const LfadsConfig& config() const { return config_; }

 private:
  LfadsConfig config_;
  Rng rng_{1}, data_rng_{2};
  Parameters<B, float> params_;
  Lfads<B, float> model_;
  LfadsData<float> trials_;
  LfadsTrainingLoss<B, float> loss_;
  TrainerOptions options_;
  Adam<B, float> adam_;
  Index step_ = 0;
};

// The reference rows of reference_gpu.py, run with `python`.
std::optional<nlohmann::json> run_gpu_reference(const std::string& python, const std::string& script) {
  const auto out = std::filesystem::temp_directory_path() / "ctd_reference_gpu.json";
  const std::string cmd = python + " '" + script + "' --json '" + out.string() + "'";
  fmt::print("running the GPU reference: {}\n", cmd);
  std::fflush(stdout);
  if (std::system(cmd.c_str()) != 0) {
    fmt::print("the GPU reference failed; its rows are n/a\n");
    return std::nullopt;
  }
  std::ifstream in(out);
  return nlohmann::json::parse(in)["results"];
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options options("");
  std::string python = "python3";
  CLI::App app{"The CUDA backend's workloads against PyTorch CUDA and JAX on the same GPU", "bench_cuda"};
  options.add_to(app);
  app.add_option("--python", python, "the Python that runs the GPU reference");
  // A binary built on one machine and run on another finds the script where
  // the working tree is there (scripts/gpu-check --prebuilt passes it).
  std::string reference_script = CTD_GPU_REFERENCE_SCRIPT;
  app.add_option("--reference-script", reference_script, "reference_gpu.py, where it is on this machine")
      ->check(CLI::ExistingFile);
  examples::parse_or_exit(app, argc, argv);
  if (const std::string why = cuda_unavailable_reason(); !why.empty()) {
    fmt::print("skipped: no GPU ({})\n", why);
    return 77;
  }
  CudaContext gpu;
  cpu::context host;
  cudaDeviceProp prop{};
  CTD_CUDA_CHECK(cudaGetDeviceProperties(&prop, gpu.device()));
  const std::string cpu_label = fmt::format("ctd CPU backend, {} threads", omp_get_max_threads());

  struct Ours {
    std::string workload;
    std::string label;
    bench::Timing timing;
    double flops;
  };
  std::vector<Ours> ours;
  // workload -> our CPU backend, and how it ran
  std::vector<std::tuple<std::string, bench::Timing, std::string>> cpu_rows;

  // a, b: training steps, eager and with the time loops as graphs.
  const auto supervised = [&]<template <class, class> class Cell>(const std::string& workload,
                                                                  const SupervisedRun& run, const auto& init,
                                                                  double flops) {
    TrainingStep<Cell, cuda> eager(gpu, run, init);
    ours.push_back({workload, "GPU, eager", bench::time_ms([&] { eager(gpu); }, 10, 100), flops});
    GraphTrainingStep<Cell> graphed(gpu, run, init);
    ours.push_back({workload, "GPU, time loops as graphs", bench::time_ms([&] { graphed(gpu); }, 10, 100), flops});
    // Both made the same number of steps from the same start on the same
    // batch, so the composed step must agree with the trainer's.
    const double eager_loss = eager(gpu), graphed_loss = graphed(gpu);
    require(std::abs(graphed_loss - eager_loss) <= 1e-4 * std::abs(eager_loss),
            fmt::format("{}: the graph step's loss {} differs from the trainer's {}", workload, graphed_loss,
                        eager_loss));
    const auto [fwd, bwd] = kernels_per_time_step<Cell>(gpu, init);
    // Outside the graphs: masked_mse (3 kernels), the L2 and clipping norms
    // (2 each), the clip's scale (when it clips) and Adam (1).
    fmt::print("{}: kernel launches per time step: forward {}, backward {}; per training step {} + {} in the "
               "two graphs and 8 or 9 outside them\n",
               workload, fwd, bwd, graphed.forward_kernels(), graphed.backward_kernels());
    TrainingStep<Cell, cpu> on_cpu(host, run, init);
    cpu_rows.push_back({workload, bench::time_ms([&] { on_cpu(host); }, 3, 30), cpu_label});
  };
  supervised.template operator()<VanillaRnnCell>("a integrator training step", integrator_run, vanilla_init,
                                                  195.2e6);
  supervised.template operator()<GruCell>("b decision GRU training step", decision_run, gru_init, 581.8e6);
  ours.push_back({"c fixed-point Adam step", "GPU, 10000 x 100", finder_step<cuda>(gpu, 100), 1212e6});
  cpu_rows.push_back({"c fixed-point Adam step", finder_step<cpu>(host, 20), cpu_label});
  // d: LFADS. Both backends start from the same seeds, so their first
  // steps' losses agree (tests/cuda/test_cuda_lfads.cpp checks it closely).
  const std::string lfads_train = "d LFADS training step", lfads_posterior = "d LFADS posterior 2048 x 128";
  {
    LfadsStep<cuda> on_gpu(gpu);
    LfadsStep<cpu> on_cpu(host);
    const double gpu_first = on_gpu(gpu), cpu_first = on_cpu(host);
    fmt::print("{}: first step's loss on the GPU {:.6g}, on the CPU {:.6g} (relative difference {:.2g})\n",
               lfads_train, gpu_first, cpu_first, std::abs(gpu_first - cpu_first) / std::abs(cpu_first));
    const double flops = bench::lfads_flops(on_gpu.config());
    // From its second step the trainer replays the passes as CUDA graphs
    // (lfads/training.hpp).
    ours.push_back({lfads_train, "GPU, passes as graphs", bench::time_ms([&] { on_gpu(gpu); }, 10, 100), flops});
    cpu_rows.push_back({lfads_train, bench::time_ms([&] { on_cpu(host); }, 3, 20), cpu_label});
    // 2048 trials, 128 samples each, the averages downloaded: one timed
    // run, as bench_lfads times it; in batches of 128 (one trial a pass,
    // the CPU's choice) and of 8192 (64 trials a pass), which a GPU fills.
    Rng rng(3);
    const LfadsData<float> trials = bench::lfads_trials(rng, 2048, on_gpu.config().data_dim);
    for (const Index posterior_batch : {Index(batch), Index(8192)})
      ours.push_back({lfads_posterior, fmt::format("GPU, batch {}", posterior_batch), bench::time_ms([&] {
                        posterior_average<cuda, float>(gpu, on_gpu.model(), trials, 128, posterior_batch, rng);
                      }, 0, 1), 0.0});
  }
  // d: the causal streaming decoder, bin by bin, against our CPU backend on
  // one thread (its best for one trial) and the published FPGA figure.
  const std::string stream_trial = "d LFADS stream 1 trial, 25 bins";
  {
    const bench::StreamTimes on_gpu = bench::time_lfads_stream<cuda>(gpu, 500, 10);
    cpu::context one_thread(1);
    const bench::StreamTimes on_cpu = bench::time_lfads_stream<cpu>(one_thread, 500, 10);
    bench::print_stream(on_gpu, "GPU");
    std::vector<bench::Row> gpu_rows, one_thread_rows;
    bench::add_stream_rows(on_gpu, "GPU", gpu_rows);
    bench::add_stream_rows(on_cpu, "CPU, 1 thread", one_thread_rows);
    for (std::size_t k = 0; k < gpu_rows.size(); ++k) {
      ours.push_back({gpu_rows[k].workload, "GPU, eager", gpu_rows[k].ours, 0.0});
      cpu_rows.push_back({gpu_rows[k].workload, one_thread_rows[k].ours, "ctd CPU backend, 1 thread"});
    }
  }
  ours.push_back({"e FORCE training pass", "GPU, 300 steps", force_pass<cuda>(gpu, 30), 468.6e6});
  cpu_rows.push_back({"e FORCE training pass", force_pass<cpu>(host, 10), cpu_label});

  const std::optional<nlohmann::json> ref =
      options.reference ? run_gpu_reference(python, reference_script) : std::nullopt;
  // Reference rows (workload key in reference_gpu.py, variant) per workload.
  const std::vector<std::tuple<std::string, std::string, std::string>> references = {
      {"a integrator training step", "a_integrator_vrnn_train", "torch CUDA, hand loop + autograd"},
      {"a integrator training step", "a_integrator_vrnn_train", "torch CUDA, nn.RNN (cuDNN)"},
      {"a integrator training step", "a_integrator_vrnn_train", "JAX jit, lax.scan"},
      {"b decision GRU training step", "b_gru_decision_train", "torch CUDA, hand loop + autograd"},
      {"b decision GRU training step", "b_gru_decision_train", "torch CUDA, nn.GRU (cuDNN, other gate eqs)"},
      {"b decision GRU training step", "b_gru_decision_train", "JAX jit, lax.scan"},
      {"c fixed-point Adam step", "c_fixed_point_adam_step", "torch CUDA, autograd + Adam"},
      {"c fixed-point Adam step", "c_fixed_point_adam_step", "JAX jit"},
      {"e FORCE training pass", "e_force_train_pass_300", "torch CUDA, in-place (mv, addr_)"},
      {"e FORCE training pass", "e_force_train_pass_300", "JAX jit, lax.scan"},
      {lfads_train, "d_lfads_train", "torch CUDA, hand loop + autograd"},
  };
  // Fixed marks (workload, label, ms): the aim and the tutorial's
  // own GPU (SPEC).
  const std::vector<std::tuple<std::string, std::string, double>> marks = {
      {lfads_train, "aim (issue)", 5.0},
      {lfads_train, "tutorial 2019 GPU (SPEC)", 50.0},
      {stream_trial, "published FPGA, a trial", 0.042},
  };
  std::vector<bench::Row> rows;
  for (const auto& mine : ours) {
    for (const auto& [workload, key, variant] : references)
      if (workload == mine.workload)
        rows.push_back({mine.workload, mine.label, mine.timing, variant, bench::reference_ms(ref, key, variant),
                        mine.flops});
    for (const auto& [workload, timing, label] : cpu_rows)
      if (workload == mine.workload)
        rows.push_back({mine.workload, mine.label, mine.timing, label, timing.median_ms, mine.flops});
    for (const auto& [workload, label, ms] : marks)
      if (workload == mine.workload) rows.push_back({mine.workload, mine.label, mine.timing, label, ms, mine.flops});
    if (rows.empty() || rows.back().workload != mine.workload || rows.back().ours_label != mine.label)
      rows.push_back({mine.workload, mine.label, mine.timing, "-", std::nullopt, mine.flops});
  }
  fmt::print("\nGPU: {}; CPU: {} threads\n", prop.name, omp_get_max_threads());
  bench::report(rows, options.json);
  return 0;
}
