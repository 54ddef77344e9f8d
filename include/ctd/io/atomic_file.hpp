#pragma once
// Every file the library and its programs write is replaced, never rewritten
// in place: the data goes to "<file>.tmp.<pid>" beside the target (the same
// filesystem, so the rename is atomic), is flushed to disk, and is renamed
// over the target only once complete. A reader, or a run killed at any
// moment, sees the old complete file or the new one, never a mixture. A
// killed writer leaves its temporary file behind; the pid in its name tells
// a later run that it is stale (stale_temp_target).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>

#include "ctd/core/error.hpp"

namespace ctd::io {

inline constexpr const char* temp_marker = ".tmp.";

// Where `file` is written before the rename.
inline std::filesystem::path temp_path(const std::filesystem::path& file) {
  return file.string() + temp_marker + std::to_string(::getpid());
}

// For "<name>.tmp.<pid>" when no process <pid> exists any more — the
// leftover of a writer that was killed — the name of the file it was
// writing; nothing for any other file. A live pid (ours, another run's, or
// an unrelated process that reused the number) keeps its file.
inline std::optional<std::string> stale_temp_target(const std::filesystem::path& path) {
  const std::string name = path.filename().string();
  const std::size_t at = name.rfind(temp_marker);
  if (at == std::string::npos || at == 0) return std::nullopt;
  const std::string digits = name.substr(at + std::strlen(temp_marker));
  if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
    return std::nullopt;
  const pid_t pid = static_cast<pid_t>(std::stol(digits));
  if (pid <= 0 || ::kill(pid, 0) == 0 || errno != ESRCH) return std::nullopt;
  return name.substr(0, at);
}

namespace detail {

// fsync, returning 0 or the errno of the failure. Without it a power cut
// after the rename could leave the new name on blocks the disk never got.
inline int fsync_path(const std::filesystem::path& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return errno;
  const int err = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return err;
}

}  // namespace detail

// Calls write(tmp) to fill the temporary file, then flushes it and renames
// it over `file`. Whatever write throws propagates, after the partial
// temporary file is removed; `file` is then untouched.
template <class Write>
void write_atomically(const std::filesystem::path& file, Write&& write) {
  const std::filesystem::path tmp = temp_path(file);
  try {
    write(tmp);
    if (const int err = detail::fsync_path(tmp, false))
      throw Error(file.string() + ": cannot flush to disk: " + std::strerror(err));
    std::filesystem::rename(tmp, file);
  } catch (...) {
    std::error_code ignored;
    std::filesystem::remove(tmp, ignored);
    throw;
  }
  // Makes the rename durable. Best effort: the complete file is already in
  // place and a failure here cannot be undone, only reported by the disk.
  detail::fsync_path(file.parent_path().empty() ? std::filesystem::path(".") : file.parent_path(), true);
}

}  // namespace ctd::io
