#pragma once
// Basic vocabulary shared by every layer.
#include <cstddef>

namespace ctd {

// Signed index, as Eigen and cuBLAS use (std::ptrdiff_t == Eigen::Index).
using index = std::ptrdiff_t;

// Whether a GEMM/GEMV operand is used as stored or transposed.
enum class Trans { no, yes };

}  // namespace ctd
