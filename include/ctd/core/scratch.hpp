#pragma once
// Temporary matrices that a caller keeps across calls of a function that
// needs them (the cells' Jacobians, say): slot k is sized on demand and its
// allocation reused, so a repeated call neither allocates nor faults in
// fresh pages. The functions themselves stay stateless.
#include <cstddef>
#include <vector>

#include "ctd/core/matrix.hpp"

namespace ctd {

template <class B, class S>
class Scratch {
 public:
  // Slot `slot` as a (rows x cols) view; its contents are unspecified.
  MatrixView<S> get(std::size_t slot, Index rows, Index cols) {
    if (slot >= slots_.size()) slots_.resize(slot + 1);
    slots_[slot].resize(rows, cols);
    return slots_[slot].view();
  }

 private:
  std::vector<Matrix<B, S>> slots_;  // a move keeps each slot's memory in place
};

}  // namespace ctd
