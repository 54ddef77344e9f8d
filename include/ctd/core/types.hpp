#pragma once
// Basic vocabulary shared by every layer.
#include <cstddef>

namespace ctd {

// Signed index, capitalised like Eigen::Index (a lower-case name would clash
// with POSIX index() for code that says `using namespace ctd;`),
// as Eigen and cuBLAS use (std::ptrdiff_t == Eigen::Index).
using Index = std::ptrdiff_t;

// Whether a GEMM/GEMV operand is used as stored or transposed.
enum class Trans { no, yes };

}  // namespace ctd
