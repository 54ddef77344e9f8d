#pragma once
// summary.json and friends, written atomically like every output.
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "ctd/core/error.hpp"
#include "ctd/io/atomic_file.hpp"

namespace ctd::examples {

inline void write_json(const std::filesystem::path& file, const nlohmann::json& value) {
  io::write_atomically(file, [&](const std::filesystem::path& tmp) {
    std::ofstream out(tmp);
    out << value.dump(2) << '\n';
    out.close();  // a failed flush shows here, not in the destructor
    if (!out) throw Error(file.string() + ": cannot write");
  });
}

}  // namespace ctd::examples
