#pragma once
// The chaotic teacher of the FORCE tutorial (SPEC §1c): a more chaotic ESN
// (g = 1.8), with its own random readout and feedback, runs from its random
// a0 with zero input; the targets are its first m hidden units h_t[0:m]
// after each of the steps.
#include <string>

#include "ctd/cells/esn.hpp"
#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/core/rng.hpp"

namespace ctd {

struct ChaoticTeacherOptions {
  Index n = 500;             // teacher reservoir size
  Index outputs = 20;        // m: targets are h[0:m]; also the teacher's readout size
  double g = 1.8;            // teacher gain
  double dt_over_tau = 0.1;
  Index steps = 300;         // T = 30 at dt = 0.1
};

// Draws the teacher from rng (EsnCell::initialize with u = 1) and returns
// the targets (m x steps), column t = h after step t+1.
template <class B, class S>
HostMatrix<S> chaotic_teacher_targets(typename B::context& ctx, Rng& rng, const ChaoticTeacherOptions& opt = {}) {
  require(opt.outputs > 0 && opt.outputs <= opt.n,
          "chaotic teacher: outputs (m) must be in [1, n = " + std::to_string(opt.n) + "], got " +
              std::to_string(opt.outputs));
  require(opt.steps > 0, "chaotic teacher: steps must be positive, got " + std::to_string(opt.steps));
  const Index u = 1;
  const EsnCell<B, S> teacher(opt.n, u, opt.outputs, S(opt.dt_over_tau));
  Parameters<B, S> params(EsnCell<B, S>::specs(opt.n, u, opt.outputs));
  const auto w = bind_values<EsnCell<B, S>>(params);
  typename EsnCell<B, S>::Init init;
  init.g = S(opt.g);
  EsnCell<B, S>::initialize(ctx, w, rng, init);
  auto state = teacher.make_state(ctx, 1);
  Matrix<B, S> targets(opt.outputs, opt.steps);
  teacher.reset(ctx, w, state);
  for (Index t = 0; t < opt.steps; ++t) {
    teacher.step(ctx, w, ConstView<S>{}, state);
    B::copy(ctx, state.h.view().row_block(0, opt.outputs), targets.col_block(t, 1));
  }
  return download<B, S>(ctx, targets.view());
}

}  // namespace ctd
