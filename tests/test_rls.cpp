// Tests for ctd/force/rls.hpp (SPEC §4): RLS on fixed data (no feedback) is
// the batch ridge solution with regulariser 1 / p0_diagonal, P is the
// regularised inverse covariance, batching P's updates changes nothing, the
// symmetric backend ops agree with their dense forms on one thread or
// shared by a product team, and bad options are refused.
#include <catch2/catch.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <limits>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include <pthread.h>
#include <sched.h>

#include <Eigen/Cholesky>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/force/rls.hpp"

using ctd::cpu;
using ctd::HostMatrix;
using ctd::Index;
using Catch::Matchers::Contains;

TEST_CASE("RLS without feedback equals the batch ridge solution", "[rls]") {
  cpu::context ctx;
  const Index n = 40, m = 3, T = 200;
  ctd::Rng rng(2024);
  const HostMatrix<double> H = ctd::random_normal<double>(rng, n, T, 1.0).array().tanh().matrix();
  const HostMatrix<double> F = ctd::random_normal<double>(rng, m, T, 1.0);
  const HostMatrix<double> W0 = ctd::random_normal<double>(rng, m, n, 0.2);
  const auto h_dev = ctd::upload<cpu, double>(ctx, H);
  const auto f_dev = ctd::upload<cpu, double>(ctx, F);

  for (const double p0 : {1.0, 0.1, 10.0}) {
    CAPTURE(p0);
    ctd::RlsState<cpu, double> rls(ctx, n, {p0});
    REQUIRE(rls.ridge_regulariser() == Approx(1 / p0));
    auto W = ctd::upload<cpu, double>(ctx, W0);
    ctd::Matrix<cpu, double> e(m, 1);
    for (Index t = 0; t < T; ++t) {
      // a-priori error e = W h_t - f_t
      cpu::copy(ctx, f_dev.view().col_block(t, 1), e.view());
      cpu::gemv(ctx, ctd::Trans::no, 1.0, W.view(), h_dev.view().col_block(t, 1), -1.0, e.view());
      rls.update(ctx, h_dev.view().col_block(t, 1), e.view(), W.view());
    }
    // argmin_W sum_t |W h_t - f_t|^2 + lambda |W - W0|^2:
    //   W (H H^T + lambda I) = F H^T + lambda W0
    const double lambda = 1 / p0;
    const HostMatrix<double> gram = H * H.transpose() + lambda * HostMatrix<double>::Identity(n, n);
    const Eigen::LLT<HostMatrix<double>> llt(gram);
    const HostMatrix<double> ridge = llt.solve((F * H.transpose() + lambda * W0).transpose()).transpose();
    const HostMatrix<double> got = ctd::download<cpu, double>(ctx, W.view());
    CHECK((got - ridge).norm() / ridge.norm() < 1e-8);
    const HostMatrix<double> P_exact = llt.solve(HostMatrix<double>::Identity(n, n));
    CHECK((rls.P(ctx) - P_exact).norm() / P_exact.norm() < 1e-8);
  }
}

TEST_CASE("RLS reset restores P = p0_diagonal * I", "[rls]") {
  cpu::context ctx;
  ctd::RlsState<cpu, double> rls(ctx, 5, {0.5});
  CHECK(rls.P(ctx) == 0.5 * HostMatrix<double>::Identity(5, 5));
  const auto h = ctd::upload<cpu, double>(ctx, HostMatrix<double>::Ones(5, 1));
  const auto e = ctd::upload<cpu, double>(ctx, HostMatrix<double>::Ones(2, 1));
  ctd::Matrix<cpu, double> W(2, 5);
  rls.update(ctx, h.view(), e.view(), W.view());
  // One sample: P = (I/0.5 + 1 1^T)^-1 = 0.5 (I - 1 1^T * 0.5 / (1 + 2.5)).
  const HostMatrix<double> ones = HostMatrix<double>::Ones(5, 5);
  CHECK((rls.P(ctx) - 0.5 * (HostMatrix<double>::Identity(5, 5) - ones * (0.5 / 3.5))).norm() < 1e-15);
  // W = -c e k^T with the gain k = P(0) h = 0.5 * 1 and c = 1 / (1 + h.k) = 1/3.5.
  CHECK((ctd::download<cpu, double>(ctx, W.view()) + HostMatrix<double>::Constant(2, 5, 0.5 / 3.5)).norm() < 1e-15);
  rls.reset(ctx);
  CHECK(rls.P(ctx) == 0.5 * HostMatrix<double>::Identity(5, 5));
}

