#pragma once
// What a backward pass does with an output gradient buffer: leave it alone
// (the caller does not want it), overwrite it, or add to it (several
// contributions, e.g. the steps of a sequence or the parts of a model).
#include "ctd/core/types.hpp"

namespace ctd {

enum class Grad { ignore, overwrite, accumulate };

// The GEMM beta that realises a mode: 0 overwrites, 1 accumulates.
template <class S>
S beta_of(Grad mode) {
  return mode == Grad::accumulate ? S(1) : S(0);
}

}  // namespace ctd
