// One LFADS training step at the tutorial's sizes (B 128, T 25, D 100,
// encoder/controller/generator 128, factors 32, one inferred input,
// float32): forward, loss, backward, clipping and Adam with the KL warm-up
// — one iteration of the tutorial's loop — against the PyTorch hand loop of
// the same equations (../shared/reference/wl_lfads.py) run in the same
// invocation; the posterior sample-and-average of 2048 trials
// (128 samples each, batched across trials); and the streaming decoder
// (lfads/streaming.hpp) of the same model made causal with a 5-bin IC
// window, one thread: the latency of a bin of one trial once the window is
// full (median and 99th percentile over every such bin of --stream-trials
// trials, each a reset and 25 bins), of the window's catch-up bin and of a
// whole trial (against the published FPGA figure of about 42 us a trial),
// and the throughput of 128 concurrent trials.
//
//   bench_lfads [--json FILE] [--samples N] [--threads T] [--no-reference] [--posterior-trials N]
//               [--stream-only] [--stream-trials N]
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include "common/harness.hpp"
#include "common/lfads_workload.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/lfads/posterior.hpp"
#include "ctd/lfads/streaming.hpp"
#include "ctd/lfads/training.hpp"

using namespace ctd;

constexpr Index batch = bench::lfads_batch;

namespace {

// Poisson counts of `trials` trials of the workload's rates, time-major
// blocks of `trials` columns: (neurons x T*trials).
Matrix<cpu, float> stream_counts(cpu::context& ctx, Rng& rng, Index trials, Index neurons) {
  HostMatrix<float> counts(neurons, bench::lfads_steps * trials);
  for (Index b = 0; b < trials; ++b)
    for (Index d = 0; d < neurons; ++d) {
      const double rate = 0.5 + 2.5 * rng.uniform();
      for (Index t = 0; t < bench::lfads_steps; ++t) counts(d, t * trials + b) = float(rng.poisson(rate));
    }
  return upload<cpu, float>(ctx, counts);
}

double percentile(std::vector<double> us, double p) {
  std::sort(us.begin(), us.end());
  return us[std::size_t(p * double(us.size() - 1))];
}

bench::Timing timing_of(const std::vector<double>& us) {
  return {percentile(us, 0.5) / 1e3, percentile(us, 0) / 1e3, percentile(us, 1) / 1e3, int(us.size())};
}

// The streaming rows of the table, and their microseconds printed first.
void stream_benchmark(Index trials, int samples, std::vector<bench::Row>& table) {
  using clock = std::chrono::steady_clock;
  LfadsConfig config;
  config.causal = true;
  config.ic_window = 5;
  const Index T = bench::lfads_steps, W = config.ic_window, many = 128, distinct = 64;
  cpu::context ctx(1);
  Rng rng(1);
  Parameters<cpu, float> params(Lfads<cpu, float>::specs(config));
  initialize_lfads<cpu, float>(ctx, params, config, rng);
  const Lfads<cpu, float> model(config, params);
  const std::string label = "ctd cpu float32, 1 thread";

  // One trial: every push timed; trials cycle through `distinct` of them.
  const Matrix<cpu, float> one = stream_counts(ctx, rng, distinct, config.data_dim);
  LfadsStream<cpu, float> stream(ctx, model, 1);
  std::vector<double> filling, catch_up, steady, whole;
  for (Index k = -20; k < trials; ++k) {  // 20 trials of warm-up
    const Index trial = (k + distinct) % distinct;
    stream.reset(ctx);
    double sum = 0;
    for (Index t = 0; t < T; ++t) {
      const auto t0 = clock::now();
      stream.push(ctx, one.col_block(t * distinct + trial, 1));
      const double us = std::chrono::duration<double, std::micro>(clock::now() - t0).count();
      sum += us;
      if (k < 0) continue;
      (t < W - 1 ? filling : t == W - 1 ? catch_up : steady).push_back(us);
    }
    if (k >= 0) whole.push_back(sum);
  }
  // 128 trials at once: whole trials (25 bins after a reset), and the bins
  // after the window.
  const Matrix<cpu, float> batch_counts = stream_counts(ctx, rng, many, config.data_dim);
  LfadsStream<cpu, float> streams(ctx, model, many);
  std::vector<double> many_whole, many_steady;
  for (int k = -2; k < samples; ++k) {
    streams.reset(ctx);
    const auto start = clock::now();
    for (Index t = 0; t < T; ++t) {
      const auto t0 = clock::now();
      streams.push(ctx, batch_counts.col_block(t * many, many));
      if (k >= 0 && t >= W) many_steady.push_back(std::chrono::duration<double, std::micro>(clock::now() - t0).count());
    }
    if (k >= 0) many_whole.push_back(std::chrono::duration<double, std::micro>(clock::now() - start).count());
  }

  fmt::print("\nLFADS streaming decoder: the tutorial's model, causal, IC window {} bins, T {}, float32, 1 thread\n",
             W, T);
  fmt::print("  {:<44} {:>10} {:>10} {:>8}\n", "", "median us", "p99 us", "samples");
  const auto line = [](const std::string& what, const std::vector<double>& us) {
    fmt::print("  {:<44} {:>10.2f} {:>10.2f} {:>8}\n", what, percentile(us, 0.5), percentile(us, 0.99), us.size());
  };
  line("1 trial: a bin after the window", steady);
  line(fmt::format("1 trial: a bin filling the window (0-{})", W - 2), filling);
  line(fmt::format("1 trial: the catch-up bin ({}, decodes {})", W - 1, W), catch_up);
  line(fmt::format("1 trial: whole trial ({} bins)", T), whole);
  line(fmt::format("{} trials: a bin after the window", many), many_steady);
  line(fmt::format("{} trials: whole trials ({} bins)", many, T), many_whole);
  fmt::print("  published FPGA LFADS: about 42 us a trial (whole sequence)\n");
  fmt::print("  throughput, {} trials: {:.3g} trial-bins/s over whole trials, {:.3g} after the window\n", many,
             double(many * T) / (percentile(many_whole, 0.5) * 1e-6),
             double(many) / (percentile(many_steady, 0.5) * 1e-6));

  table.push_back({"d LFADS stream 1 trial, a bin", label, timing_of(steady), "-", std::nullopt, 0.0});
  table.push_back({"d LFADS stream 1 trial, catch-up", label, timing_of(catch_up), "-", std::nullopt, 0.0});
  table.push_back({"d LFADS stream 1 trial, 25 bins", label, timing_of(whole), "published FPGA, a trial", 0.042,
                   0.0});
  table.push_back({"d LFADS stream 128 trials, 25 bins", label, timing_of(many_whole), "-", std::nullopt, 0.0});
}

}  // namespace

