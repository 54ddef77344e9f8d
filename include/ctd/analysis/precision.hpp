#pragma once
// A copy of a model's parameters in another precision: Newton refinement and
// the eigen-decompositions run in double on a network trained in float.
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"

namespace ctd {

template <class T, class B, class S>
Parameters<B, T> cast_parameters(typename B::context& ctx, const Parameters<B, S>& params) {
  Parameters<B, T> out(params.specs());
  const HostMatrix<T> values = download<B, S>(ctx, params.values()).template cast<T>();
  B::copy_from_host(ctx, values.data(), out.values());
  return out;
}

}  // namespace ctd
