#pragma once
// The progress line of long runs: step, loss, learning rate, steps/s, ETA,
// printed about once a second and at the last step.
#include <chrono>
#include <cstdio>

#include <fmt/core.h>

#include "ctd/train/trainer.hpp"

namespace ctd::examples {

class ProgressLine {
 public:
  void operator()(const TrainingProgress& p) {
    const auto now = clock::now();
    if (p.step != p.steps && now - last_print_ < std::chrono::seconds(1)) return;
    last_print_ = now;
    fmt::print("step {:>6}/{}  loss {:.4e}  lr {:.3e}  {:.1f} steps/s  ETA {:.0f} s\n", p.step, p.steps, p.loss,
               p.learning_rate, p.steps_per_second, p.seconds_left);
    std::fflush(stdout);
  }

 private:
  using clock = std::chrono::steady_clock;
  clock::time_point last_print_{};
};

}  // namespace ctd::examples
