#pragma once
// What the supervised tasks make: inputs, targets and mask of B trials over
// T steps, time-major column blocks (column t*B + b is trial b at step t).
#include "ctd/core/host.hpp"

namespace ctd {

template <class S>
struct SequenceBatch {
  HostMatrix<S> inputs;   // (u x T*B)
  HostMatrix<S> targets;  // (o x T*B)
  HostMatrix<S> mask;     // (o x T*B), 1 where the loss looks
  Index steps = 0;
  Index trials = 0;
};

}  // namespace ctd
