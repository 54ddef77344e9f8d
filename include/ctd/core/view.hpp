#pragma once
// Non-owning views of column-major matrices in some backend's memory.
//
// The whole library stores matrices column-major (as Eigen and cuBLAS do).
// Batches of trials are matrices whose columns are trials, so a state batch
// is (n x B) and a sequence of T batches is (n x T*B) with time step t in
// columns [t*B, (t+1)*B): every time step is a contiguous block of columns.
// Files are row-major; io/ converts at the boundary.
//
// MatrixView<S> derives from the read-only MatrixView<const S>, so a
// writable view goes wherever a read-only one is expected — also into
// function templates that deduce S, where a conversion operator would not.
#include <cassert>

#include "ctd/core/types.hpp"

namespace ctd {

template <class S>
struct MatrixView;

template <class S>
struct MatrixView<const S> {
  const S* data = nullptr;
  Index rows = 0;
  Index cols = 0;
  Index ld = 0;  // leading dimension: distance between column starts

  MatrixView() = default;
  MatrixView(const S* d, Index r, Index c) : data(d), rows(r), cols(c), ld(r) {}
  MatrixView(const S* d, Index r, Index c, Index l) : data(d), rows(r), cols(c), ld(l) {}

  Index size() const { return rows * cols; }
  bool empty() const { return data == nullptr; }
  // Columns [first, first+count): e.g. one time step of a sequence batch.
  MatrixView col_block(Index first, Index count) const {
    assert(first >= 0 && count >= 0 && first + count <= cols);
    return {data + first * ld, rows, count, ld};
  }
  // Rows [first, first+count): e.g. the r and u halves of the GRU gates.
  MatrixView row_block(Index first, Index count) const {
    assert(first >= 0 && count >= 0 && first + count <= rows);
    return {data + first, count, cols, ld};
  }
};

template <class S>
struct MatrixView : MatrixView<const S> {
  S* data = nullptr;  // the same address as the base's, writable

  MatrixView() = default;
  MatrixView(S* d, Index r, Index c) : MatrixView<const S>(d, r, c), data(d) {}
  MatrixView(S* d, Index r, Index c, Index l) : MatrixView<const S>(d, r, c, l), data(d) {}

  MatrixView col_block(Index first, Index count) const {
    assert(first >= 0 && count >= 0 && first + count <= this->cols);
    return {data + first * this->ld, this->rows, count, this->ld};
  }
  MatrixView row_block(Index first, Index count) const {
    assert(first >= 0 && count >= 0 && first + count <= this->rows);
    return {data + first, count, this->cols, this->ld};
  }
};

template <class S>
using ConstView = MatrixView<const S>;

}  // namespace ctd
