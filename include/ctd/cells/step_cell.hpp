#pragma once
// The contract of a recurrent cell: one step h' = F(h, x) of a batch of
// trials, stateless (a const cell serves several threads and several
// sequences in flight), with every buffer owned by the caller
// (mlpack 4's RecurrentLayer, lfads-torch's ClippedGRUCell). A cell offers
//   - its tensors: `tensor_names` (written once) and a `Tensors` aggregate
//     of views in that order, bound once by bind_values / bind_grads;
//   - the input projection of any block of columns, overwriting (with the
//     bias) or accumulating (without), for any block of input rows, so a
//     driver runs it over all T steps at once or step by step
//     (B::projects_per_step), and over each part of a composite input apart;
//   - one step from a state and the step's cache (whose first
//     projection_rows() rows hold the input projection on entry);
//   - the step's backward: from the cotangent of h', the projection's
//     cotangent d_proj and the state's cotangent (added to dh);
//   - the weight gradients of many steps at once (one GEMM per weight), the
//     input cotangent and the input weights' gradient;
//   - the initial state and its gradient; the Jacobians of F.
// The sequence driver (cells/sequence.hpp) owns time; models compose cells.
// A driver holds B::fixed_left_operands through each shard's sweep, so in
// its projections, step and step backward a cell puts only its weights on
// the left of a product: a left operand is packed once a sweep, by address.
#include <algorithm>
#include <array>
#include <concepts>
#include <string>
#include <string_view>
#include <utility>

#include "ctd/core/gradient_mode.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/core/scratch.hpp"

namespace ctd {

template <class C>
concept StepCell = requires(const C& cell, typename C::backend::context& ctx, const typename C::Tensors& w,
                            ConstView<typename C::scalar> x, MatrixView<typename C::scalar> y, Index i, Grad mode,
                            HostMatrix<typename C::scalar>* host,
                            Scratch<typename C::backend, typename C::scalar>& scratch) {
  { C::tensor_names.size() } -> std::convertible_to<std::size_t>;
  { cell.state_size() } -> std::same_as<Index>;
  { cell.input_size() } -> std::same_as<Index>;
  { cell.hidden_size() } -> std::same_as<Index>;  // leading rows of the state: the activity a readout sees
  { cell.projection_rows() } -> std::same_as<Index>;
  { cell.cache_rows() } -> std::same_as<Index>;
  { cell.scratch_rows() } -> std::same_as<Index>;
  cell.project_inputs(ctx, w, x, y, i, mode);             // inputs, projection, first input row, mode
  cell.step(ctx, w, x, y, y);                             // h, cache (in: projection), h'
  cell.step_backward(ctx, w, x, x, x, x, y, y, y);        // h, cache, h', dh', d_proj, scratch, dh (+=)
  cell.weight_gradients(ctx, w, x, x, x, mode);           // g, h of every step, caches, d_projs
  cell.input_weight_gradients(ctx, w, x, x, i, mode);     // g, inputs, d_projs, first input row
  cell.input_cotangent(ctx, w, x, y, i, mode);            // w, d_projs, d_inputs, first input row
  cell.initial_state(ctx, w, y);                          // the trained initial state, broadcast
  cell.initial_state_gradient(ctx, w, x, mode);           // g, cotangent of the initial states
  cell.jacobians(ctx, w, x, x, host, host, scratch);      // at states, inputs: dF/dh, dF/dx blocks
};

// A cell's tensors inside a Parameters buffer, looked up by name once.
template <class Cell, class B, class S>
typename Cell::Tensors bind_values(Parameters<B, S>& p, const std::string& prefix = "") {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return typename Cell::Tensors{p.value(prefix + std::string(Cell::tensor_names[I]))...};
  }(std::make_index_sequence<Cell::tensor_names.size()>{});
}
template <class Cell, class B, class S>
typename Cell::Tensors bind_grads(Parameters<B, S>& p, const std::string& prefix = "") {
  return [&]<std::size_t... I>(std::index_sequence<I...>) {
    return typename Cell::Tensors{p.grad(prefix + std::string(Cell::tensor_names[I]))...};
  }(std::make_index_sequence<Cell::tensor_names.size()>{});
}

// Columns [first, first + count) of a weight stored (rows x (n + u)) with
// the hidden columns first: the hidden and input blocks of the tutorials'
// concatenated weights.
template <class S>
MatrixView<S> hidden_columns(MatrixView<S> w, Index n) {
  return w.col_block(0, n);
}
template <class S>
MatrixView<S> input_columns(MatrixView<S> w, Index n, Index first, Index count) {
  return w.col_block(n + first, count);
}

// The gradient of a trained initial state broadcast over a batch: the row
// sums of the batch's initial-state cotangent.
template <class B, class S>
void initial_state_gradient(typename B::context& ctx, MatrixView<S> grad, ConstView<S> d_first, Grad mode) {
  if (mode == Grad::ignore) return;
  if (mode == Grad::overwrite) B::fill(ctx, grad, S(0));
  B::add_row_sums(ctx, d_first, grad);
}

