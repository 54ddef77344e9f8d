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
//   bench_lfads [--json FILE] [--samples N] [--threads T] [--busy-cores C] [--no-reference]
//               [--posterior-trials N] [--stream-only] [--stream-trials N]
//
// --busy-cores C: C other processes keep a core busy each for the whole
// run, as in bench_training.
#include <string>
#include <vector>

#include "common/harness.hpp"
#include "common/lfads_stream.hpp"
#include "common/lfads_workload.hpp"
#include "common/options.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/lfads/posterior.hpp"
#include "ctd/lfads/training.hpp"

using namespace ctd;

constexpr Index batch = bench::lfads_batch;

namespace {

// The streaming rows of the table, and their microseconds printed first.
void stream_benchmark(Index trials, int samples, std::vector<bench::Row>& table) {
  cpu::context ctx(1);
  const bench::StreamTimes times = bench::time_lfads_stream<cpu>(ctx, trials, samples);
  bench::print_stream(times, "1 thread");
  bench::add_stream_rows(times, "ctd cpu float32, 1 thread", table);
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options options("bench_lfads.json");
  int samples = 20, threads = omp_get_max_threads();
  Index posterior_trials = 2048, stream_trials = 2000;
  bool stream_only = false;
  CLI::App app{"An LFADS training step, posterior sample-and-average and the streaming decoder, against JAX and "
               "PyTorch",
               "bench_lfads"};
  options.add_to(app);
  options.add_busy_cores_to(app);
  app.add_option("--samples", samples, "timed training steps")->check(examples::at_least(1));
  app.add_option("--threads", threads, "the most threads ours runs on")->check(examples::at_least(1));
  app.add_option("--posterior-trials", posterior_trials, "trials of the timed sample-and-average (0: none)")
      ->check(examples::at_least(0));
  app.add_flag("--stream-only", stream_only, "time the streaming decoder alone");
  app.add_option("--stream-trials", stream_trials, "trials behind the streaming decoder's latencies")
      ->check(examples::at_least(1));
  examples::parse_or_exit(app, argc, argv);
  const bench::CompetingLoad load(options.busy_cores);
  const bool reference = options.reference && !stream_only;
  const auto rows = reference ? bench::run_reference("d") : std::nullopt;
  const auto jax_rows = reference ? bench::run_jax_reference("d", samples) : std::nullopt;
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
    table.push_back({"d LFADS train step", label, train, "JAX, the tutorial's code",
                     bench::reference_ms(jax_rows, "d_lfads_train", "jax: seed optimize_lfads_core_jit"),
                     bench::lfads_flops(config)});
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
  bench::report(table, options.json);
}
