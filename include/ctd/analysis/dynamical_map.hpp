#pragma once
// The map whose fixed points the analysis seeks: next = F(h, x) for a batch
// of P points (columns), the input x held at the points' x*. The finder
// needs F and the state vector-Jacobian product (for Adam on the speed);
// Newton and the linearisation need the Jacobians. A map is const and
// keeps no buffers: the caller hands it a workspace of workspace_rows() x P,
// so one map serves every thread, each on its own columns. Every cell of
// the library becomes such a map:
//   StepMap<Cell>  one step of a step cell (vanilla RNN, GRU, LSTM)
//   EsnMap<B, S>   the ESN's Euler map in its pre-activation a
#include <concepts>
#include <utility>

#include "ctd/cells/esn.hpp"
#include "ctd/cells/step_cell.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/matrix.hpp"

namespace ctd {

template <class M>
concept DynamicalMap = requires(const M& map, typename M::backend::context& ctx, ConstView<typename M::scalar> in,
                                MatrixView<typename M::scalar> out, HostMatrix<typename M::scalar>* host,
                                Scratch<typename M::backend, typename M::scalar>& scratch) {
  { map.state_size() } -> std::convertible_to<Index>;
  { map.input_size() } -> std::convertible_to<Index>;
  { map.workspace_rows() } -> std::convertible_to<Index>;
  // F at states (n x P) and inputs (u x P), computed in the workspace
  // (workspace_rows() x P); the view lies in the workspace.
  { map.evaluate(ctx, in, in, out) } -> std::same_as<ConstView<typename M::scalar>>;
  // out (n x P) = (dF/dh)^T cotangent (n x P) at the states and the
  // workspace of the last evaluate there.
  map.state_vjp(ctx, in, out, in, out);
  // Block p of *dF_dh (n x n*P) and of *dF_dx (n x u*P) at point p; null
  // outputs are skipped; temporaries in the caller's scratch.
  map.jacobians(ctx, in, in, host, host, scratch);
};

// One step of a step cell from given states.
template <StepCell Cell>
class StepMap {
 public:
  using backend = typename Cell::backend;
  using scalar = typename Cell::scalar;
  using S = scalar;

  StepMap(Cell cell, typename Cell::Tensors weights) : cell_(std::move(cell)), w_(weights) {}
  Index state_size() const { return cell_.state_size(); }
  Index input_size() const { return cell_.input_size(); }
  // [cache; next state; projection cotangent; scratch]
  Index workspace_rows() const {
    return cell_.cache_rows() + cell_.state_size() + cell_.projection_rows() + cell_.scratch_rows();
  }

  ConstView<S> evaluate(typename backend::context& ctx, ConstView<S> states, ConstView<S> inputs,
                        MatrixView<S> workspace) const {
    const auto cache = workspace.row_block(0, cell_.cache_rows()), next = next_rows(workspace);
    cell_.project_inputs(ctx, w_, inputs, cache.row_block(0, cell_.projection_rows()));
    cell_.step(ctx, w_, states, cache, next);
    return next;
  }
  void state_vjp(typename backend::context& ctx, ConstView<S> states, MatrixView<S> workspace, ConstView<S> cotangent,
                 MatrixView<S> out) const {
    const Index c = cell_.cache_rows(), ns = cell_.state_size(), p = cell_.projection_rows();
    backend::fill(ctx, out, S(0));
    cell_.step_backward(ctx, w_, states, workspace.row_block(0, c), next_rows(workspace), cotangent,
                        workspace.row_block(c + ns, p), workspace.row_block(c + ns + p, cell_.scratch_rows()), out);
  }
  void jacobians(typename backend::context& ctx, ConstView<S> states, ConstView<S> inputs, HostMatrix<S>* dF_dh,
                 HostMatrix<S>* dF_dx, Scratch<backend, S>& scratch) const {
    cell_.jacobians(ctx, w_, states, inputs, dF_dh, dF_dx, scratch);
  }

 private:
  MatrixView<S> next_rows(MatrixView<S> workspace) const {
    return workspace.row_block(cell_.cache_rows(), cell_.state_size());
  }

