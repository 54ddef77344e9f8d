#pragma once
// How independent work (the trials of a batch, the rows of a weight
// gradient, the points of a Jacobian batch) is split over a backend's
// shards.
#include <algorithm>

#include "ctd/core/types.hpp"

namespace ctd {

// Splits [0, total) into near-equal ranges, one per shard of the backend,
// and calls f(first, count) for each, in parallel. Trials are independent
// through a whole sequence, so a shard runs its trials through every time
// step without waiting for the others; weight gradients split by rows.
template <class B, class F>
void for_each_shard(typename B::context& ctx, Index total, F&& f) {
  const Index shards = std::max<Index>(1, std::min<Index>(B::shards(ctx), total));
  B::parallel_for(ctx, shards, [&](Index k) {
    const Index base = total / shards, extra = total % shards;
    f(k * base + std::min(k, extra), base + (k < extra ? 1 : 0));
  });
}

}  // namespace ctd
