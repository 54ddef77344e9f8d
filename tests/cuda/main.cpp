// main() of the CUDA tests. Without a usable GPU every test case exits with
// code 77 after printing why, and ctest (SKIP_RETURN_CODE 77) reports it as
// skipped — never as passed. Listing the tests (ctest's discovery at build
// time) works on any machine.
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "ctd/backend/cuda/context.hpp"

namespace {
constexpr int skipped_exit_code = 77;
}

int main(int argc, char* argv[]) {
  Catch::Session session;
  if (const int status = session.applyCommandLine(argc, argv); status != 0) return status;
  const auto& config = session.configData();
  const bool only_lists = config.listTests || config.listTestNamesOnly || config.listTags ||
                          config.listReporters || config.showHelp || config.libIdentify;
  if (!only_lists) {
    const std::string reason = ctd::cuda_unavailable_reason();
    if (!reason.empty()) {
      std::printf("skipped: no GPU (%s)\n", reason.c_str());
      return skipped_exit_code;
    }
  }
  return session.run();
}
