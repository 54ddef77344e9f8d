#pragma once
// Host-side matrices are Eigen matrices (column-major, like the library).
// These helpers move them to and from a backend.
#include <Eigen/Core>

#include "ctd/core/error.hpp"
#include "ctd/core/matrix.hpp"
#include "ctd/core/rng.hpp"

namespace ctd {

template <class S>
using HostMatrix = Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic>;

// scale * N(0,1) draws, column by column.
template <class S>
HostMatrix<S> random_normal(Rng& rng, Index rows, Index cols, S scale) {
  HostMatrix<S> m(rows, cols);
  for (Index j = 0; j < cols; ++j)
    for (Index i = 0; i < rows; ++i) m(i, j) = scale * static_cast<S>(rng.normal());
  return m;
}

template <class B, class S>
Matrix<B, S> upload(typename B::context& ctx, const HostMatrix<S>& host) {
  Matrix<B, S> m(host.rows(), host.cols());
  B::copy_from_host(ctx, host.data(), m.view());
  return m;
}

template <class B, class S>
void upload(typename B::context& ctx, const HostMatrix<S>& host, MatrixView<S> dst) {
  require(host.rows() == dst.rows && host.cols() == dst.cols, "upload: host and device shapes differ");
  B::copy_from_host(ctx, host.data(), dst);
}

template <class B, class S>
HostMatrix<S> download(typename B::context& ctx, ConstView<S> src) {
  HostMatrix<S> host(src.rows, src.cols);
  B::copy_to_host(ctx, src, host.data());
  return host;
}

}  // namespace ctd
