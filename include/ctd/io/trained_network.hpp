#pragma once
// A trained network of the supervised tutorials read from an HDF5 file in
// their layout (what integrator_rnn and decision_gru write, and what the
// Python tutorials save): the cell type follows from the keys,
//   GRU          h0 wRUHX wCHX bRU bC wO bO
//   vanilla RNN  h0 wI wR bR wO bO
//   LSTM         h0 c0 wIFGOHX bIFGO wO bO
// and every shape must agree with the sizes n, u, o that h0, the input
// columns and wO imply. Unknown, missing or inconsistent keys are a
// ctd::Error naming the file and the key.
#include <string>
#include <vector>

#include "ctd/cells/gru.hpp"
#include "ctd/cells/lstm.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/core/error.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/parameters_io.hpp"
#include "ctd/train/rnn_regressor.hpp"

namespace ctd::io {

enum class CellType { vanilla, gru, lstm };

inline const char* cell_type_name(CellType c) {
  return c == CellType::gru ? "GRU" : c == CellType::lstm ? "LSTM" : "vanilla RNN";
}

struct NetworkShape {
  CellType cell = CellType::gru;
  Index state_size = 0;   // n: the units (an LSTM's state has 2n rows)
  Index input_size = 0;   // u
  Index output_size = 0;  // o

  // Names and shapes of the parameters: the cell's, then the readout.
  template <class B, class S>
  std::vector<ParamSpec> specs() const {
    switch (cell) {
      case CellType::gru: return RnnRegressor<GruCell, B, S>::specs(state_size, input_size, output_size);
      case CellType::lstm: return RnnRegressor<LstmCell, B, S>::specs(state_size, input_size, output_size);
      default: return RnnRegressor<VanillaRnnCell, B, S>::specs(state_size, input_size, output_size);
    }
  }
};

namespace detail {

// Extent `dim` of a key's shape, after checking its rank.
inline Index extent(const Dict& dict, const std::string& key, std::size_t rank, std::size_t dim) {
  const auto& shape = dict.at(key).shape;
  require(shape.size() == rank, dict.source() + ": key '" + key + "': expected a rank-" + std::to_string(rank) +
                                    " array, found shape " + shape_str(shape));
  return Index(shape[dim]);
}

}  // namespace detail

// The cell type and sizes of the network in `dict`; the key set must be
// exactly the cell's.
inline NetworkShape network_shape(const Dict& dict) {
  const auto keys_of = [](const auto& names) {
    std::vector<std::string> keys(names.begin(), names.end());
    keys.insert(keys.end(), {"wO", "bO"});
    return keys;
  };
  const std::vector<std::string> gru_keys = keys_of(gru_tensor_names);
  const std::vector<std::string> lstm_keys = keys_of(lstm_tensor_names);
  const std::vector<std::string> vanilla_keys = keys_of(vanilla_tensor_names);
  NetworkShape net;
  if (dict.contains("wRUHX") || dict.contains("wCHX"))
    net.cell = CellType::gru;
  else if (dict.contains("wIFGOHX") || dict.contains("c0"))
    net.cell = CellType::lstm;
  else if (dict.contains("wR") || dict.contains("wI"))
    net.cell = CellType::vanilla;
  else
    throw Error(dict.source() + ": cannot tell the cell type: a GRU file holds " + detail::join(gru_keys) +
                ", a vanilla RNN file " + detail::join(vanilla_keys) + ", an LSTM file " + detail::join(lstm_keys) +
                "; keys present: " + detail::join(dict.keys()));
  const auto& expected =
      net.cell == CellType::gru ? gru_keys : net.cell == CellType::lstm ? lstm_keys : vanilla_keys;
  for (const auto& key : expected) dict.at(key);  // names a missing key, or a group in its place
  dict.refuse_keys_outside(expected, std::string("a parameter of a ") + cell_type_name(net.cell));
  net.state_size = detail::extent(dict, "h0", 1, 0);
  // The input columns: all of wI, or those after the hidden ones of the
  // GRU's and LSTM's [hidden, input] weights.
  net.input_size = net.cell == CellType::gru    ? detail::extent(dict, "wRUHX", 2, 1) - net.state_size
                   : net.cell == CellType::lstm ? detail::extent(dict, "wIFGOHX", 2, 1) - net.state_size
                                                : detail::extent(dict, "wI", 2, 1);
  net.output_size = detail::extent(dict, "wO", 2, 0);
  require(net.state_size > 0 && net.input_size > 0 && net.output_size > 0,
          dict.source() + ": the network's sizes must be positive, got n = " + std::to_string(net.state_size) +
              ", u = " + std::to_string(net.input_size) + ", o = " + std::to_string(net.output_size) +
              " (from h0, the input columns and wO)");
  return net;
}

// Loads the parameters of a network of this shape: every key's shape is
// checked against n, u, o and every value for finiteness.
template <class B, class S>
Parameters<B, S> load_network(typename B::context& ctx, const Dict& dict, const NetworkShape& net) {
  Parameters<B, S> params(net.specs<B, S>());
  load_parameters(ctx, dict, params);
  return params;
}

}  // namespace ctd::io
