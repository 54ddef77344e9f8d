#pragma once
// Command-line handling shared by the example programs: CLI11 parses; any
// bad argument prints the error and the usage and exits with status 2.
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

namespace ctd::examples {

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