TEST_CASE("RLS gives the same P and readout whatever the batch of pending updates", "[rls]") {
  cpu::context ctx;
  const Index n = 30, m = 2, T = 50;
  ctd::Rng rng(77);
  const auto h = ctd::upload<cpu, double>(ctx, ctd::random_normal<double>(rng, n, T, 1.0));
  const auto e = ctd::upload<cpu, double>(ctx, ctd::random_normal<double>(rng, m, T, 1.0));
  const auto run = [&](Index batch, Index samples) {
    ctd::RlsState<cpu, double> rls(ctx, n, {.p0_diagonal = 2.0, .batched_updates = batch});
    ctd::Matrix<cpu, double> W(m, n);
    cpu::fill(ctx, W.view(), 0.0);
    for (Index t = 0; t < samples; ++t)
      rls.update(ctx, h.view().col_block(t, 1), e.view().col_block(t, 1), W.view());
    return std::pair{rls.P(ctx), ctd::download<cpu, double>(ctx, W.view())};
  };
  // 50 samples: 3 full batches of 16 and 2 pending; 7 samples: all pending
  // (P read back with them applied); 48: none pending.
  for (const Index samples : {T, Index(7), Index(48)}) {
    CAPTURE(samples);
    const auto [P1, W1] = run(1, samples);
    for (const Index batch : {2, 16, 64}) {
      CAPTURE(batch);
      const auto [P, W] = run(batch, samples);
      CHECK((P - P1).norm() / P1.norm() < 1e-12);
      CHECK((W - W1).norm() / W1.norm() < 1e-12);
    }
  }
  CHECK_THROWS_WITH((ctd::RlsState<cpu, double>(ctx, n, {.batched_updates = 0})), Contains("batched_updates"));
}

// Sizes below, at and around the symv kernel's four-column panels and one
// or more packets of rows (symv_lower.hpp), in a matrix with a leading
// dimension larger than its size; the two largest are shared by a product
// team of two or three threads where the context has one (blocks of
// columns that do not start on a panel boundary).
TEMPLATE_TEST_CASE("symv and syrk use the lower triangle only", "[rls][backend]", float, double) {
  using S = TestType;
  const double tol = std::is_same_v<S, float> ? 1e-5 : 1e-12;
  const int product_threads = GENERATE(1, 2, 3);
  cpu::context ctx(1, product_threads);
  for (const Index n : {1, 3, 4, 5, 7, 16, 21, 37, 70, 400, 517}) {
    CAPTURE(n, product_threads);
    ctd::Rng rng(9 + std::uint64_t(n));
    HostMatrix<S> A = ctd::random_normal<S>(rng, n, n, 1.0);
    A = (A + A.transpose()).eval();
    HostMatrix<S> stored = HostMatrix<S>::Constant(n + 3, n, std::numeric_limits<S>::quiet_NaN());
    stored.topRows(n) = A;
    stored.topRows(n).template triangularView<Eigen::StrictlyUpper>().setConstant(
        std::numeric_limits<S>::quiet_NaN());
    auto padded = ctd::upload<cpu, S>(ctx, stored);
    const ctd::MatrixView<S> a_dev(padded.view().data, n, n, n + 3);
    const HostMatrix<S> x = ctd::random_normal<S>(rng, n, 1, 1.0);
    const HostMatrix<S> y0 = ctd::random_normal<S>(rng, n, 1, 1.0);
    const auto x_dev = ctd::upload<cpu, S>(ctx, x);
    for (const S beta : {S(0), S(1), S(0.5)}) {
      auto y_dev = ctd::upload<cpu, S>(ctx, y0);
      cpu::symv(ctx, S(2), ctd::ConstView<S>(a_dev), x_dev.view(), beta, y_dev.view());
      const HostMatrix<S> want = S(2) * A * x + beta * y0;
      CHECK((ctd::download<cpu, S>(ctx, y_dev.view()) - want).norm() / want.norm() < tol);
    }
    const HostMatrix<S> X = ctd::random_normal<S>(rng, n, 3, 1.0);
    cpu::syrk(ctx, S(-0.3), ctd::upload<cpu, S>(ctx, X).view(), a_dev);
    const HostMatrix<S> updated = ctd::download<cpu, S>(ctx, ctd::ConstView<S>(a_dev));
    const HostMatrix<S> want = A - S(0.3) * X * X.transpose();
    CHECK((HostMatrix<S>(updated.template triangularView<Eigen::Lower>()) -
           HostMatrix<S>(want.template triangularView<Eigen::Lower>()))
              .norm() < tol * want.norm());
    if (n > 1) CHECK(updated.template triangularView<Eigen::StrictlyUpper>().toDenseMatrix().hasNaN());  // untouched
  }
}

