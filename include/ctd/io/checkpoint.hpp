#pragma once
// Training checkpoints: parameters, Adam's moments and step, the data
// generator's position and the loss history, in one HDF5 file written
// atomically (temporary file, then rename — write_h5 does that), so a run
// killed at any moment resumes from the last complete checkpoint.
#include <cstdint>
#include <filesystem>
#include <vector>

#include "ctd/core/rng.hpp"
#include "ctd/io/parameters_io.hpp"
#include "ctd/train/adam.hpp"

namespace ctd::io {

struct TrainingState {
  Index step = 0;          // optimisation steps done
  Rng rng;                 // the batch generator, positioned after `step`
  std::vector<double> loss_history;
};

template <class B, class S>
void save_checkpoint(typename B::context& ctx, const std::filesystem::path& file,
                     Parameters<B, S>& params, Adam<B, S>& adam, const TrainingState& state) {
  Dict dict;
  save_parameters(ctx, params, dict, "params/");
  const std::size_t total = static_cast<std::size_t>(params.total_size());
  dict.set("adam/m", to_array(download<B, S>(ctx, adam.first_moment().view()), {total}));
  dict.set("adam/v", to_array(download<B, S>(ctx, adam.second_moment().view()), {total}));
  dict.set<std::int64_t>("step", {}, {std::int64_t(state.step)});
  dict.set<std::int64_t>("adam/step", {}, {std::int64_t(adam.step())});
  // Seeds are 64-bit unsigned; stored bit for bit in int64.
  dict.set<std::int64_t>("rng", {2}, {std::int64_t(state.rng.seed), std::int64_t(state.rng.counter)});
  dict.set<double>("loss_history", {state.loss_history.size()}, state.loss_history);
  write_h5(file, dict);
}

template <class B, class S>
TrainingState load_checkpoint(typename B::context& ctx, const std::filesystem::path& file,
                              Parameters<B, S>& params, Adam<B, S>& adam) {
  const Dict dict = read_h5(file);
  load_parameters(ctx, dict, params, "params/");
  const Index total = params.total_size();
  upload<B, S>(ctx, get_matrix<S>(dict, "adam/m", total, 1, true), adam.first_moment().view());
  upload<B, S>(ctx, get_matrix<S>(dict, "adam/v", total, 1, true), adam.second_moment().view());
  adam.set_step(Index(dict.get<std::int64_t>("adam/step", {})[0]));
  TrainingState state;
  state.step = Index(dict.get<std::int64_t>("step", {})[0]);
  const auto rng = dict.get<std::int64_t>("rng", {2});
  state.rng.seed = std::uint64_t(rng[0]);
  state.rng.counter = std::uint64_t(rng[1]);
  state.loss_history = dict.get<double>("loss_history", {any_dim});
  return state;
}

}  // namespace ctd::io
