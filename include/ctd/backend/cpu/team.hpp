#pragma once
// A fixed team of threads that share single operations: the CPU backend's
// shards of a batch (cpu::parallel_for) and its products of one trajectory
// (FORCE's wR h, P h and P's update: cpu::context's product_threads).
//
// Why not an OpenMP region per product: a step of FORCE's pass is a few
// microseconds of work per thread. On the Xeon VM an empty OpenMP region
// cost 0.8 us with libgomp's spinning threads and about 40 us with its
// passive wait policy (which the tests set); an empty run() here costs
// 0.4 us, two cache-line transfers each way.
//
// The caller is member 0 and does its share first; every call of run()
// gives the same member the same share, so each thread keeps its part of a
// matrix in its own core's cache from call to call. The helpers spin for a
// while between operations (spin_before_sleep), then sleep on an atomic
// wait, so an idle team costs nothing; a helper woken from its sleep starts
// late (up to a millisecond or two on the VM).
//
// On a machine where another process holds a core a helper is often not
// running. So a share is claimed before it is done, and the caller does
// every share no helper has claimed yet instead of waiting for one; and
// when a helper that had claimed its share kept the caller waiting (it lost
// its core mid-share), the caller does every share itself for a while
// (rest_after_stall) before it hands work over again. A stall is a share
// that took its helper much longer than the caller took over its own (the
// shares are near-equal), not a late start. A watched team also rests when
// its caller waited for a core more than a quarter of the time
// (caller_lost_core), and rests longer each time it finds the machine
// still shared. An OpenMP region instead waits at its barrier for every
// thread, one that has lost its core included: the integrator's training
// step on two threads beside one busy core took 56 ms, against 2.3 ms on
// one thread.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <unistd.h>

namespace ctd::detail {

// A hint to the core that this thread is spinning.
inline void spin_pause() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

class Team {
 public:
  // rest_after_stall: how long the caller does every share itself after
  // a helper kept it waiting (at first: rest). spin_before_sleep: how long
  // a helper waits for the next operation awake, long enough to bridge the
  // caller's own work between two shared operations.
  // watch_caller_core: whether a call also checks that the caller kept its
  // core since the last one (below; a system call, 0.3 us on the VM, so for
  // a team whose calls take hundreds of microseconds, not a few).
  explicit Team(int members, std::chrono::milliseconds rest_after_stall = std::chrono::milliseconds(100),
                std::chrono::microseconds spin_before_sleep = std::chrono::microseconds(100),
                bool watch_caller_core = false)
      : slots_(std::size_t(members < 1 ? 1 : members)),
        rest_after_stall_(rest_after_stall),
        spin_before_sleep_(spin_before_sleep),
        watch_caller_core_(watch_caller_core) {
    try {
      for (int m = 1; m < this->members(); ++m) helpers_.emplace_back([this, m] { serve(m); });
    } catch (...) {
      stop();
      throw;
    }
  }
  ~Team() { stop(); }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int members() const { return int(slots_.size()); }
  // Whether run() now does every share on the caller (after a stall); for
  // the thread that calls run().
  bool resting() const { return Clock::now() < resting_until_; }

