#pragma once
// Per-point host work (solves, SVDs, eigen-decompositions) shared among the
// OpenMP threads. The points are independent; Eigen runs single-threaded
// inside the parallel region.
#include <exception>
#include <string>

#include "ctd/core/error.hpp"
#include "ctd/core/types.hpp"

namespace ctd {

// Runs body(p) for p in [0, count). An exception must not leave an OpenMP
// region, so one is caught there and rethrown afterwards as ctd::Error
// naming `what` and the point.
template <class Body>
void parallel_points(Index count, const std::string& what, const Body& body) {
  std::string failure;
#pragma omp parallel for schedule(dynamic)
  for (Index p = 0; p < count; ++p) {
    try {
      body(p);
    } catch (const std::exception& e) {
#pragma omp critical(ctd_parallel_points_failure)
      failure = what + ": point " + std::to_string(p) + ": " + e.what();
    }
  }
  require(failure.empty(), failure);
}

}  // namespace ctd