// Matrices above and below the size a product team shares, in rows not
// divisible by the members' packet-aligned row blocks, with a padded
// leading dimension; a transposed product stays on the calling thread.
TEMPLATE_TEST_CASE("gemv gives the same product whatever the product team", "[rls][backend]", float, double) {
  using S = TestType;
  const double tol = std::is_same_v<S, float> ? 1e-5 : 1e-12;
  const int product_threads = GENERATE(1, 2, 3);
  cpu::context ctx(1, product_threads);
  ctd::Rng rng(5);
  for (const auto& [m, n] : {std::pair<Index, Index>{20, 500}, {500, 500}, {1001, 70}, {77, 900}}) {
    CAPTURE(m, n, product_threads);
    const HostMatrix<S> stored = ctd::random_normal<S>(rng, m + 5, n, 1.0);
    auto a_dev = ctd::upload<cpu, S>(ctx, stored);
    const ctd::ConstView<S> a(a_dev.view().data, m, n, m + 5);
    const HostMatrix<S> A = stored.topRows(m);
    const HostMatrix<S> x = ctd::random_normal<S>(rng, n, 1, 1.0), y0 = ctd::random_normal<S>(rng, m, 1, 1.0);
    for (const S beta : {S(0), S(1), S(0.5)}) {
      auto y = ctd::upload<cpu, S>(ctx, y0);
      cpu::gemv(ctx, ctd::Trans::no, S(-1.5), a, ctd::upload<cpu, S>(ctx, x).view(), beta, y.view());
      const HostMatrix<S> want = S(-1.5) * A * x + beta * y0;
      CHECK((ctd::download<cpu, S>(ctx, y.view()) - want).norm() / want.norm() < tol);
    }
    const HostMatrix<S> v = ctd::random_normal<S>(rng, m, 1, 1.0);
    auto w = ctd::upload<cpu, S>(ctx, HostMatrix<S>(HostMatrix<S>::Zero(n, 1)));
    cpu::gemv(ctx, ctd::Trans::yes, S(1), a, ctd::upload<cpu, S>(ctx, v).view(), S(0), w.view());
    const HostMatrix<S> want = A.transpose() * v;
    CHECK((ctd::download<cpu, S>(ctx, w.view()) - want).norm() / want.norm() < tol);
  }
}

// A team calls every member once per run, the caller as member 0, also
// after its helpers have gone to sleep for want of work.
TEST_CASE("A product team runs each member once per call, awake or after sleeping", "[backend]") {
  ctd::detail::Team team(3);
  std::array<std::atomic<int>, 3> calls{};
  const auto caller = std::this_thread::get_id();
  bool caller_is_member_0 = true;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 100; ++i)
      team.run([&](int member) {
        calls[std::size_t(member)].fetch_add(1);
        if (member == 0 && std::this_thread::get_id() != caller) caller_is_member_0 = false;
      });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the helpers sleep after about 0.1 ms
  }
  CHECK(calls[0] == 200);
  CHECK(calls[1] == 200);
  CHECK(calls[2] == 200);
  CHECK(caller_is_member_0);
}