// Throws unless states (n x P) and inputs (u x P) fit the cell.
template <class Cell, class S>
void check_points(const Cell& cell, ConstView<S> states, ConstView<S> inputs, const char* who) {
  require(states.rows == cell.state_size() && inputs.rows == cell.input_size() && inputs.cols == states.cols,
          std::string(who) + ": expected states (" + std::to_string(cell.state_size()) + " x P) and inputs (" +
              std::to_string(cell.input_size()) + " x P), got (" + std::to_string(states.rows) + " x " +
              std::to_string(states.cols) + ") and (" + std::to_string(inputs.rows) + " x " +
              std::to_string(inputs.cols) + ")");
}

}  // namespace ctd

namespace ctd {

// The Jacobians of any step cell from its own backward pass: row i of
// dF/dh at a point is the state cotangent of the unit cotangent e_i, and
// row i of dF/dx its input cotangent. Chunks of points are replicated once
// per state coordinate and pulled back in one batched backward pass. A cell
// with a cheaper closed form (vanilla, GRU) writes its own. Layout as in
// the StepCell concept: block p of *dF_dh (ns x ns*P) and of *dF_dx
// (ns x u*P) belong to point p; a null output is skipped.
template <class Cell>
void jacobians_from_vjps(typename Cell::backend::context& ctx, const Cell& cell, const typename Cell::Tensors& w,
                         ConstView<typename Cell::scalar> states, ConstView<typename Cell::scalar> inputs,
                         HostMatrix<typename Cell::scalar>* dF_dh, HostMatrix<typename Cell::scalar>* dF_dx,
                         Scratch<typename Cell::backend, typename Cell::scalar>& scratch) {
  using B = typename Cell::backend;
  using S = typename Cell::scalar;
  check_points(cell, states, inputs, "jacobians");
  const Index ns = cell.state_size(), u = cell.input_size(), P = states.cols;
  const Index chunk = std::max<Index>(1, std::min<Index>(P, 8192 / ns)), cols = chunk * ns;
  const HostMatrix<S> h_host = download<B, S>(ctx, states), x_host = download<B, S>(ctx, inputs);
  HostMatrix<S> eye(ns, cols);
  for (Index q = 0; q < chunk; ++q) eye.middleCols(q * ns, ns).setIdentity();
  const auto h = scratch.get(0, ns, cols), x = scratch.get(1, u, cols), cache = scratch.get(2, cell.cache_rows(), cols),
             next = scratch.get(3, ns, cols), d_proj = scratch.get(4, cell.projection_rows(), cols),
             work = scratch.get(5, cell.scratch_rows(), cols), dh = scratch.get(6, ns, cols), dx = scratch.get(7, u, cols),
             cotangent = scratch.get(8, ns, cols);
  upload<B, S>(ctx, eye, cotangent);
  if (dF_dh) dF_dh->resize(ns, ns * P);
  if (dF_dx) dF_dx->resize(ns, u * P);
  for (Index p0 = 0; p0 < P; p0 += chunk) {
    const Index pk = std::min(chunk, P - p0), c = pk * ns;
    upload<B, S>(ctx, HostMatrix<S>(h_host.middleCols(p0, pk).replicate(ns, 1).reshaped(ns, c)), h.col_block(0, c));
    upload<B, S>(ctx, HostMatrix<S>(x_host.middleCols(p0, pk).replicate(ns, 1).reshaped(u, c)), x.col_block(0, c));
    const auto cache_c = cache.col_block(0, c);
    cell.project_inputs(ctx, w, x.col_block(0, c), cache_c.row_block(0, cell.projection_rows()));
    cell.step(ctx, w, h.col_block(0, c), cache_c, next.col_block(0, c));
    B::fill(ctx, dh.col_block(0, c), S(0));
    cell.step_backward(ctx, w, h.col_block(0, c), cache_c, next.col_block(0, c), cotangent.col_block(0, c),
                       d_proj.col_block(0, c), work.col_block(0, c), dh.col_block(0, c));
    if (dF_dh) {
      const HostMatrix<S> rows = download<B, S>(ctx, dh.col_block(0, c));
      for (Index q = 0; q < pk; ++q) dF_dh->middleCols((p0 + q) * ns, ns) = rows.middleCols(q * ns, ns).transpose();
    }
    if (dF_dx) {
      cell.input_cotangent(ctx, w, d_proj.col_block(0, c), dx.col_block(0, c), 0, Grad::overwrite);
      const HostMatrix<S> rows = download<B, S>(ctx, dx.col_block(0, c));
      for (Index q = 0; q < pk; ++q) dF_dx->middleCols((p0 + q) * u, u) = rows.middleCols(q * ns, ns).transpose();
    }
  }
}

}  // namespace ctd
