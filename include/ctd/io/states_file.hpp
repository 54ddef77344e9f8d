#pragma once
// Network states stored as numpy holds them — one state per row, (N, n),
// or hidden states of trials over time, (B, T, n), taken trial by trial —
// read into an (n x N) column-per-state matrix, e.g. the candidates of the
// fixed-point finder.
#include <string>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/io/h5_dict.hpp"

namespace ctd::io {

template <class S>
HostMatrix<S> read_states(const Dict& dict, const std::string& key, Index state_size) {
  const auto& shape = dict.at(key).shape;
  const std::string where = dict.source() + ": key '" + key + "'";
  require(shape.size() == 2 || shape.size() == 3,
          where + ": expected states of shape (N, n) or (B, T, n), found " + detail::shape_str(shape));
  require(Index(shape.back()) == state_size, where + ": the states have dimension " + std::to_string(shape.back()) +
                                                 " but the network has " + std::to_string(state_size) + " units");
  const std::vector<S> values = dict.get<S>(key, shape);  // checks finiteness
  const Index count = Index(values.size()) / state_size;
  require(count > 0, where + ": holds no states");
  return Eigen::Map<const HostMatrix<S>>(values.data(), state_size, count);
}

}  // namespace ctd::io