// A helper that keeps the caller waiting (as one that lost its core
// mid-share does) twice within 20 ms makes the caller do every share
// itself for a while, then the helpers get shares again. Each attempt gives
// the helper 2 ms to claim its share while the caller's own takes that
// long; the helper then holds it 5 ms. An attempt is a stall only if the
// caller was still running when the helper finished (under load it may
// oversleep its own share), so attempts go on until the team rests.
TEST_CASE("A product team's caller does every share itself for a while after a helper kept it waiting",
          "[backend]") {
  using namespace std::chrono_literals;
  const auto caller = std::this_thread::get_id();
  const auto share_ran_on_helper = [&](ctd::detail::Team& team, std::chrono::milliseconds helper_share) {
    std::atomic<bool> on_helper{false};
    team.run([&](int member) {
      if (member == 0) std::this_thread::sleep_for(2ms);
      if (member == 1 && std::this_thread::get_id() != caller) {
        on_helper = true;
        std::this_thread::sleep_for(helper_share);
      }
    });
    return on_helper.load();
  };
  const auto stall = [&](ctd::detail::Team& team) {
    for (int attempt = 0; attempt < 100; ++attempt) {
      share_ran_on_helper(team, 5ms);
      if (team.resting()) return true;
    }
    return false;
  };
  {
    ctd::detail::Team team(2, std::chrono::hours(1));
    share_ran_on_helper(team, 5ms);
    CHECK_FALSE(team.resting());  // one slow share alone is the machine's noise
    std::this_thread::sleep_for(30ms);
    REQUIRE(stall(team));
    for (int i = 0; i < 5; ++i) CHECK_FALSE(share_ran_on_helper(team, 0ms));  // resting: all on the caller
  }
  {
    ctd::detail::Team team(2, 20ms);
    REQUIRE(stall(team));
    std::this_thread::sleep_for(150ms);
    CHECK_FALSE(team.resting());
    bool shared_again = false;
    for (int attempt = 0; attempt < 50 && !shared_again; ++attempt) shared_again = share_ran_on_helper(team, 0ms);
    CHECK(shared_again);
  }
}

namespace {

// Keeps the calling thread working, not sleeping, for a while.
void work_for(std::chrono::steady_clock::duration length) {
  const auto until = std::chrono::steady_clock::now() + length;
  while (std::chrono::steady_clock::now() < until) {
  }
}

// Keeps the calling thread on one core of those it may run on, with a
// thread of its own that spins there, until destroyed: the caller loses
// half its core's time, as beside a busy process.
class CoreSharedWithSpinner {
 public:
  CoreSharedWithSpinner() {
    pthread_getaffinity_np(pthread_self(), sizeof allowed_, &allowed_);
    int cpu = 0;
    while (!CPU_ISSET(cpu, &allowed_)) ++cpu;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    pthread_setaffinity_np(pthread_self(), sizeof one, &one);
    spinner_ = std::thread([this, one] {
      pthread_setaffinity_np(pthread_self(), sizeof one, &one);
      while (!stop_.load(std::memory_order_relaxed)) {
      }
    });
  }
  ~CoreSharedWithSpinner() {
    stop_ = true;
    spinner_.join();
    pthread_setaffinity_np(pthread_self(), sizeof allowed_, &allowed_);
  }
  CoreSharedWithSpinner(const CoreSharedWithSpinner&) = delete;
  CoreSharedWithSpinner& operator=(const CoreSharedWithSpinner&) = delete;

 private:
  cpu_set_t allowed_;
  std::atomic<bool> stop_{false};
  std::thread spinner_;
};

}  // namespace

// A helper of ours on the caller's core, or another process there, slows
// every share alike, so no helper's share stands out; a watched team sees
// it by the time its caller waits for its core. Resting again right after
// a rest, it rests twice as long.
TEST_CASE("A shard team's caller that loses its core rests, though no helper's share stands out", "[backend]") {
  using namespace std::chrono_literals;
  using Clock = std::chrono::steady_clock;
  const auto call = [](ctd::detail::Team& team) {
    team.run([](int member) {
      if (member == 0) work_for(1ms);  // the caller's share, on its shared core
    });
  };
  const auto calls_until_rest = [&](ctd::detail::Team& team) {
    for (int i = 0; i < 200; ++i) {
      call(team);
      if (team.resting()) return i + 1;
    }
    return 0;
  };
  const CoreSharedWithSpinner shared;
  {
    ctd::detail::Team unwatched(2, 100ms, 100us, false);
    CHECK(calls_until_rest(unwatched) == 0);
  }
  ctd::detail::Team watched(2, 100ms, 100us, true);
  REQUIRE(calls_until_rest(watched) > 0);
  const auto rest_length = [&] {
    const auto start = Clock::now();
    while (watched.resting()) std::this_thread::sleep_for(1ms);
    return Clock::now() - start;
  };
  const auto first = rest_length();
  REQUIRE(calls_until_rest(watched) > 0);  // about 20 ms after the first rest's end
  const auto second = rest_length();
  // 100 and 200 ms, with room for a loaded machine's late wake-ups.
  CHECK(first < 150ms);
  CHECK(second > 180ms);
}

