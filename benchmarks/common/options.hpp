#pragma once
// The command line every benchmark shares, parsed by CLI11 as the example
// programs' is (examples/common/cli.hpp): a bad argument, a value that is
// not a number included, prints the error and the usage and exits with
// status 2.
#include <string>
#include <utility>

#include <CLI/CLI.hpp>

#include "examples/common/cli.hpp"

namespace ctd::bench {

struct Options {
  std::string json;  // where the result rows go
  bool reference = true;
  int busy_cores = 0;

  explicit Options(std::string default_json) : json(std::move(default_json)) {}
  // --json FILE and --no-reference.
  void add_to(CLI::App& app) {
    app.add_option("--json", json, "write the result rows to this JSON file");
    app.add_flag("--no-reference{false}", reference, "time ours alone, without JAX and PyTorch");
  }
  // --busy-cores C, for a benchmark that starts a CompetingLoad.
  void add_busy_cores_to(CLI::App& app) {
    app.add_option("--busy-cores", busy_cores, "other processes that keep a core busy each for the whole run")
        ->check(examples::at_least(0));
  }
};

}  // namespace ctd::bench
