#pragma once
// Command-line handling shared by the example programs: CLI11 parses; any
// bad argument prints the error and the usage and exits with status 2.
#include <cstdlib>
#include <exception>
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

namespace ctd::examples {

// Accepts numbers > 0 with a message that says so (CLI11's PositiveNumber
// prints the whole double range).
inline const CLI::Validator positive(
    [](std::string& text) -> std::string {
      try {
        if (std::stod(text) > 0) return "";
      } catch (const std::exception&) {
      }
      return "must be a positive number, got " + text;
    },
    "POSITIVE");

// main() of every example: runs `run` and turns any exception into its
// message on stderr and exit status 1.
template <class Run>
int run_program(const char* name, int argc, char** argv, Run&& run) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << name << ": " << e.what() << '\n';
    return 1;
  }
}

inline void parse_or_exit(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::CallForAllHelp& e) {
    std::exit(app.exit(e));
  } catch (const CLI::ParseError& e) {
    std::cerr << app.get_name() << ": " << e.what() << "\n\n" << app.help();
    std::exit(2);
  }
}

}  // namespace ctd::examples
