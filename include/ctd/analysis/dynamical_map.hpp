#pragma once
// The map whose fixed points the analysis seeks: next = F(h, x) for a batch
// of P points (columns), the input x held at the points' x*. The finder
// needs F and the state vector-Jacobian product (for Adam on the speed);
// Newton and the linearisation need the Jacobians. Every cell of the
// library becomes such a map through a small adapter:
//   StepMap<VanillaRnnCell<B, S>>, StepMap<GruCell<B, S>>  one step of the cell
//   EsnMap<B, S>        the ESN's Euler map in its pre-activation a
#include <concepts>
#include <utility>
#include <vector>

#include "ctd/cells/esn.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/matrix.hpp"

namespace ctd {

template <class M>
concept DynamicalMap = requires(M& map, typename M::backend::context& ctx, ConstView<typename M::scalar> in,
                                MatrixView<typename M::scalar> out, HostMatrix<typename M::scalar>* host) {
  { map.state_size() } -> std::convertible_to<Index>;
  { map.input_size() } -> std::convertible_to<Index>;
  // F at states (n x P) and inputs (u x P); the view stays valid until the
  // next call.
  { map.evaluate(ctx, in, in) } -> std::same_as<ConstView<typename M::scalar>>;
  // out (n x P) = (dF/dh)^T cotangent (n x P) at the points of the last
  // evaluate, whose states must still hold their values.
  map.state_vjp(ctx, in, out);
  // Block p of *dF_dh (n x n*P) and of *dF_dx (n x u*P) at point p; null
  // outputs are skipped.
  map.jacobians(ctx, in, in, host, host);
};

// A map that makes independent copies of itself (same weights, buffers of
// its own): the finder then runs chunks of candidates on all the backend's
// shards at once, one copy each.
template <class M>
concept ClonableMap = DynamicalMap<M> && requires(const M& map, typename M::backend::context& ctx) {
  { map.clone(ctx) } -> std::same_as<M>;
};

// Backend and scalar of a cell type Cell<B, S>.
template <class Cell>
struct cell_types;
template <template <class, class> class Cell, class B, class S>
struct cell_types<Cell<B, S>> {
  using backend = B;
  using scalar = S;
};

// One step of a sequence cell (vanilla RNN, GRU) from given states: the
// cell's forward with T = 1 and the states as initial states, its BPTT with
// no parameter gradient for the VJP.
template <class Cell>
class StepMap {
 public:
  using backend = typename cell_types<Cell>::backend;
  using scalar = typename cell_types<Cell>::scalar;
  using S = scalar;

  StepMap(Cell cell, typename Cell::Tensors weights) : cell_(std::move(cell)), w_(weights) {}
  StepMap clone(typename backend::context&) const { return StepMap(Cell(state_size(), input_size()), w_); }
  Index state_size() const { return cell_.state_size(); }
  Index input_size() const { return cell_.input_size(); }

  ConstView<S> evaluate(typename backend::context& ctx, ConstView<S> states, ConstView<S> inputs) {
    inputs_ = inputs;
    const Index P = states.cols;
    return cell_.forward(ctx, w_, inputs, states, 1, P).col_block(P, P);
  }
  void state_vjp(typename backend::context& ctx, ConstView<S> cotangent, MatrixView<S> out) {
    // With T = 1 the backward pass only reads d_states (there is no earlier
    // step to accumulate into), so the cotangent is left intact.
    const MatrixView<S> d_states(const_cast<S*>(cotangent.data), cotangent.rows, cotangent.cols, cotangent.ld);
    cell_.backward(ctx, w_, nullptr, inputs_, d_states, {}, out);
  }
  void jacobians(typename backend::context& ctx, ConstView<S> states, ConstView<S> inputs, HostMatrix<S>* dF_dh,
                 HostMatrix<S>* dF_dx) {
    cell_.jacobians(ctx, w_, states, inputs, dF_dh, dF_dx);
  }

 private:
  Cell cell_;
  typename Cell::Tensors w_;
  ConstView<S> inputs_;
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
    zeros_.resize(cell_.state_size(), 1);
    B::fill(ctx, zeros_.view(), S(0));
  }
  Index state_size() const { return cell_.state_size(); }
  Index input_size() const { return cell_.input_size(); }

  EsnMap clone(typename B::context& ctx) const { return EsnMap(ctx, cell_, w_); }
  ConstView<S> evaluate(typename B::context& ctx, ConstView<S> states, ConstView<S> inputs) {
    const Index n = cell_.state_size(), P = states.cols;
    next_.resize(n, P);
    rates_.resize(n, P);
    B::tanh_bias(ctx, states, zeros_.view(), rates_.view());
    cell_.map(ctx, w_, states, inputs, next_.view(), work(ctx, P));
    return next_.view();
  }
  void state_vjp(typename B::context& ctx, ConstView<S> cotangent, MatrixView<S> out) {
    const S k = cell_.dt_over_tau();
    pulled_.resize(cotangent.rows, cotangent.cols);
    B::gemm(ctx, Trans::yes, Trans::no, S(1), loop_.view(), cotangent, S(0), pulled_.view());
    B::tanh_backward(ctx, pulled_.view(), rates_.view(), pulled_.view());
    B::copy(ctx, cotangent, out);
    B::scale(ctx, S(1) - k, out);
    B::axpy(ctx, k, pulled_.view(), out);
  }
  void jacobians(typename B::context& ctx, ConstView<S> states, ConstView<S> inputs, HostMatrix<S>* dF_dh,
                 HostMatrix<S>* dF_dx) {
    cell_.jacobians(ctx, w_, states, inputs, dF_dh, dF_dx);
  }

 private:
  // The cell's state for a batch of P points, made on first use: a chunked
  // loop asks for two sizes (the chunk and the remainder) over and over.
  typename EsnCell<B, S>::State& work(typename B::context& ctx, Index P) {
    for (auto& w : work_)
      if (w.batch() == P) return w;
    work_.push_back(cell_.make_state(ctx, P));
    return work_.back();
  }

  EsnCell<B, S> cell_;
  typename EsnCell<B, S>::Tensors w_;
  std::vector<typename EsnCell<B, S>::State> work_;
  Matrix<B, S> loop_, zeros_, next_, rates_, pulled_;
};

// F at host points: states (n x P), inputs (u x P).
template <DynamicalMap M>
HostMatrix<typename M::scalar> evaluate_at(typename M::backend::context& ctx, M& map,
                                           const HostMatrix<typename M::scalar>& states,
                                           const HostMatrix<typename M::scalar>& inputs) {
  using B = typename M::backend;
  using S = typename M::scalar;
  const Matrix<B, S> h = upload<B, S>(ctx, states), x = upload<B, S>(ctx, inputs);
  return download<B, S>(ctx, map.evaluate(ctx, h.view(), x.view()));
}

// The Jacobians at host points (see DynamicalMap::jacobians).
template <DynamicalMap M>
void jacobians_at(typename M::backend::context& ctx, M& map, const HostMatrix<typename M::scalar>& states,
                  const HostMatrix<typename M::scalar>& inputs, HostMatrix<typename M::scalar>* dF_dh,
                  HostMatrix<typename M::scalar>* dF_dx) {
  using B = typename M::backend;
  using S = typename M::scalar;
  const Matrix<B, S> h = upload<B, S>(ctx, states), x = upload<B, S>(ctx, inputs);
  map.jacobians(ctx, h.view(), x.view(), dF_dh, dF_dx);
}

}  // namespace ctd