  // Calls work(member) once for every member, this thread as member 0 and
  // the helpers for the others as far as they are free; returns when all
  // have returned. work must not throw. A call made while another thread's
  // run() holds the team (copies of a CPU context share one) does every
  // share on its own thread.
  template <class F>
  void run(F&& work) {
    const int n = members();
    const auto alone = [&] {
      for (int m = 0; m < n; ++m) work(m);
    };
    if (n == 1 || held_.exchange(true, std::memory_order_acquire)) return alone();
    const struct Release {
      std::atomic<bool>& held;
      ~Release() { held.store(false, std::memory_order_release); }
    } release{held_};
    if (resting()) {
      watched_since_ = {};  // the caller's work alone is no measure of a call's
      return alone();
    }
    job_ = {&work, [](void* w, int member) { (*static_cast<F*>(w))(member); }};
    running_.store(n - 1, std::memory_order_relaxed);
    for (int m = 1; m < n; ++m) {
      slots_[std::size_t(m)].took = {};  // stays zero for a share the caller takes over
      slots_[std::size_t(m)].taken.store(false, std::memory_order_release);
    }
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    const auto started = Clock::now();
    work(0);
    const auto own_share = Clock::now() - started;
    for (int m = 1; m < n; ++m)
      if (!slots_[std::size_t(m)].taken.exchange(true, std::memory_order_acq_rel)) {
        work(m);
        running_.fetch_sub(1, std::memory_order_relaxed);
      }
    for (int i = 0; running_.load(std::memory_order_acquire) != 0; ++i)
      if (i < spin_limit)
        spin_pause();
      else
        std::this_thread::yield();  // a helper that shares this core gets it
    const auto now = Clock::now();
    if (caller_lost_core(now)) return rest(now);
    Clock::duration slowest{};
    for (int m = 1; m < n; ++m) slowest = std::max(slowest, slots_[std::size_t(m)].took);
    if (slowest <= own_share + std::max<Clock::duration>(stall, own_share / 2)) return;
    // One slow share now and then is the machine's own noise (the VM's
    // quiet cores showed one every 0.3 s or so); a helper that shares its
    // core with another process stalls again within milliseconds.
    if (now - last_stall_ < stall_window) rest(now);
    last_stall_ = now;
  }

  // A buffer of at least `count` values of T for one member's partial
  // results, kept between calls (allocated on first use or growth only).
  template <class T>
  T* scratch(int member, std::size_t count) {
    auto& s = slots_[std::size_t(member)].scratch;
    if (s.size() < count * sizeof(T)) s.resize(count * sizeof(T));
    return reinterpret_cast<T*>(s.data());
  }

 private:
  using Clock = std::chrono::steady_clock;
  // The caller spins this many pauses (about 0.1 ms) waiting for its
  // helpers before it yields its core to them.
  static constexpr int spin_limit = 4096;
  // A helper's share this much longer than the caller's own (and longer
  // by half of it) means its helper lost its core (a product's share takes
  // microseconds; a scheduler's time slice, milliseconds). FORCE's bench on
  // an idle machine saw two waits for a helper over 100 us in a few
  // thousand passes, and two over 500 us; with a core busy, 15.
  static constexpr auto stall = std::chrono::microseconds(500);
  // Two stalls this close together make the caller rest.
  static constexpr auto stall_window = std::chrono::milliseconds(20);
  // How much of the caller's time caller_lost_core judges at once.
  static constexpr auto watch_window = std::chrono::milliseconds(20);

