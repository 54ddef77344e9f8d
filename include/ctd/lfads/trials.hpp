#pragma once
// Trials on the host, (trials, T, dim) row-major as the files hold them, and
// the data sets LFADS reads: what the encoder sees, what the log-rates must
// reconstruct (more neurons: held-out; more bins: forward prediction) and
// measured inputs, as lfads-torch's files hold them.
#include <string>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/lfads/config.hpp"

namespace ctd {

template <class S>
struct TrialArray {
  Index trials = 0, steps = 0, dim = 0;
  std::vector<S> values;  // [trial][t][dim]

  TrialArray() = default;
  TrialArray(Index n, Index T, Index d, std::vector<S> v) : trials(n), steps(T), dim(d), values(std::move(v)) {
    require(Index(values.size()) == n * T * d, "trial array: " + std::to_string(values.size()) + " values for (" +
                                                   std::to_string(n) + ", " + std::to_string(T) + ", " +
                                                   std::to_string(d) + ")");
  }

  bool empty() const { return values.empty(); }
  S at(Index trial, Index t, Index d) const { return values[std::size_t((trial * steps + t) * dim + d)]; }

  // Trials [first, first + count) as their own array.
  TrialArray slice(Index first, Index count) const {
    require(first >= 0 && count >= 0 && first + count <= trials, "trial array: slice out of range");
    const auto per = std::size_t(steps * dim);
    return {count, steps, dim,
            std::vector<S>(values.begin() + std::ptrdiff_t(first * per),
                           values.begin() + std::ptrdiff_t((first + count) * per))};
  }

  // The batch of the listed trials, each repeated `copies` times in a row,
  // as (dim x T*B) time-major column blocks (column t*B + k*copies + c is
  // copy c of ids[k] at time t).
  void gather(const std::vector<Index>& ids, Index copies, HostMatrix<S>& batch) const {
    const Index B = Index(ids.size()) * copies;
    batch.resize(dim, steps * B);
    for (Index k = 0; k < Index(ids.size()); ++k)
      for (Index t = 0; t < steps; ++t)
        for (Index c = 0; c < copies; ++c)
          for (Index d = 0; d < dim; ++d) batch(d, t * B + k * copies + c) = at(ids[std::size_t(k)], t, d);
  }
};

// One LFADS data set (a split). Without recon, the encoder's spikes are
// what the model reconstructs (the tutorial); without ext, there are no
// measured inputs.
template <class S>
struct LfadsData {
  TrialArray<S> encod;  // (trials, encoder bins, held-in neurons)
  TrialArray<S> recon;  // (trials, bins, held-in + held-out neurons)
  TrialArray<S> ext;    // (trials, bins, inputs)

  LfadsData() = default;
  explicit LfadsData(TrialArray<S> spikes, TrialArray<S> reconstruct = {}, TrialArray<S> inputs = {})
      : encod(std::move(spikes)), recon(std::move(reconstruct)), ext(std::move(inputs)) {
    require(recon.empty() || (recon.trials == encod.trials && recon.steps >= encod.steps && recon.dim >= encod.dim),
            "LFADS data: the reconstruction data (" + shape(recon) + ") must have the encoder data's trials and at "
            "least its bins and neurons (" + shape(encod) + ")");
    require(ext.empty() || (ext.trials == encod.trials && ext.steps == steps()),
            "LFADS data: the external inputs (" + shape(ext) + ") must have " + std::to_string(encod.trials) +
                " trials of " + std::to_string(steps()) + " bins");
  }

  Index trials() const { return encod.trials; }
  Index encod_steps() const { return encod.steps; }
  Index steps() const { return recon.empty() ? encod.steps : recon.steps; }
  Index recon_dim() const { return recon.empty() ? encod.dim : recon.dim; }
  Index ext_dim() const { return ext.empty() ? 0 : ext.dim; }
  const TrialArray<S>& targets() const { return recon.empty() ? encod : recon; }

  // That a model of config c reads this data; `what` names it in errors.
  void require_fits(const LfadsConfig& c, const std::string& what) const {
    const auto check = [&](Index have, Index want, const char* name) {
      require(have == want, what + ": " + std::to_string(have) + " " + name + ", the model " + std::to_string(want));
    };
    check(encod.dim, c.data_dim, "neurons in the encoder's data");
    check(recon_dim(), c.readout_dim(), "neurons to reconstruct");
    check(ext_dim(), c.ext_input_dim, "external inputs");
    require(c.ic_steps(encod_steps()) <= encod_steps(), what + ": the IC window (" + std::to_string(c.ic_window) +
                                                            " bins) is longer than the encoder's " +
                                                            std::to_string(encod_steps()) + " bins");
  }

  LfadsData slice(Index first, Index count) const {
    const auto part = [&](const TrialArray<S>& a) { return a.empty() ? a : a.slice(first, count); };
    return LfadsData(part(encod), part(recon), part(ext));
  }

  static std::string shape(const TrialArray<S>& a) {
    return std::to_string(a.trials) + ", " + std::to_string(a.steps) + ", " + std::to_string(a.dim);
  }
};

}  // namespace ctd
