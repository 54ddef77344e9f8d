#pragma once
// A fixed team of threads that share single operations, for the CPU
// backend's products of one trajectory (FORCE's wR h, P h and P's update:
// cpu::context::product_threads).
//
// Why not an OpenMP region per product: a step of FORCE's pass is a few
// microseconds of work per thread. On the Xeon VM an empty OpenMP region
// cost 0.8 us with libgomp's spinning threads and about 40 us with its
// passive wait policy (which the tests set); an empty run() here costs
// 0.4 us, two cache-line transfers each way. The helpers spin between
// operations; after about 0.1 ms without work they sleep on an atomic
// wait, so an idle team costs nothing.
//
// The caller is member 0 and does its share itself; every call of run()
// uses the same member for the same share, so each thread keeps its part of
// a matrix in its own core's cache from call to call.
#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

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
  explicit Team(int members) : members_(members < 1 ? 1 : members) {
    scratch_.resize(std::size_t(members_));
    try {
      for (int m = 1; m < members_; ++m) helpers_.emplace_back([this, m] { serve(m); });
    } catch (...) {
      stop();
      throw;
    }
  }
  ~Team() { stop(); }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int members() const { return members_; }

  // Calls work(member) for every member at once, this thread as member 0;
  // returns when all have returned. work must not throw.
  template <class F>
  void run(F&& work) {
    if (members_ == 1) return work(0);
    job_ = {&work, [](void* w, int member) { (*static_cast<F*>(w))(member); }};
    running_.store(members_ - 1, std::memory_order_relaxed);
    epoch_.fetch_add(1, std::memory_order_release);
    epoch_.notify_all();
    work(0);
    // Spinning, then yielding: a helper that shares this core (more
    // members than free cores) gets it.
    for (int i = 0; running_.load(std::memory_order_acquire) != 0; ++i)
      if (i < spin_limit)
        spin_pause();
      else
        std::this_thread::yield();
  }

  // A buffer of at least `count` values of T for one member's partial
  // results, kept between calls (allocated on first use or growth only).
  template <class T>
  T* scratch(int member, std::size_t count) {
    auto& s = scratch_[std::size_t(member)];
    if (s.size() < count * sizeof(T)) s.resize(count * sizeof(T));
    return reinterpret_cast<T*>(s.data());
  }

 private:
  // A helper spins this many pauses (about 0.1 ms) waiting for the next
  // operation before it sleeps: long enough to bridge the caller's own work
  // between two shared operations of a step.
  static constexpr int spin_limit = 4096;

  void serve(int member) {
    int seen = 0;
    for (;;) {
      for (int i = 0; i < spin_limit && epoch_.load(std::memory_order_acquire) == seen; ++i) spin_pause();
      epoch_.wait(seen, std::memory_order_acquire);
      seen = epoch_.load(std::memory_order_acquire);
      if (stop_.load(std::memory_order_relaxed)) return;
      job_.call(job_.work, member);
      running_.fetch_sub(1, std::memory_order_release);
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
  int members_;
  // The job and its epoch share a cache line: a helper that sees the new
  // epoch has the job with it.
  alignas(64) std::atomic<int> epoch_{0};
  Job job_;
  alignas(64) std::atomic<int> running_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::vector<std::byte>> scratch_;
  std::vector<std::thread> helpers_;
};

}  // namespace ctd::detail
