#pragma once
// The one driver that owns time for every step cell: it projects the
// inputs (over all T steps in one GEMM, or step by step where the backend
// says so), runs the recurrent steps with the
// trials of a batch sharded over the backend's threads, and keeps what the
// backward pass needs in a tape that forward fills and backward consumes
// (tiny-cuda-nn's context), so two sequences can be in flight at once and
// one const cell serves them all. The backward pass sweeps time in reverse
// and then forms each weight gradient as one GEMM over all steps (what
// cuDNN does). A sequence runs forward in time or backward in time (the
// second half of a bidirectional encoder).
//
// Layout: inputs (u x T*B) and outputs (ns x T*B) are time-major column
// blocks (column t*B + b is trial b at time t); output block t is the state
// after the cell consumed input t, in either direction.
#include "ctd/cells/step_cell.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/core/shards.hpp"

namespace ctd {

enum class Direction { forward, backward };

// Gaussian noise on every new state, h' = F(h, x) + stddev N(0,1), for
// training under noise (the toy-language tutorial); any cell takes it. The
// backward pass differentiates F where it was evaluated, at the noisy
// states, as autodiff of F(h, x) + noise does: the noise adds no term.
template <class S>
struct StateNoise {
  S stddev = 0;
  Rng* rng = nullptr;  // the draws' source; no noise without one
  bool active() const { return stddev > 0 && rng != nullptr; }
};

// What forward keeps for backward; buffers are reused across calls.
template <class B, class S>
struct SequenceTape {
  Matrix<B, S> states;   // (ns x (T+1)*B), see Sequence::states_before
  Matrix<B, S> caches;   // (cache rows x T*B), block t for input t
  Matrix<B, S> noise;    // (ns x T*B), block t added after input t; empty without state noise
  Matrix<B, S> d_proj;   // (projection rows x T*B), filled by backward
  Matrix<B, S> scratch;  // (scratch rows x B)
  Matrix<B, S> clean;    // (ns x B): a step's output before its noise
  Matrix<B, S> d_first;  // (ns x B)
  Index steps = 0, batch = 0;
  bool given_initial = false;  // the batch brought its own initial states
  bool noisy = false;          // forward added state noise
};

// Where the gradients of a backward pass go. The cotangent of the initial
// states goes to `initial` when the batch brought its own initial states,
// else into the trained initial state's gradient (under weight_mode).
template <class Tensors, class S>
struct SequenceGradients {
  Tensors weights{};
  Grad weight_mode = Grad::ignore;
  MatrixView<S> inputs{};  // (u x T*B)
  Grad input_mode = Grad::ignore;
  MatrixView<S> initial{};  // (ns x B)
  Grad initial_mode = Grad::ignore;
};

template <StepCell Cell>
class Sequence {
 public:
  using B = typename Cell::backend;
  using S = typename Cell::scalar;
  using Tensors = typename Cell::Tensors;
  using Tape = SequenceTape<B, S>;
  using Gradients = SequenceGradients<Tensors, S>;

  explicit Sequence(const Cell& cell, Direction direction = Direction::forward)
      : cell_(cell), direction_(direction) {}
  const Cell& cell() const { return cell_; }

