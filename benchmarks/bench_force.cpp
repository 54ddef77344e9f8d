// bench_force — FORCE on the tutorial's problem (SPEC §4; reference workload
// e): one 300-step training pass (n 500, m 20, RLS every step, P and wO
// carried from pass to pass) and one pass without learning, ours against
// the tutorial's own JAX code (its lax.scan form, the faster of the two),
// NumPy and PyTorch, run in the same invocation.
//
//   bench_force [--json FILE] [--busy-cores C] [--no-reference]
//
// --busy-cores C: C other processes keep a core busy each for the whole
// run, as in bench_training.
//
// Variants: float and double on one thread, and float with the context's
// product team of two threads (cpu::context's product_threads: rows of wR,
// column blocks of P's lower triangle, each thread keeping its share in its
// own core's cache).
// Every timed pass also counts heap allocations (malloc is wrapped below):
// the library's step loop must make none, on one thread or two.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "common/harness.hpp"
#include "common/options.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/force/force_trainer.hpp"
#include "ctd/tasks/chaotic_teacher.hpp"

// ---- allocation counter: wraps glibc's allocator for this program only ------
namespace {
std::atomic<long> heap_allocations{0};
}
extern "C" {
void* __libc_malloc(std::size_t);
void* __libc_calloc(std::size_t, std::size_t);
void* __libc_realloc(void*, std::size_t);
void* __libc_memalign(std::size_t, std::size_t);
void* malloc(std::size_t size) noexcept {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  heap_allocations.fetch_add(1, std::memory_order_relaxed);
  return __libc_memalign(alignment, size);
}
}

