#pragma once
// Parameters <-> HDF5 dicts in the tutorials' layout: each tensor under its
// name, row-major with the tutorial's shape ((n, n+u) for wRUHX, (n,) for
// h0 and biases). The library is column-major, so every tensor is
// transposed at this boundary and nowhere else.
#include <string>
#include <vector>

#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/io/h5_dict.hpp"

namespace ctd::io {

// Row-major file shape of a parameter.
inline std::vector<std::size_t> file_shape(const ParamSpec& s) {
  if (s.vector) return {static_cast<std::size_t>(s.rows)};
  return {static_cast<std::size_t>(s.rows), static_cast<std::size_t>(s.cols)};
}

// A host matrix as a row-major array of the given shape.
template <class S>
Array to_array(const HostMatrix<S>& m, std::vector<std::size_t> shape) {
  Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor> row_major = m;
  return Array{std::move(shape), std::vector<S>(row_major.data(), row_major.data() + row_major.size())};
}
template <class S>
Array to_array(const HostMatrix<S>& m) {
  return to_array(m, {static_cast<std::size_t>(m.rows()), static_cast<std::size_t>(m.cols())});
}

// The (rows x cols) matrix stored under key, validated (shape, finiteness).
template <class S>
HostMatrix<S> get_matrix(const Dict& dict, const std::string& key, Index rows, Index cols,
                         bool stored_as_vector = false) {
  const std::vector<std::size_t> shape =
      stored_as_vector ? std::vector<std::size_t>{std::size_t(rows)}
                       : std::vector<std::size_t>{std::size_t(rows), std::size_t(cols)};
  const std::vector<S> values = dict.get<S>(key, shape);
  return Eigen::Map<const Eigen::Matrix<S, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>>(
      values.data(), rows, cols);
}

template <class B, class S>
void save_parameters(typename B::context& ctx, Parameters<B, S>& params, Dict& dict,
                     const std::string& prefix = "") {
  for (Index i = 0; i < static_cast<Index>(params.specs().size()); ++i) {
    const auto& spec = params.specs()[static_cast<std::size_t>(i)];
    dict.set(prefix + spec.name, to_array(download<B, S>(ctx, params.value(i)), file_shape(spec)));
  }
}

// Loads every parameter; a missing key, wrong shape or NaN names the file
// and key (Dict::get does the checking).
template <class B, class S>
void load_parameters(typename B::context& ctx, const Dict& dict, Parameters<B, S>& params,
                     const std::string& prefix = "") {
  for (Index i = 0; i < static_cast<Index>(params.specs().size()); ++i) {
    const auto& spec = params.specs()[static_cast<std::size_t>(i)];
    upload<B, S>(ctx, get_matrix<S>(dict, prefix + spec.name, spec.rows, spec.cols, spec.vector),
                 params.value(i));
  }
}

}  // namespace ctd::io
