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
// Variants: float and double on one thread (the library's CPU backend), and
// float on two threads (the same ops split over two OpenMP threads: rows of
// wR, equal-area column blocks of P's lower triangle), to measure whether a
// second core pays for the fork/join of two parallel regions per step (and
// a third, P's batched update, every 16th).
// Every timed pass also counts heap allocations (malloc is wrapped below):
// the library's step loop must make none.
//
// Measured (2-core EPYC VM, -march=native, float): two threads take 0.7x the
// time of one on an idle machine, and 5-10x (passes up to seconds) while
// another process holds a core; the library therefore runs FORCE on one.
#include <omp.h>

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

// Column c_k of `parts` blocks of the lower triangle of an (n x n) matrix,
// so that every block holds about the same number of elements.
Index triangle_split(Index n, int k, int parts) {
  // columns [0, j) hold j (n + 1/2) - j^2 / 2 elements
  const double b = double(n) + 0.5, target = double(n) * double(n + 1) / 2 * k / parts;
  return std::clamp<Index>(Index(std::lround(b - std::sqrt(b * b - 2 * target))), 0, n);
}

// The CPU backend with FORCE's n x n operations split over two threads.
// Each thread keeps to the same rows of wR and the same columns of P in every
// call, so its share stays in its own core's L2 cache.
struct cpu_two_threads : cpu {
  static constexpr int threads = 2;

  template <class S>
  static void gemv(context& ctx, Trans ta, S alpha, ConstView<S> a, ConstView<S> x, S beta, MatrixView<S> y) {
    if (ta == Trans::yes || a.rows < 256 || a.cols < 256) return cpu::gemv(ctx, ta, alpha, a, x, beta, y);
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const Index r0 = a.rows * t / threads, r1 = a.rows * (t + 1) / threads;
      cpu::gemv(ctx, Trans::no, alpha, a.row_block(r0, r1 - r0), x, beta, y.row_block(r0, r1 - r0));
    }
  }

  // Thread t owns columns [j0, j1) of the lower triangle: the symmetric
  // diagonal block D and the rectangle R below it. It adds D x[j0:j1] +
  // R^T x[j1:] to rows [j0, j1) and R x[j0:j1] to rows [j1, n); rows below
  // j0 of other threads meet in per-thread partial sums, added at the end.
  template <class S>
  static void symv(context& ctx, S alpha, ConstView<S> a, ConstView<S> x, S beta, MatrixView<S> y) {
    const Index n = a.rows;
    auto& partial = partial_sums<S>(n);
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const Index j0 = triangle_split(n, t, threads), j1 = triangle_split(n, t + 1, threads);
      MatrixView<S> out = t == 0 ? y : MatrixView<S>(partial.data() + (t - 1) * n, n, 1);
      if (t > 0 || beta == S(0))
        cpu::fill(ctx, out.row_block(j0, n - j0), S(0));  // rows above j0: thread 0, j0 = 0
      else
        cpu::scale(ctx, beta, out);
      const auto block = a.col_block(j0, j1 - j0);
      cpu::symv(ctx, alpha, block.row_block(j0, j1 - j0), x.row_block(j0, j1 - j0), S(1),
                out.row_block(j0, j1 - j0));
      if (j1 < n) {
        const auto below = block.row_block(j1, n - j1);
        cpu::gemv(ctx, Trans::yes, alpha, below, x.row_block(j1, n - j1), S(1), out.row_block(j0, j1 - j0));
        cpu::gemv(ctx, Trans::no, alpha, below, x.row_block(j0, j1 - j0), S(1), out.row_block(j1, n - j1));
      }
#pragma omp barrier
      const Index r0 = n * t / threads, r1 = n * (t + 1) / threads;
      for (int u = 1; u < threads; ++u) {
        const Index first = std::max(r0, triangle_split(n, u, threads));
        if (first < r1)
          cpu::axpy(ctx, S(1), ConstView<S>(partial.data() + (u - 1) * n + first, r1 - first, 1),
                    y.row_block(first, r1 - first));
      }
    }
  }

  // Thread t updates columns [j0, j1) of the lower triangle: the
  // diagonal block by syrk, the rectangle below it by gemm.
  template <class S>
  static void syrk(context& ctx, S alpha, ConstView<S> x, MatrixView<S> a) {
    const Index n = a.rows;
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num();
      const Index j0 = triangle_split(n, t, threads), j1 = triangle_split(n, t + 1, threads);
      const auto block = a.col_block(j0, j1 - j0);
      cpu::syrk(ctx, alpha, x.row_block(j0, j1 - j0), block.row_block(j0, j1 - j0));
      if (j1 < n)
        cpu::gemm(ctx, Trans::no, Trans::yes, alpha, x.row_block(j1, n - j1), x.row_block(j0, j1 - j0), S(1),
                  block.row_block(j1, n - j1));
    }
  }

  template <class S>
  static void rls_update(context& ctx, MatrixView<S> p, MatrixView<S> pending, MatrixView<S> work, ConstView<S> h,
                         ConstView<S> error, MatrixView<S> readout) {
    rls_update_by_parts<cpu_two_threads>(ctx, p, pending, work, h, error, readout);
  }

 private:
  // (n x (threads - 1)) partial sums of symv, sized on first use.
  template <class S>
  static Matrix<cpu, S>& partial_sums(Index n) {
    static Matrix<cpu, S> m;
    if (m.rows() != n) m.resize(n, threads - 1);
    return m;
  }
};

struct Problem {
  HostMatrix<double> targets;  // (m x T) from the chaotic teacher
  std::uint64_t student_seed;
};

// One FORCE set-up on backend B in precision S: the tutorial's student.
template <class B, class S>
struct Force {
  typename B::context ctx;
  EsnCell<B, S> cell{500, 1, 20, S(0.1)};
  Parameters<B, S> params{EsnCell<B, S>::specs(500, 1, 20)};
  typename EsnCell<B, S>::Tensors w = bind_values<EsnCell<B, S>>(params);
  std::unique_ptr<ForceTrainer<B, S>> trainer;  // made once w is initialised
  explicit Force(const Problem& p) {
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

template <class Pass>
Measured measure(const Pass& pass, int warmup, int samples) {
  Measured r;
  long worst = 0;
  r.timing = bench::time_ms(
      [&] {
        const long before = heap_allocations.load();
        r.error = pass();
        worst = std::max(worst, heap_allocations.load() - before);
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
  Force<cpu, float> f1(problem);
  Force<cpu, double> d1(problem);
  Force<cpu_two_threads, float> f2(problem);
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
  // The library's loop (one thread) must not allocate. The two-thread
  // variant's occasional allocations are libgomp's: GOMP_parallel builds a
  // new team when the last one is not yet released (seen under load).
  const long allocations = std::max({tf1.allocations_per_pass, td1.allocations_per_pass, rf1.allocations_per_pass,
                                     rd1.allocations_per_pass});
  if (allocations != 0) {
    fmt::print("FAIL: {} heap allocations inside a pass of the library's loop\n", allocations);
    return 1;
  }
  fmt::print("no heap allocation inside any timed pass of the library's loop\n");
  return 0;
}