  // Whether the caller waited for its core more than a quarter of the time
  // over the last window of its calls and what came between them (not
  // counting its rests): another thread held its core. Then a stall goes
  // unseen by the helpers' times. With a helper of ours on the caller's
  // core every share runs as slow as the caller's, and the helper's
  // spinning between calls halves the caller's own work there (the
  // integrator's step beside a busy core took 4.3 ms for 50 steps on end,
  // against 2.2 on one thread); a caller that shares its core with another
  // process loses it for a whole time slice at each yield. Over a window,
  // not a call: a quiet VM takes its core from a thread for a millisecond
  // or two now and then. It reads the kernel's count of the time the
  // caller was ready to run but waited for a core, not the caller's CPU
  // time: a caller that sleeps between calls (a real-time decoder until its
  // next bin, a loop writing a checkpoint) has not lost its core, and
  // judged by its CPU time such a loop rested, its calls at one thread's
  // speed. Where the kernel keeps no such count, nothing is watched.
  bool caller_lost_core(Clock::time_point now) {
    if (!watch_caller_core_) return false;
    const auto waited = time_waiting_for_a_core();
    if (!waited) return false;
    const auto caller = std::this_thread::get_id();
    if (watched_since_ != Clock::time_point{} && watched_caller_ == caller) {
      window_wall_ += now - watched_since_;
      window_waited_ += *waited - waited_since_;
    }
    watched_since_ = now;
    watched_caller_ = caller;
    waited_since_ = *waited;
    if (window_wall_ < watch_window) return false;
    const bool lost = window_waited_ * 4 > window_wall_;
    window_wall_ = window_waited_ = {};
    return lost;
  }
  // How long this thread has been ready to run and waited for a core, the
  // second of the three numbers in /proc/thread-self/schedstat
  // (nanoseconds), or nothing where the kernel has no such file.
  static std::optional<Clock::duration> time_waiting_for_a_core() {
    struct File {
      int fd = ::open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
      ~File() {
        if (fd >= 0) ::close(fd);
      }
    };
    thread_local const File file;
    char text[96];
    const ssize_t length = file.fd < 0 ? -1 : ::pread(file.fd, text, sizeof text - 1, 0);
    if (length <= 0) return std::nullopt;
    text[length] = '\0';
    const char* second = std::strchr(text, ' ');
    if (!second) return std::nullopt;
    return std::chrono::nanoseconds(std::strtoll(second + 1, nullptr, 10));
  }
  // Does every share on the caller for a while. Resting again right after a
  // rest, the machine is still shared: each such rest twice as long as the
  // last (up to 16 times), so that the calls that find it out again (each
  // costing about a shard team's whole share) come rarely.
  void rest(Clock::time_point now) {
    const bool again = now - resting_until_ < Clock::duration(rest_after_stall_);
    rest_ = again ? std::min(2 * rest_, 16 * rest_after_stall_) : rest_after_stall_;
    resting_until_ = now + rest_;
  }

  void serve(int member) {
    int seen = 0;
    auto& slot = slots_[std::size_t(member)];
    for (;;) {
      const auto awake_until = Clock::now() + spin_before_sleep_;
      for (int i = 0; epoch_.load(std::memory_order_acquire) == seen; ++i) {
        if (i % 64 == 0 && Clock::now() > awake_until) break;
        spin_pause();
      }
      epoch_.wait(seen, std::memory_order_acquire);
      seen = epoch_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_relaxed)) return;
      // Claimed after the caller reset the flag for the newest job, whose
      // job_ the claim then sees; a flag still set belongs to a job the
      // caller has finished, or taken over.
      if (!slot.taken.exchange(true, std::memory_order_acq_rel)) {
        const auto started = Clock::now();
        job_.call(job_.work, member);
        slot.took = Clock::now() - started;
        running_.fetch_sub(1, std::memory_order_release);
      }
    }
  }

  void stop() {
    stop_.store(true, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    for (auto& t : helpers_) t.join();
  }

  struct Job {
    void* work = nullptr;
    void (*call)(void*, int) = nullptr;
  };
  // One member's claim on its share, how long its helper took over it, and
  // its partial results, a cache line of its own.
  struct alignas(64) Slot {
    std::atomic<bool> taken{true};
    std::chrono::steady_clock::duration took{};
    std::vector<std::byte> scratch;
  };
  std::vector<Slot> slots_;
  std::chrono::milliseconds rest_after_stall_;
  std::chrono::milliseconds rest_{};  // the last rest's length
  std::chrono::microseconds spin_before_sleep_;
  // The job and its epoch share a cache line: a helper that sees the new
  // epoch has the job with it.
  alignas(64) std::atomic<int> epoch_{0};
  Job job_;
  alignas(64) std::atomic<int> running_{0};  // shares claimed or not, unfinished
  bool watch_caller_core_;
  Clock::time_point resting_until_{}, last_stall_{};
  Clock::time_point watched_since_{};  // the end of the caller's last watched call
  std::thread::id watched_caller_;     // the thread that made it
  Clock::duration waited_since_{};     // how long that thread had waited for a core then
  Clock::duration window_wall_{}, window_waited_{};  // the watch's window so far
  std::atomic<bool> held_{false};  // a run() is under way
  std::atomic<bool> stop_{false};
  std::vector<std::thread> helpers_;
};

}  // namespace ctd::detail
