#pragma once
// Work done the same way at every call, replayed where launching it costs:
// on a backend that records graphs (the CUDA backend, backend/cuda/graph.hpp)
// it runs eagerly on the first call, which sizes every buffer it touches, is
// recorded on the second and replayed with one launch from then on; on the
// CPU it simply runs. The work must touch the same buffers with the same
// shapes and scalars at every call, and return nothing to the host.
#include "ctd/core/types.hpp"

namespace ctd {

template <class B>
concept RecordsGraphs = requires(typename B::graph g, typename B::context& ctx) { g.launch(ctx); };

template <class B>
class Replayed {
 public:
  template <class Work>
  void operator()(typename B::context& ctx, Work&& work) {
    if constexpr (RecordsGraphs<B>) {
      if (calls_++ == 0) {
        work();
        return;
      }
      if (calls_ == 2) graph_.capture(ctx, work);
      graph_.launch(ctx);
    } else {
      work();
    }
  }

 private:
  template <class Backend>
  struct GraphOf {
    struct type {};
  };
  template <RecordsGraphs Backend>
  struct GraphOf<Backend> {
    using type = typename Backend::graph;
  };
  [[no_unique_address]] typename GraphOf<B>::type graph_;
  Index calls_ = 0;
};

}  // namespace ctd
