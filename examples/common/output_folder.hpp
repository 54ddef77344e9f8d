#pragma once
// The output folder of a run (--out DIR), and who may write into it.
//
// A folder holds a run's results when it has a summary.json (every program
// writes one, last) or any file the program about to run writes (a run
// killed before its summary leaves those). Such a folder belongs to that
// run: a new run refuses it, so the results of two runs never mix, unless
//   --resume  continues the run that is there (its files stay until
//             replaced), or
//   --force   starts afresh: this program's files there are deleted first.
// Temporary files ("<name>.tmp.<pid>") are never results; those of this
// program's files whose writer no longer exists (a killed run) are removed.
#include <algorithm>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>

#include "ctd/core/error.hpp"
#include "ctd/io/atomic_file.hpp"

namespace ctd::examples {

class OutputFolder {
 public:
  OutputFolder() = default;
  explicit OutputFolder(std::filesystem::path dir) : dir(std::move(dir)) {}

  std::filesystem::path dir;

  // Registers --out and --force; given the trainer's resume flag, also
  // --resume, which excludes --force.
  void add_to(CLI::App& app, bool* resume = nullptr) {
    app.add_option("--out", dir, "output folder")->capture_default_str();
    // Actions on this folder, not settings of a run: no config file sets them.
    CLI::Option* force = app.add_flag("--force", force_,
                                      "write into an output folder that holds another run's results, deleting this "
                                      "program's files there first")
                             ->configurable(false);
    resumable_ = resume != nullptr;
    if (resume)
      app.add_flag("--resume", *resume, "continue the run in the output folder from its checkpoint.h5")
          ->excludes(force)
          ->configurable(false);
  }

  std::filesystem::path operator/(const std::filesystem::path& name) const { return dir / name; }

  // Creates the folder and claims it for this run, whose files are `files`
  // (summary.json is always one); `continuing` says the run that is there
  // goes on (--resume). Call before reading inputs or writing anything.
  void claim(std::vector<std::string> files, bool continuing) const {
    namespace fs = std::filesystem;
    files.push_back("summary.json");
    fs::create_directories(dir);
    const auto ours = [&](const std::string& name) {
      return std::find(files.begin(), files.end(), name) != files.end();
    };
    std::vector<std::string> found;
    for (const auto& entry : fs::directory_iterator(dir)) {
      const std::string name = entry.path().filename().string();
      if (ours(name))
        found.push_back(name);
      else if (const auto target = io::stale_temp_target(entry.path()); target && ours(*target))
        fs::remove(entry.path());
    }
    if (found.empty() || continuing) return;
    std::sort(found.begin(), found.end());
    std::string list;
    for (const auto& name : found) list += (list.empty() ? "" : ", ") + name;
    require(force_, dir.string() + ": holds another run's results (" + list + "); pass " +
                        (resumable_ ? "--resume to continue that run, " : "") +
                        "--force to replace them, or choose another --out");
    for (const auto& name : found) fs::remove(dir / name);
  }

 private:
  bool force_ = false;
  bool resumable_ = false;
};

}  // namespace ctd::examples