namespace {

using namespace ctd;

struct Problem {
  HostMatrix<double> targets;  // (m x T) from the chaotic teacher
  std::uint64_t student_seed;
};

// One FORCE set-up on backend B in precision S: the tutorial's student.
template <class B, class S>
struct Force {
  typename B::context& ctx;
  EsnCell<B, S> cell{500, 1, 20, S(0.1)};
  Parameters<B, S> params{EsnCell<B, S>::specs(500, 1, 20)};
  typename EsnCell<B, S>::Tensors w = bind_values<EsnCell<B, S>>(params);
  std::unique_ptr<ForceTrainer<B, S>> trainer;  // made once w is initialised
  Force(typename B::context& context, const Problem& p) : ctx(context) {
    Rng rng(p.student_seed);
    typename EsnCell<B, S>::Init init;
    init.g = S(1.5);
    EsnCell<B, S>::initialize(ctx, w, rng, init);
    trainer = std::make_unique<ForceTrainer<B, S>>(ctx, cell, w, p.targets.cast<S>());
  }
};

struct Measured {
  bench::Timing timing;
  long allocations_per_pass = 0;
  double error = 0;  // RMS error of the last pass timed
};

// Allocations are counted in the timed passes: a first pass may size
// buffers (the product team's partial sums, OpenBLAS's per-thread buffers).
template <class Pass>
Measured measure(const Pass& pass, int warmup, int samples) {
  Measured r;
  long worst = 0;
  int calls = 0;
  r.timing = bench::time_ms(
      [&] {
        const long before = heap_allocations.load();
        r.error = pass();
        if (++calls > warmup) worst = std::max(worst, heap_allocations.load() - before);
      },
      warmup, samples);
  r.allocations_per_pass = worst;
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  bench::Options options("bench_force.json");
  CLI::App app{"FORCE training and run passes against JAX, NumPy and PyTorch", "bench_force"};
  options.add_to(app);
  options.add_busy_cores_to(app);
  examples::parse_or_exit(app, argc, argv);
  const bench::CompetingLoad load(options.busy_cores);
  const int warmup = 3, samples = 30;

  cpu::context ctx;
  Rng rng(0);
  const Problem problem{chaotic_teacher_targets<cpu, double>(ctx, rng), 1};

  // The variants are interleaved round by round, so a drift of the machine's
  // speed hits them all alike; the reported time is the median over rounds.
  cpu::context one_thread(1), two_threads(1, 2);
  Force<cpu, float> f1(one_thread, problem);
  Force<cpu, double> d1(one_thread, problem);
  Force<cpu, float> f2(two_threads, problem);
  const int rounds = 3;
  std::vector<Measured> train_f1, train_d1, train_f2, run_f1, run_d1, run_f2;
  for (int r = 0; r < rounds; ++r) {
    train_f1.push_back(measure([&] { return f1.trainer->train_pass(f1.ctx); }, warmup, samples));
    train_d1.push_back(measure([&] { return d1.trainer->train_pass(d1.ctx); }, warmup, samples));
    train_f2.push_back(measure([&] { return f2.trainer->train_pass(f2.ctx); }, warmup, samples));
    run_f1.push_back(measure([&] { return f1.trainer->test_pass(f1.ctx); }, warmup, samples));
    run_d1.push_back(measure([&] { return d1.trainer->test_pass(d1.ctx); }, warmup, samples));
    run_f2.push_back(measure([&] { return f2.trainer->test_pass(f2.ctx); }, warmup, samples));
  }
  const auto pooled = [](const std::vector<Measured>& v) {
    Measured m = v.back();
    std::vector<double> med;
    for (const auto& x : v) {
      med.push_back(x.timing.median_ms);
      m.allocations_per_pass = std::max(m.allocations_per_pass, x.allocations_per_pass);
      m.timing.min_ms = std::min(m.timing.min_ms, x.timing.min_ms);
      m.timing.max_ms = std::max(m.timing.max_ms, x.timing.max_ms);
    }
    std::sort(med.begin(), med.end());
    m.timing.median_ms = med[med.size() / 2];
    m.timing.samples = int(v.size()) * v.front().timing.samples;
    return m;
  };
  const Measured tf1 = pooled(train_f1), td1 = pooled(train_d1), tf2 = pooled(train_f2);
  const Measured rf1 = pooled(run_f1), rd1 = pooled(run_d1), rf2 = pooled(run_f2);
  fmt::print("{:<32} {:>9} {:>9} {:>9} {:>12} {:>12}\n", "ours", "median ms", "min ms", "max ms", "allocs/pass",
             "RMS error");
  const std::vector<std::pair<std::string, Measured>> ours = {
      {"train pass, float, 1 thread", tf1}, {"train pass, double, 1 thread", td1},
      {"train pass, float, 2 threads", tf2}, {"run pass, float, 1 thread", rf1},
      {"run pass, double, 1 thread", rd1},   {"run pass, float, 2 threads", rf2}};
  for (const auto& [label, m] : ours)
    fmt::print("{:<32} {:>9.3f} {:>9.3f} {:>9.3f} {:>12} {:>12.5f}\n", label, m.timing.median_ms, m.timing.min_ms,
               m.timing.max_ms, m.allocations_per_pass, m.error);
  std::fflush(stdout);

  const auto ref = options.reference ? bench::run_reference("e") : std::nullopt;
  const auto jax_ref = options.reference ? bench::run_jax_reference("e", samples) : std::nullopt;
  // Dense FLOPs per pass as the reference counts them (NOTES.md, workload e).
  const double n = 500, m = 20, u = 1, T = 300;
  const double flops_train = T * (6 * n * n + 6 * n * m + 2 * n * u + 2 * n);
  const double flops_run = T * (2 * n * n + 4 * n * m + 2 * n * u);
  const std::string train = "e_force_train_pass_300", run = "e_force_run_pass_300";
  const std::string np64 = "numpy float64 (seed-shaped)", np32 = "numpy float32 (seed-shaped)",
                    torch = "torch float32 (seed-shaped)", torch_ip = "torch float32 in-place mv/addr_";
  const std::string jax = "jax: lax.scan version, float32", jax_label = "JAX, the tutorial's code (lax.scan)";
  std::vector<bench::Row> rows = {
      {train, "float, 1 thread", tf1.timing, jax_label, bench::reference_ms(jax_ref, train, jax), flops_train},
      {train, "float, 2 threads", tf2.timing, jax_label, bench::reference_ms(jax_ref, train, jax), flops_train},
      {run, "float, 1 thread", rf1.timing, jax_label, bench::reference_ms(jax_ref, run, jax), flops_run},
      {train, "float, 1 thread", tf1.timing, np64, bench::reference_ms(ref, train, np64), flops_train},
      {train, "float, 1 thread", tf1.timing, np32, bench::reference_ms(ref, train, np32), flops_train},
      {train, "float, 1 thread", tf1.timing, torch, bench::reference_ms(ref, train, torch), flops_train},
      {train, "float, 1 thread", tf1.timing, torch_ip, bench::reference_ms(ref, train, torch_ip), flops_train},
      {train, "double, 1 thread", td1.timing, np64, bench::reference_ms(ref, train, np64), flops_train},
      {train, "float, 2 threads", tf2.timing, np64, bench::reference_ms(ref, train, np64), flops_train},
      {train, "float, 2 threads", tf2.timing, torch_ip, bench::reference_ms(ref, train, torch_ip), flops_train},
      {run, "float, 1 thread", rf1.timing, np64, bench::reference_ms(ref, run, np64), flops_run},
      {run, "float, 1 thread", rf1.timing, torch_ip, bench::reference_ms(ref, run, torch_ip), flops_run},
      {run, "double, 1 thread", rd1.timing, np64, bench::reference_ms(ref, run, np64), flops_run},
      {run, "float, 2 threads", rf2.timing, torch_ip, bench::reference_ms(ref, run, torch_ip), flops_run},
  };
  bench::report(rows, options.json);
  fmt::print("tutorial's 2019 GPU figure: about 50 ms per training pass\n");
  const long allocations = std::max({tf1.allocations_per_pass, td1.allocations_per_pass, tf2.allocations_per_pass,
                                     rf1.allocations_per_pass, rd1.allocations_per_pass, rf2.allocations_per_pass});
  if (allocations != 0) {
    fmt::print("FAIL: {} heap allocations inside a pass of the library's loop\n", allocations);
    return 1;
  }
  fmt::print("no heap allocation inside any timed pass of the library's loop\n");
  return 0;
}
