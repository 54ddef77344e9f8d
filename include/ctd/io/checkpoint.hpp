#pragma once
// Training checkpoints in one HDF5 file: parameters, Adam's moments and
// step, the data generator's position and the loss history, written
// atomically (temporary file, then rename — write_h5 does that), so a run
// killed at any moment resumes from the last complete checkpoint.
#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ctd/io/parameters_io.hpp"
#include "ctd/train/trainer.hpp"

namespace ctd::io {

template <class B, class S>
class CheckpointFile final : public CheckpointStore<B, S> {
 public:
  explicit CheckpointFile(std::filesystem::path file) : file_(std::move(file)) {}

  void save(typename B::context& ctx, Parameters<B, S>& params, Adam<B, S>& adam,
            const TrainingState& state) override {
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
    write_h5(file_, dict);
  }

  // Loads what save wrote, and only that: the keys must be exactly this
  // model's (another model's checkpoint is refused by name, not half
  // loaded), and the counters must agree with each other.
  TrainingState load(typename B::context& ctx, Parameters<B, S>& params, Adam<B, S>& adam) override {
    const Dict dict = read_h5(file_);
    std::vector<std::string> keys{"adam/m", "adam/v", "adam/step", "loss_history", "rng", "step"};
    for (const auto& spec : params.specs()) keys.push_back("params/" + spec.name);
    for (const auto& key : keys) dict.at(key);  // names a missing key
    dict.refuse_keys_outside(keys, "part of this model's checkpoint");
    load_parameters(ctx, dict, params, "params/");
    const Index total = params.total_size();
    upload<B, S>(ctx, get_matrix<S>(dict, "adam/m", total, 1, true), adam.first_moment().view());
    upload<B, S>(ctx, get_matrix<S>(dict, "adam/v", total, 1, true), adam.second_moment().view());
    TrainingState state;
    state.step = Index(dict.get<std::int64_t>("step", {})[0]);
    const std::string file = file_.string();
    require(state.step >= 0, file + ": key 'step': expected a step count >= 0, found " + std::to_string(state.step));
    // Adam takes one update per step, and the history has a loss per step.
    const Index adam_step = Index(dict.get<std::int64_t>("adam/step", {})[0]);
    require(adam_step == state.step, file + ": key 'adam/step': expected " + std::to_string(state.step) +
                                         " (the checkpoint's step), found " + std::to_string(adam_step));
    adam.set_step(adam_step);
    const auto rng = dict.get<std::int64_t>("rng", {2});
    state.rng.seed = std::uint64_t(rng[0]);
    state.rng.counter = std::uint64_t(rng[1]);
    state.loss_history = dict.get<double>("loss_history", {std::size_t(state.step)});
    return state;
  }

  bool exists() const override { return std::filesystem::exists(file_); }
  std::string describe() const override { return file_.string(); }
  const std::filesystem::path& path() const { return file_; }

 private:
  std::filesystem::path file_;
};

}  // namespace ctd::io
