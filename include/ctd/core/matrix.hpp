#pragma once
// Owning column-major matrix in a backend's memory (RAII, move-only).
//
// Memory comes zero-filled from Backend::allocate and is released by
// Backend::deallocate; resize() reuses the allocation when it is big enough,
// so workspaces sized once per shape never allocate inside a time loop.
#include <utility>

#include "ctd/core/view.hpp"

namespace ctd {

template <class B, class S>
class Matrix {
 public:
  using backend = B;
  using scalar = S;

  Matrix() = default;
  Matrix(Index rows, Index cols) { resize(rows, cols); }
  Matrix(const Matrix&) = delete;
  Matrix& operator=(const Matrix&) = delete;
  Matrix(Matrix&& o) noexcept { swap(o); }
  Matrix& operator=(Matrix&& o) noexcept {
    Matrix tmp(std::move(o));
    swap(tmp);
    return *this;
  }
  ~Matrix() { B::deallocate(data_); }

  // Contents are unspecified after a resize that changes the shape.
  void resize(Index rows, Index cols) {
    if (rows * cols > capacity_) {
      B::deallocate(data_);
      data_ = nullptr;
      capacity_ = 0;
      data_ = B::template allocate<S>(rows * cols);
      capacity_ = rows * cols;
    }
    rows_ = rows;
    cols_ = cols;
  }

  Index rows() const { return rows_; }
  Index cols() const { return cols_; }
  Index size() const { return rows_ * cols_; }
  S* data() { return data_; }
  const S* data() const { return data_; }

  MatrixView<S> view() { return {data_, rows_, cols_, rows_}; }
  ConstView<S> view() const { return {data_, rows_, cols_, rows_}; }
  operator MatrixView<S>() { return view(); }
  operator ConstView<S>() const { return view(); }
  MatrixView<S> col_block(Index first, Index count) { return view().col_block(first, count); }
  ConstView<S> col_block(Index first, Index count) const { return view().col_block(first, count); }

  void swap(Matrix& o) noexcept {
    std::swap(data_, o.data_);
    std::swap(rows_, o.rows_);
    std::swap(cols_, o.cols_);
    std::swap(capacity_, o.capacity_);
  }

 private:
  S* data_ = nullptr;
  Index rows_ = 0, cols_ = 0, capacity_ = 0;
};

}  // namespace ctd