// A caller that sleeps between its calls (a real-time decoder until its
// next bin) has not lost its core. Judged by its CPU time, such a loop
// rested within 20 ms and then for 100 ms, 200 ms, ...: most of its calls
// ran at one thread's speed. (On a machine that other processes keep
// busy, the caller may lose its core for real and rest once.)
TEST_CASE("A shard team's caller that sleeps between its calls keeps its helpers", "[backend]") {
  using namespace std::chrono_literals;
  ctd::detail::Team watched(2, 100ms, 100us, true);
  int resting = 0;
  for (int i = 0; i < 100; ++i) {
    watched.run([](int member) {
      if (member == 0) work_for(30us);
    });
    resting += watched.resting();
    std::this_thread::sleep_for(4ms);
  }
  CHECK(resting < 40);
}

// The CPU backend's batch shards run on a team as well: every index once,
// a parallel_for inside a range on that range's own thread, and two
// threads that share a context (its copies share the team) each get all
// of their own indices, one of them on its thread alone.
TEST_CASE("cpu::parallel_for runs every index once, nested and from two threads at a time", "[backend]") {
  cpu::context ctx(3);
  constexpr ctd::Index count = 1000, rounds = 200;
  std::vector<std::atomic<int>> hits(count);
  std::atomic<bool> nested_left_its_thread{false};
  cpu::parallel_for(ctx, count, [&](ctd::Index k) {
    hits[std::size_t(k)].fetch_add(1);
    const auto own = std::this_thread::get_id();
    cpu::parallel_for(ctx, 4, [&](ctd::Index) {
      if (std::this_thread::get_id() != own) nested_left_its_thread = true;
    });
  });
  for (const auto& h : hits) REQUIRE(h == 1);
  CHECK_FALSE(nested_left_its_thread);

  std::vector<std::atomic<int>> mine(count), theirs(count);
  cpu::context copy = ctx;
  std::thread other([&] {
    for (int r = 0; r < rounds; ++r) cpu::parallel_for(copy, count, [&](ctd::Index k) { theirs[std::size_t(k)]++; });
  });
  for (int r = 0; r < rounds; ++r) cpu::parallel_for(ctx, count, [&](ctd::Index k) { mine[std::size_t(k)]++; });
  other.join();
  for (ctd::Index k = 0; k < count; ++k) {
    REQUIRE(mine[std::size_t(k)] == rounds);
    REQUIRE(theirs[std::size_t(k)] == rounds);
  }
}

// Column lengths below, at and above one packet, in a matrix with a
// leading dimension larger than its rows (cpu::ger's unaligned columns).
TEMPLATE_TEST_CASE("ger adds alpha x y^T", "[rls][backend]", float, double) {
  using S = TestType;
  cpu::context ctx;
  ctd::Rng rng(4);
  for (const auto& [m, n] : {std::pair<Index, Index>{1, 1}, {3, 5}, {16, 2}, {20, 37}, {41, 4}}) {
    CAPTURE(m, n);
    const HostMatrix<S> x = ctd::random_normal<S>(rng, m, 1, 1.0), y = ctd::random_normal<S>(rng, n, 1, 1.0);
    const HostMatrix<S> stored = ctd::random_normal<S>(rng, m + 2, n, 1.0);
    auto a_dev = ctd::upload<cpu, S>(ctx, stored);
    cpu::ger(ctx, S(-0.7), ctd::upload<cpu, S>(ctx, x).view(), ctd::upload<cpu, S>(ctx, y).view(),
             ctd::MatrixView<S>(a_dev.view().data, m, n, m + 2));
    HostMatrix<S> want = stored;
    want.topRows(m) += S(-0.7) * x * y.transpose();
    CHECK((ctd::download<cpu, S>(ctx, a_dev.view()) - want).norm() < 1e-5 * want.norm());  // the padding rows kept
  }
}

TEST_CASE("RLS refuses a non-positive P(0)", "[rls]") {
  cpu::context ctx;
  CHECK_THROWS_WITH((ctd::RlsState<cpu, float>(ctx, 10, {0.0})), Contains("p0_diagonal"));
  CHECK_THROWS_WITH((ctd::RlsState<cpu, float>(ctx, 10, {-1.0})), Contains("must be positive"));
  CHECK_THROWS_WITH((ctd::RlsState<cpu, float>(ctx, 10, {std::numeric_limits<double>::infinity()})),
                    Contains("p0_diagonal"));
  CHECK_THROWS_WITH((ctd::RlsState<cpu, float>(ctx, 0, {})), Contains("state size"));
}
