#pragma once
// Trials of spike counts on the host, (trials, T, neurons) row-major as the
// files hold them, and the batches LFADS reads from them: (neurons x T*B)
// time-major column blocks.
#include <string>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"

namespace ctd {

template <class S>
struct SpikeTrials {
  Index trials = 0, steps = 0, neurons = 0;
  std::vector<S> counts;  // [trial][t][neuron]

  SpikeTrials() = default;
  SpikeTrials(Index n, Index T, Index d, std::vector<S> values)
      : trials(n), steps(T), neurons(d), counts(std::move(values)) {
    require(Index(counts.size()) == n * T * d, "spike trials: " + std::to_string(counts.size()) +
                                                   " counts for (" + std::to_string(n) + ", " + std::to_string(T) +
                                                   ", " + std::to_string(d) + ")");
  }

  S at(Index trial, Index t, Index neuron) const { return counts[std::size_t((trial * steps + t) * neurons + neuron)]; }

  // Trials [first, first + count) as their own set.
  SpikeTrials slice(Index first, Index count) const {
    require(first >= 0 && count >= 0 && first + count <= trials, "spike trials: slice out of range");
    const auto per = std::size_t(steps * neurons);
    return {count, steps, neurons,
            std::vector<S>(counts.begin() + std::ptrdiff_t(first * per), counts.begin() + std::ptrdiff_t((first + count) * per))};
  }

  // The batch of the listed trials, each repeated `copies` times in a row
  // (column t*B + k*copies + c is copy c of ids[k] at time t).
  void gather(const std::vector<Index>& ids, Index copies, HostMatrix<S>& batch) const {
    const Index B = Index(ids.size()) * copies;
    batch.resize(neurons, steps * B);
    for (Index k = 0; k < Index(ids.size()); ++k)
      for (Index t = 0; t < steps; ++t)
        for (Index c = 0; c < copies; ++c)
          for (Index d = 0; d < neurons; ++d) batch(d, t * B + k * copies + c) = at(ids[std::size_t(k)], t, d);
  }
};

}  // namespace ctd
