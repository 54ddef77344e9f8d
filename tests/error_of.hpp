#pragma once
// The message of the ctd::Error a piece of code must throw.
#include <string>

#include <catch2/catch.hpp>

#include "ctd/core/error.hpp"

namespace ctd::testing {

// Runs f, which must throw ctd::Error, and returns its message.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ctd::Error& e) {
    return e.what();
  }
  FAIL("expected ctd::Error, nothing was thrown");
  return "";
}

}  // namespace ctd::testing
