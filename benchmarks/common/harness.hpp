#pragma once
// What every benchmark shares: timing our code (median of many steps after
// warm-up), running the references of the same workload in the same
// invocation — PyTorch/NumPy (../shared/reference/bench_all.py, Debian's
// python3) and the tutorials' own JAX code (wl_jax.py, a Python with jax) —
// and printing ours, theirs and the ratio as a table and as JSON.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/core.h>
#include <nlohmann/json.hpp>

namespace ctd::bench {

// A shared machine: `cores` child processes that each keep a core busy
// until this object goes, started before the reference runs so that ours
// and theirs meet the same load.
class CompetingLoad {
 public:
  explicit CompetingLoad(int cores) {
    for (int i = 0; i < cores; ++i) {
      const pid_t pid = ::fork();
      if (pid == 0) {
        std::atomic<unsigned long> spin{0};
        for (;;) spin.fetch_add(1, std::memory_order_relaxed);
      }
      if (pid > 0) children_.push_back(pid);
    }
    if (!children_.empty())
      fmt::print("a shared machine: {} other process(es) keep a core busy each\n", children_.size());
  }
  CompetingLoad(const CompetingLoad&) = delete;
  CompetingLoad& operator=(const CompetingLoad&) = delete;
  ~CompetingLoad() {
    for (const pid_t pid : children_) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
  int cores() const { return int(children_.size()); }

 private:
  std::vector<pid_t> children_;
};

struct Timing {
  double median_ms = 0, min_ms = 0, max_ms = 0;
  int samples = 0;
};

// Median of `samples` calls after `warmup` calls.
inline Timing time_ms(const std::function<void()>& step, int warmup, int samples) {
  for (int i = 0; i < warmup; ++i) step();
  std::vector<double> ms;
  for (int i = 0; i < samples; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    step();
    ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front(), ms.back(), samples};
}

// The folder of the shared reference workloads (bench_all.py, common.py).
inline std::filesystem::path reference_dir() {
  const char* dir_env = std::getenv("CTD_REFERENCE_DIR");
  return dir_env ? dir_env : CTD_DEFAULT_REFERENCE_DIR;
}

// Runs `command` in `dir`, which writes {"results": [rows]} to `out`; the
// rows, or nothing (and why) when it fails.
inline std::optional<nlohmann::json> run_reference_command(const std::filesystem::path& dir, const std::string& command,
                                                           const std::filesystem::path& out) {
  const std::string cmd = "cd '" + dir.string() + "' && CTD_REFERENCE_DIR='" +
                          std::filesystem::absolute(reference_dir()).string() + "' " +
                          command + " --json '" + out.string() + "' > '" + out.string() + ".log' 2>&1";
  fmt::print("running the reference: {}\n", cmd);
  std::fflush(stdout);
  if (std::system(cmd.c_str()) != 0) {
    fmt::print("reference failed; see {}.log\n", out.string());
    return std::nullopt;
  }
  std::ifstream in(out);
  return nlohmann::json::parse(in)["results"];
}

// Runs the shared reference workloads (bench_all.py --only KEYS) and returns
// their result rows, or nothing when python3-torch or the reference folder
// is missing (the table then says so).
inline std::optional<nlohmann::json> run_reference(const std::string& keys) {
  const std::filesystem::path dir = reference_dir();
  if (!std::filesystem::exists(dir / "bench_all.py")) {
    fmt::print("reference: {} not found (set CTD_REFERENCE_DIR)\n", (dir / "bench_all.py").string());
    return std::nullopt;
  }
  // --blas system: the system BLAS (the test command installs Debian's
  // OpenBLAS, OpenMP build; the reference README explains why not netlib).
  return run_reference_command(dir, "/usr/bin/python3 bench_all.py --blas system --only " + keys,
                               std::filesystem::temp_directory_path() / ("ctd_reference_" + keys + ".json"));
}

// Runs one of our own reference scripts (benchmarks/reference/SCRIPT, for
// workloads the shared folder lacks; they use its helpers).
inline std::optional<nlohmann::json> run_reference_script(const std::string& script, int samples) {
  if (!std::filesystem::exists(reference_dir() / "common.py")) {
    fmt::print("reference: {} not found (set CTD_REFERENCE_DIR)\n", (reference_dir() / "common.py").string());
    return std::nullopt;
  }
  return run_reference_command(CTD_BENCH_REFERENCE_SCRIPTS,
                               "/usr/bin/python3 " + script + " --samples " + std::to_string(samples),
                               std::filesystem::temp_directory_path() / ("ctd_reference_" + script + ".json"));
}

// Runs the tutorials' own JAX code (benchmarks/reference/jax_reference.py
// over the shared wl_jax.py groups) with the Python named by
// CTD_JAX_PYTHON (default: python3), which needs jax[cpu] from PyPI; without
// it, says so and returns nothing, and the benchmark runs the rest.
inline std::optional<nlohmann::json> run_jax_reference(const std::string& groups, int samples) {
  const char* python_env = std::getenv("CTD_JAX_PYTHON");
  const std::string python = python_env ? python_env : "python3";
  if (std::system(("'" + python + "' -c 'import jax' > /dev/null 2>&1").c_str()) != 0) {
    fmt::print("JAX reference: {} cannot import jax; set CTD_JAX_PYTHON to a Python with jax[cpu] (the venv "
               "recipe is in {}/README.md)\n",
               python, reference_dir().string());
    return std::nullopt;
  }
  return run_reference_command(CTD_BENCH_REFERENCE_SCRIPTS,
                               "'" + python + "' jax_reference.py --only " + groups + " --samples " +
                                   std::to_string(samples),
                               std::filesystem::temp_directory_path() / ("ctd_reference_jax_" + groups + ".json"));
}

// The median of the reference row of `workload` whose variant is `variant`
// or, failing that, begins with it (JAX's variants end in their chunk
// sizes).
inline std::optional<double> reference_ms(const std::optional<nlohmann::json>& rows,
                                          const std::string& workload, const std::string& variant) {
  if (!rows) return std::nullopt;
  for (const auto& r : *rows)
    if (r["workload"] == workload && r["variant"] == variant) return r["median_ms"].get<double>();
  for (const auto& r : *rows)
    if (r["workload"] == workload && r["variant"].get<std::string>().rfind(variant, 0) == 0)
      return r["median_ms"].get<double>();
  return std::nullopt;
}

// One line of the result table: ours against one reference.
struct Row {
  std::string workload;
  std::string ours_label;
  Timing ours;
  std::string theirs_label;
  std::optional<double> theirs_ms;
  double flops = 0;  // per step, dense linear algebra only (reference convention)
};

inline void report(const std::vector<Row>& rows, const std::string& json_path) {
  fmt::print("\n{:<34} {:<28} {:>10} {:>12} {:>8} {:>9}  {}\n", "workload", "ours", "ours ms", "theirs ms",
             "ratio", "GFLOP/s", "reference");
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    const double gflops = r.flops > 0 ? r.flops / (r.ours.median_ms * 1e6) : 0;
    const std::string theirs = r.theirs_ms ? fmt::format("{:.3f}", *r.theirs_ms) : "n/a";
    const std::string ratio = r.theirs_ms ? fmt::format("{:.3f}", r.ours.median_ms / *r.theirs_ms) : "n/a";
    fmt::print("{:<34} {:<28} {:>10.3f} {:>12} {:>8} {:>9.1f}  {}\n", r.workload, r.ours_label,
               r.ours.median_ms, theirs, ratio, gflops, r.theirs_label);
    out.push_back({{"workload", r.workload},
                   {"ours", r.ours_label},
                   {"ours_median_ms", r.ours.median_ms},
                   {"ours_min_ms", r.ours.min_ms},
                   {"ours_max_ms", r.ours.max_ms},
                   {"samples", r.ours.samples},
                   {"reference", r.theirs_label},
                   {"reference_median_ms", r.theirs_ms ? nlohmann::json(*r.theirs_ms) : nlohmann::json()},
                   {"ratio", r.theirs_ms ? nlohmann::json(r.ours.median_ms / *r.theirs_ms) : nlohmann::json()},
                   {"flops_per_step", r.flops},
                   {"gflops", gflops}});
  }
  fmt::print("(ratio = ours / reference; below 1 is faster)\n");
  if (!json_path.empty()) {
    std::ofstream(json_path) << out.dump(2) << '\n';
    fmt::print("wrote {}\n", json_path);
  }
}

}  // namespace ctd::bench
