#pragma once
// What the CUDA tests share: the same numbers in CPU and GPU memory, and
// norm-wise relative differences between the two backends' results.
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/backend/cuda/cuda.hpp"
#include "ctd/core/host.hpp"
#include "gradient_check.hpp"

namespace ctd_test {

using ctd::ConstView;
using ctd::cpu;
using ctd::cuda;
using ctd::HostMatrix;
using ctd::Index;
using ctd::Matrix;
using ctd::MatrixView;

// |a - b| / max(|a|, |b|) in the Frobenius norm: gradient_check.hpp's
// measure, for results in either scalar.
template <class S>
double relative_difference(const HostMatrix<S>& a, const HostMatrix<S>& b) {
  return ctd::testing::relative_error(a.template cast<double>(), b.template cast<double>());
}

// One matrix with identical contents on both backends, seen through a view
// that starts at row 1 of a taller parent: the view's leading dimension is
// not its row count, and the parent's rows outside the view must come out
// of every operation untouched (compared() checks the whole parent).
template <class S>
class Twin {
 public:
  Twin(ctd::CudaContext& gpu, ctd::Rng& rng, Index rows, Index cols, S scale = S(1))
      : rows_(rows), cols_(cols) {
    const HostMatrix<S> values = ctd::random_normal<S>(rng, rows + padding, cols, scale);
    on_cpu_ = ctd::upload<cpu, S>(cpu_context_, values);
    on_gpu_ = ctd::upload<cuda, S>(gpu, values);
  }
  // Sets the view's entries on both backends (the padding keeps its values).
  void set(ctd::CudaContext& gpu, const HostMatrix<S>& values) {
    ctd::upload<cpu, S>(cpu_context_, values, cpu_view());
    ctd::upload<cuda, S>(gpu, values, gpu_view());
  }

  MatrixView<S> cpu_view() { return on_cpu_.view().row_block(1, rows_); }
  MatrixView<S> gpu_view() { return on_gpu_.view().row_block(1, rows_); }
  HostMatrix<S> gpu_parent(ctd::CudaContext& gpu) const { return ctd::download<cuda, S>(gpu, on_gpu_.view()); }
  HostMatrix<S> cpu_parent() const { return ctd::download<cpu, S>(cpu_context_, on_cpu_.view()); }
  // The relative difference of the two parents.
  double compared(ctd::CudaContext& gpu) const { return relative_difference(gpu_parent(gpu), cpu_parent()); }

 private:
  static constexpr Index padding = 3;  // rows: one above the view, two below
  mutable cpu::context cpu_context_;
  Index rows_, cols_;
  Matrix<cpu, S> on_cpu_;
  Matrix<cuda, S> on_gpu_;
};

// Tolerances for single operations: a few roundings of the scalar type.
template <class S>
constexpr double op_tolerance = sizeof(S) == 4 ? 1e-5 : 1e-13;

}  // namespace ctd_test