int main(int argc, char** argv) {
  std::string json = "bench_lfads.json";
  int samples = 20, threads = omp_get_max_threads();
  Index posterior_trials = 2048, stream_trials = 2000;
  bool reference = true, stream_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--json" && i + 1 < argc) json = argv[++i];
    else if (a == "--samples" && i + 1 < argc) samples = std::stoi(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) threads = std::stoi(argv[++i]);
    else if (a == "--posterior-trials" && i + 1 < argc) posterior_trials = std::stol(argv[++i]);
    else if (a == "--no-reference") reference = false;
    else if (a == "--stream-only") stream_only = true;
    else if (a == "--stream-trials" && i + 1 < argc) stream_trials = std::max(1L, std::stol(argv[++i]));
    else {
      fmt::print(stderr,
                 "usage: bench_lfads [--json FILE] [--samples N] [--threads T] [--no-reference] "
                 "[--posterior-trials N] [--stream-only] [--stream-trials N]\n");
      return 2;
    }
  }
  const auto rows = reference && !stream_only ? bench::run_reference("d") : std::nullopt;
  const LfadsConfig config;
  std::vector<bench::Row> table;
  for (int t : {1, threads}) {
    if (stream_only) break;
    if (t == 1 && threads == 1 && !table.empty()) break;
    cpu::context ctx(t);
    const std::string label = fmt::format("ctd cpu float32, {} thread{}", t, t > 1 ? "s" : "");
    Rng rng(1);
    Parameters<cpu, float> params(Lfads<cpu, float>::specs(config));
    initialize_lfads<cpu, float>(ctx, params, config, rng);
    const Lfads<cpu, float> model(config, params);
    const LfadsData<float> trials = bench::lfads_trials(rng, 8 * batch, config.data_dim);
    LfadsTrainingLoss<cpu, float> loss(model, trials, batch);
    TrainerOptions options = lfads_trainer_options(1);
    Trainer<cpu, float> trainer(params, options);
    Rng data_rng(2);
    Index step = 0;
    const auto train = bench::time_ms(
        [&] {
          loss(ctx, data_rng, step++);
          clip_global_norm<cpu, float>(ctx, params.grads(), float(options.max_grad_norm));
          trainer.adam().update(ctx, params.values(), params.grads());
        },
        3, samples);
    table.push_back({"d LFADS train step", label, train, "PyTorch hand loop",
                     bench::reference_ms(rows, "d_lfads_train", "hand loops + autograd (seed equations)"),
                     bench::lfads_flops(config)});
    table.push_back({"d LFADS train step", label, train, "tutorial 2019 GPU (SPEC)", 50.0, bench::lfads_flops(config)});
    if (t == threads) {
      const LfadsData<float> eval = bench::lfads_trials(rng, posterior_trials, config.data_dim);
      const auto posterior = bench::time_ms([&] { posterior_average(ctx, model, eval, 128, batch, rng); }, 0, 1);
      table.push_back({"d LFADS posterior, " + std::to_string(posterior_trials) + " trials x 128 samples", label,
                       posterior, "-", std::nullopt, 0.0});
      break;
    }
  }
  stream_benchmark(stream_trials, samples, table);
  bench::report(table, json);
}
