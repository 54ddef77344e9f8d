#pragma once
// One exception type for every failure the library reports to its users, so a
// caller can catch ctd::Error and print what() — which always names the
// file, key or argument at fault and what was expected.
#include <stdexcept>
#include <string>

namespace ctd {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Throws ctd::Error(message) when `condition` is false. Used for argument
// checks at API boundaries; never inside hot loops.
inline void require(bool condition, const std::string& message) {
  if (!condition) throw Error(message);
}

}  // namespace ctd
