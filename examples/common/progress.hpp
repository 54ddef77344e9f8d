#pragma once
// The progress line of long runs: step, loss, learning rate, steps/s, ETA.
#include <chrono>
#include <cstdio>

#include <fmt/core.h>

namespace ctd::examples {

class Progress {
 public:
  Progress(long first_step, long total_steps)
      : first_(first_step), total_(total_steps), start_(clock::now()) {}

  // Prints about once a second and at the last step.
  void update(long step, double loss, double learning_rate) {
    const auto now = clock::now();
    const bool last = step + 1 == total_;
    if (!last && now - last_print_ < std::chrono::seconds(1)) return;
    last_print_ = now;
    const double rate = steps_per_second(step + 1);
    const double eta = rate > 0 ? double(total_ - step - 1) / rate : 0.0;
    fmt::print("step {:>6}/{}  loss {:.4e}  lr {:.3e}  {:.1f} steps/s  ETA {:.0f} s\n", step + 1,
               total_, loss, learning_rate, rate, eta);
    std::fflush(stdout);
  }
  double steps_per_second(long steps_done) const {
    const double s = seconds();
    return s > 0 ? double(steps_done - first_) / s : 0.0;
  }
  double seconds() const { return std::chrono::duration<double>(clock::now() - start_).count(); }

 private:
  using clock = std::chrono::steady_clock;
  long first_, total_;
  clock::time_point start_, last_print_{};
};

}  // namespace ctd::examples
