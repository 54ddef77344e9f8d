#pragma once
// lfads-torch's files. Its data files hold, per split (train, valid),
//   {split}_encod_data  (trials, Te, held-in neurons): what the encoder reads
//   {split}_recon_data  (trials, T >= Te, held-in + held-out neurons): what
//                       the log-rates reconstruct (optional: the encod data)
//   {split}_ext_input   (trials, T, inputs): measured inputs (optional)
//   {split}_truth       (trials, T, recon neurons): true rates (optional)
//   {split}_behavior    (trials, T, channels): e.g. hand velocity, for the
//                       NLB's decoding R^2 (optional; NaN: not scored)
//   {split}_inds        (trials): the trials' indices (optional)
// and other keys, which are left alone. Its
// posterior files (run_posterior_sampling) hold {split}_{output_params,
// factors, ic_mean, ic_std, co_means, co_stds, gen_states, gen_init,
// gen_inputs, con_states}, time series as (trials, T, dim), the rest
// (trials, dim).
#include <cmath>
#include <filesystem>
#include <string>
#include <vector>

#include "ctd/io/h5_dict.hpp"
#include "ctd/lfads/posterior.hpp"
#include "ctd/lfads/trials.hpp"

namespace ctd::io {

template <class S>
struct LfadsTorchSplit {
  LfadsData<S> data;
  TrialArray<S> truth;              // empty when the file has none
  TrialArray<S> behavior;           // empty when the file has none
  std::vector<std::int64_t> inds;   // empty when the file has none
};

template <class S>
struct LfadsTorchData {
  LfadsTorchSplit<S> train, valid;
};

namespace lfads_torch_detail {

// A (trials, bins, dim) array under key; NaN only where `nan_allowed`
// (trial, t, d) says a missing value may be; counts are non-negative.
template <class S, class NanAllowed>
TrialArray<S> read_trials(const Dict& d, const std::string& key, const std::vector<std::size_t>& shape,
                          bool counts, NanAllowed&& nan_allowed) {
  const Array& a = d.at(key);
  require(a.shape.size() == 3 && a.size() > 0,
          d.source() + ": key '" + key + "': expected a non-empty (trials, bins, dim) array, found shape " +
              detail::shape_str(a.shape));
  std::vector<S> v = d.get<S>(key, shape, NonFinite::allow_nan);
  const Index T = Index(a.shape[1]), D = Index(a.shape[2]);
  for (std::size_t i = 0; i < v.size(); ++i) {
    // This loop sees every value: the common one costs two comparisons.
    const bool nan = std::isnan(v[i]), negative = counts && v[i] < 0;
    if (!nan && !negative) continue;
    const Index trial = Index(i) / (T * D), t = Index(i) / D % T, n = Index(i) % D;
    const auto at = [&] {
      return " at flat index " + std::to_string(i) + " (trial " + std::to_string(trial) + ", bin " +
             std::to_string(t) + ", neuron " + std::to_string(n) + ")";
    };
    if (nan && !nan_allowed(t, n))
      throw Error(d.source() + ": key '" + key + "': NaN" + at() +
                  ", where a value is needed (NaN may only mark held-out neurons or forward bins of the valid split)");
    if (negative)
      throw Error(d.source() + ": key '" + key + "': negative count " + std::to_string(v[i]) + at());
  }
  return {Index(a.shape[0]), T, D, std::move(v)};
}

template <class S>
LfadsTorchSplit<S> read_split(const Dict& d, const std::string& split, const LfadsTorchSplit<S>* train) {
  const auto key = [&](const char* name) { return split + "_" + name; };
  const auto never = [](Index, Index) { return false; };
  // The valid split must match the train split's bins and neurons.
  const auto dims = [&](const TrialArray<S>* of) {
    return std::vector<std::size_t>{any_dim, of ? std::size_t(of->steps) : any_dim,
                                    of ? std::size_t(of->dim) : any_dim};
  };
  TrialArray<S> encod = read_trials<S>(d, key("encod_data"), dims(train ? &train->data.encod : nullptr), true, never);
  const auto n = std::size_t(encod.trials);
  TrialArray<S> recon;
  if (d.contains(key("recon_data"))) {
    std::vector<std::size_t> shape = dims(train ? &train->data.recon : nullptr);
    shape[0] = n;
    // Held-out neurons and forward bins of evaluation trials may be unknown.
    const auto missing = [&](Index t, Index neuron) {
      return split == "valid" && (t >= encod.steps || neuron >= encod.dim);
    };
    recon = read_trials<S>(d, key("recon_data"), shape, true, missing);
    require(recon.steps >= encod.steps && recon.dim >= encod.dim,
            d.source() + ": key '" + key("recon_data") + "': expected at least the encoder's " +
                std::to_string(encod.steps) + " bins and " + std::to_string(encod.dim) + " neurons, found (" +
                LfadsData<S>::shape(recon) + ")");
  }
  require(train == nullptr || train->data.recon.empty() == recon.empty(),
          d.source() + ": key '" + key("recon_data") + "': the train and valid splits must both have it or both not");
  const Index T = recon.empty() ? encod.steps : recon.steps, D = recon.empty() ? encod.dim : recon.dim;
  TrialArray<S> ext;
  if (d.contains(key("ext_input")))
    ext = read_trials<S>(d, key("ext_input"),
                         {n, std::size_t(T), train ? std::size_t(train->data.ext_dim()) : any_dim}, false,
                         never);
  require(train == nullptr || train->data.ext.empty() == ext.empty(),
          d.source() + ": key '" + key("ext_input") + "': the train and valid splits must both have it or both not");
  LfadsTorchSplit<S> out{LfadsData<S>(std::move(encod), std::move(recon), std::move(ext)), {}, {}, {}};
  if (d.contains(key("truth")))
    out.truth = read_trials<S>(d, key("truth"), {n, std::size_t(T), std::size_t(D)}, true, never);
  if (d.contains(key("behavior")))
    out.behavior = read_trials<S>(
        d, key("behavior"), {n, std::size_t(T), train ? std::size_t(train->behavior.dim) : any_dim}, false,
        [](Index, Index) { return true; });
  require(train == nullptr || train->behavior.empty() == out.behavior.empty(),
          d.source() + ": key '" + key("behavior") + "': the train and valid splits must both have it or both not");
  if (d.contains(key("inds"))) out.inds = d.get<std::int64_t>(key("inds"), {n});
  return out;
}

}  // namespace lfads_torch_detail

template <class S>
LfadsTorchData<S> read_lfads_torch_data(const std::filesystem::path& file) {
  const Dict d = read_h5(file);
  LfadsTorchData<S> out;
  out.train = lfads_torch_detail::read_split<S>(d, "train", nullptr);
  out.valid = lfads_torch_detail::read_split<S>(d, "valid", &out.train);
  return out;
}

// The posterior averages of both splits in lfads-torch's layout (float32).
template <class S>
void write_lfads_torch_output(const std::filesystem::path& file, const LfadsPosterior<S>& train,
                              const LfadsPosterior<S>& valid) {
  Dict d;
  for (const auto& [split, post] : {std::pair{"train", &train}, std::pair{"valid", &valid}}) {
    const auto n = std::size_t(post->trials), T = std::size_t(post->steps);
    const auto put = [&, split = std::string(split)](const char* name, const HostMatrix<S>& m, bool series) {
      std::vector<std::size_t> shape{n};
      if (series) shape.push_back(T);
      shape.push_back(std::size_t(m.rows()));
      d.set<float>(split + "_" + name, shape, std::vector<float>(m.data(), m.data() + m.size()));
    };
    put("output_params", post->rates, true);
    put("factors", post->factors, true);
    put("ic_mean", post->ic_mean, false);
    put("ic_std", post->ic_std, false);
    put("co_means", post->ii_mean, true);
    put("co_stds", post->ii_std, true);
    put("gen_states", post->gen_states, true);
    put("gen_init", post->gen_init, false);
    put("gen_inputs", post->gen_inputs, true);
    put("con_states", post->con_states, true);
  }
  write_h5(file, d);
}

}  // namespace ctd::io