  // Runs T steps for B trials from `initial` (ns x B), or from the cell's
  // trained initial state when it is empty, with `noise` added to every new
  // state when it is active. Returns the outputs (ns x T*B).
  ConstView<S> forward(typename B::context& ctx, const Tensors& w, ConstView<S> inputs, ConstView<S> initial,
                       Index T, Index batch, Tape& tape, StateNoise<S> noise = {}) const {
    const Index ns = cell_.state_size();
    tape.steps = T;
    tape.batch = batch;
    tape.given_initial = !initial.empty();
    tape.noisy = noise.active();
    if (tape.noisy) {
      tape.noise.resize(ns, T * batch);
      B::fill_normal(ctx, tape.noise.view(), S(0), noise.stddev, *noise.rng);
    }
    tape.states.resize(ns, (T + 1) * batch);
    tape.caches.resize(cell_.cache_rows(), T * batch);
    const auto first = tape.states.col_block(initial_block(T) * batch, batch);
    if (tape.given_initial)
      B::copy(ctx, initial, first);
    else
      cell_.initial_state(ctx, w, first);
    const Index proj = cell_.projection_rows();
    if constexpr (!B::projects_per_step) cell_.project_inputs(ctx, w, inputs, tape.caches.view().row_block(0, proj));
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      const typename B::fixed_left_operands weights_fixed;
      for (Index k = 0; k < T; ++k) {
        const Index t = time_of(k, T);
        const auto next = states_after(tape, t).col_block(b0, bk);
        const auto cache = tape.caches.col_block(t * batch + b0, bk);
        if constexpr (B::projects_per_step)
          cell_.project_inputs(ctx, w, inputs.col_block(t * batch + b0, bk), cache.row_block(0, proj));
        cell_.step(ctx, w, states_before(tape, t).col_block(b0, bk), cache, next);
        if (tape.noisy) B::axpy(ctx, S(1), tape.noise.col_block(t * batch + b0, bk), next);
      }
    });
    return outputs(tape);
  }

  // The outputs of the last forward on this tape: block t is the state
  // after input t.
  ConstView<S> outputs(const Tape& tape) const {
    return tape.states.col_block(direction_ == Direction::forward ? tape.batch : 0, tape.steps * tape.batch);
  }
  // The states each step started from, aligned with the inputs.
  ConstView<S> states_before(const Tape& tape) const {
    return tape.states.col_block(direction_ == Direction::forward ? 0 : tape.batch, tape.steps * tape.batch);
  }

  // BPTT for the forward that filled `tape`. d_outputs (ns x T*B) holds
  // dLoss/d(output t) and is overwritten (it accumulates the recurrent
  // cotangents).
  void backward(typename B::context& ctx, const Tensors& w, ConstView<S> inputs, Tape& tape,
                MatrixView<S> d_outputs, const Gradients& g) const {
    const Index T = tape.steps, batch = tape.batch;
    tape.d_proj.resize(cell_.projection_rows(), T * batch);
    tape.scratch.resize(cell_.scratch_rows(), batch);
    tape.d_first.resize(cell_.state_size(), batch);
    if (tape.noisy) tape.clean.resize(cell_.state_size(), batch);
    B::fill(ctx, tape.d_first.view(), S(0));
    for_each_shard<B>(ctx, batch, [&](Index b0, Index bk) {
      const typename B::fixed_left_operands weights_fixed;
      for (Index k = T - 1; k >= 0; --k) {
        const Index t = time_of(k, T);
        const auto d_before = k > 0 ? d_outputs.col_block(time_of(k - 1, T) * batch + b0, bk)
                                    : tape.d_first.col_block(b0, bk);
        const Index c0 = t * batch + b0;
        cell_.step_backward(ctx, w, states_before(tape, t).col_block(b0, bk), tape.caches.col_block(c0, bk),
                            step_output(ctx, tape, t, b0, bk), d_outputs.col_block(c0, bk),
                            tape.d_proj.col_block(c0, bk), tape.scratch.col_block(b0, bk), d_before);
      }
    });
    cell_.weight_gradients(ctx, g.weights, states_before(tape), tape.caches.view(), tape.d_proj.view(), g.weight_mode);
    cell_.input_weight_gradients(ctx, g.weights, inputs, tape.d_proj.view(), 0, g.weight_mode);
    cell_.input_cotangent(ctx, w, tape.d_proj.view(), g.inputs, 0, g.input_mode);
    if (!tape.given_initial) {
      cell_.initial_state_gradient(ctx, g.weights, tape.d_first.view(), g.weight_mode);
      return;
    }
    if (g.initial_mode == Grad::overwrite) B::copy(ctx, tape.d_first.view(), g.initial);
    if (g.initial_mode == Grad::accumulate) B::axpy(ctx, S(1), tape.d_first.view(), g.initial);
    if (g.weight_mode == Grad::overwrite) {  // the trained initial state had no part: its gradient is zero
      B::fill(ctx, tape.d_first.view(), S(0));
      cell_.initial_state_gradient(ctx, g.weights, tape.d_first.view(), Grad::overwrite);
    }
  }

 private:
  // Step k of the sweep consumes input time_of(k).
  Index time_of(Index k, Index T) const { return direction_ == Direction::forward ? k : T - 1 - k; }
  Index initial_block(Index T) const { return direction_ == Direction::forward ? 0 : T; }
  MatrixView<S> states_before(Tape& tape, Index t) const {
    return tape.states.col_block((direction_ == Direction::forward ? t : t + 1) * tape.batch, tape.batch);
  }
  MatrixView<S> states_after(Tape& tape, Index t) const {
    return tape.states.col_block((direction_ == Direction::forward ? t + 1 : t) * tape.batch, tape.batch);
  }
  // What the cell's step t returned for trials [b0, b0 + bk): the state
  // after it, less its noise.
  ConstView<S> step_output(typename B::context& ctx, Tape& tape, Index t, Index b0, Index bk) const {
    const auto after = states_after(tape, t).col_block(b0, bk);
    if (!tape.noisy) return after;
    const auto clean = tape.clean.col_block(b0, bk);
    B::copy(ctx, after, clean);
    B::axpy(ctx, S(-1), tape.noise.col_block(t * tape.batch + b0, bk), clean);
    return clean;
  }

  Cell cell_;
  Direction direction_;
};

}  // namespace ctd