  Cell cell_;
  typename Cell::Tensors w_;
};

// The ESN's Euler map in its pre-activation a (feedback loop closed):
//   F(a) = (1 - k) a + k (wI x + M tanh(a)),  M = wR + wF wO,  k = dt_over_tau
// so (dF/da)^T g = (1 - k) g + k (1 - tanh(a)^2) * (M^T g).
template <class B, class S>
class EsnMap {
 public:
  using backend = B;
  using scalar = S;

  EsnMap(typename B::context& ctx, EsnCell<B, S> cell, typename EsnCell<B, S>::Tensors weights)
      : cell_(std::move(cell)), w_(weights), loop_(cell_.state_size(), cell_.state_size()) {
    B::copy(ctx, w_.wR, loop_.view());
    B::gemm(ctx, Trans::no, Trans::no, S(1), w_.wF, w_.wO, S(1), loop_.view());
  }
  Index state_size() const { return cell_.state_size(); }
  Index input_size() const { return cell_.input_size(); }
  // [rates tanh(a); drive; next; scratch], n rows each.
  Index workspace_rows() const { return 4 * cell_.state_size(); }

  ConstView<S> evaluate(typename B::context& ctx, ConstView<S> states, ConstView<S> inputs,
                        MatrixView<S> workspace) const {
    const auto rates = part(workspace, 0), drive = part(workspace, 1), next = part(workspace, 2);
    B::tanh(ctx, states, rates);
    B::gemm(ctx, Trans::no, Trans::no, S(1), loop_.view(), rates, S(0), drive);
    B::gemm(ctx, Trans::no, Trans::no, S(1), w_.wI, inputs, S(1), drive);
    B::copy(ctx, states, next);
    B::esn_euler(ctx, cell_.dt_over_tau(), drive, next, part(workspace, 3));
    return next;
  }
  void state_vjp(typename B::context& ctx, ConstView<S>, MatrixView<S> workspace, ConstView<S> cotangent,
                 MatrixView<S> out) const {
    const S k = cell_.dt_over_tau();
    const auto pulled = part(workspace, 3);
    B::gemm(ctx, Trans::yes, Trans::no, S(1), loop_.view(), cotangent, S(0), pulled);
    B::tanh_backward(ctx, pulled, part(workspace, 0), pulled);
    B::copy(ctx, cotangent, out);
    B::scale(ctx, S(1) - k, out);
    B::axpy(ctx, k, pulled, out);
  }
  void jacobians(typename B::context& ctx, ConstView<S> states, ConstView<S> inputs, HostMatrix<S>* dF_dh,
                 HostMatrix<S>* dF_dx, Scratch<B, S>&) const {
    cell_.jacobians(ctx, w_, states, inputs, dF_dh, dF_dx);
  }

 private:
  MatrixView<S> part(MatrixView<S> workspace, Index k) const {
    return workspace.row_block(k * cell_.state_size(), cell_.state_size());
  }

  EsnCell<B, S> cell_;
  typename EsnCell<B, S>::Tensors w_;
  Matrix<B, S> loop_;
};

// F at host points: states (n x P), inputs (u x P).
template <DynamicalMap M>
HostMatrix<typename M::scalar> evaluate_at(typename M::backend::context& ctx, const M& map,
                                           const HostMatrix<typename M::scalar>& states,
                                           const HostMatrix<typename M::scalar>& inputs) {
  using B = typename M::backend;
  using S = typename M::scalar;
  const Matrix<B, S> h = upload<B, S>(ctx, states), x = upload<B, S>(ctx, inputs);
  Matrix<B, S> workspace(map.workspace_rows(), states.cols());
  return download<B, S>(ctx, map.evaluate(ctx, h.view(), x.view(), workspace.view()));
}

// The Jacobians at host points (see DynamicalMap::jacobians).
template <DynamicalMap M>
void jacobians_at(typename M::backend::context& ctx, const M& map, const HostMatrix<typename M::scalar>& states,
                  const HostMatrix<typename M::scalar>& inputs, HostMatrix<typename M::scalar>* dF_dh,
                  HostMatrix<typename M::scalar>* dF_dx, Scratch<typename M::backend, typename M::scalar>& scratch) {
  using B = typename M::backend;
  using S = typename M::scalar;
  const Matrix<B, S> h = upload<B, S>(ctx, states), x = upload<B, S>(ctx, inputs);
  map.jacobians(ctx, h.view(), x.view(), dF_dh, dF_dx, scratch);
}

}  // namespace ctd
