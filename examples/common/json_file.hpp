#pragma once
// summary.json and friends, written atomically like every output.
#include <filesystem>
#include <fstream>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "ctd/core/error.hpp"

namespace ctd::examples {

inline void write_json(const std::filesystem::path& file, const nlohmann::json& value) {
  auto tmp = file;
  tmp += ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    out << value.dump(2) << '\n';
    if (!out) throw Error(file.string() + ": cannot write");
  }
  std::filesystem::rename(tmp, file);
}

}  // namespace ctd::examples
