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

// Accepts integers >= minimum, with a message that says so.
inline CLI::Validator at_least(long minimum) {
  return CLI::Validator(
      [minimum](std::string& text) -> std::string {
        try {
          if (std::stol(text) >= minimum) return "";
        } catch (const std::exception&) {
        }
        return "must be at least " + std::to_string(minimum) + ", got " + text;
      },
      "INT>=" + std::to_string(minimum));
}

// A message as one printable line: control bytes (a newline in a key name
// read from a damaged file) are escaped as \xNN.
inline std::string one_line(const std::string& message) {
  std::string out;
  for (const unsigned char c : message) {
    if (c >= 0x20 && c != 0x7f) {
      out += char(c);
    } else {
      static constexpr char hex[] = "0123456789abcdef";
      out += {'\\', 'x', hex[c >> 4], hex[c & 15]};
    }
  }
  return out;
}

// main() of every example: runs `run` and turns any exception into one
// line on stderr, "name: message", and exit status 1.
template <class Run>
int run_program(const char* name, int argc, char** argv, Run&& run) {
  try {
    return run(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << name << ": " << one_line(e.what()) << '\n';
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
