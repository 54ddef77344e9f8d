#pragma once
// A recurrent cell with an affine readout trained on a masked MSE (SPEC §3):
// the model of the integrator, decision and toy-language tutorials.
//   o_t = wO h_t + bO,  loss = sum(mask (o - y)^2) / sum(mask) + l2 sum p^2
// where h_t is the cell's hidden activity (its state's leading rows: the
// whole state of a vanilla RNN or GRU, the h of an LSTM's [h; c]).
#include <cmath>
#include <string>
#include <vector>

#include "ctd/cells/sequence.hpp"
#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/tasks/sequence_batch.hpp"
#include "ctd/train/regularize.hpp"

namespace ctd {

struct LossParts {
  double mse = 0;    // masked MSE
  double l2 = 0;     // the L2 penalty
  double total() const { return mse + l2; }
};

template <template <class, class> class CellTemplate, class B, class S>
class RnnRegressor {
 public:
  using Cell = CellTemplate<B, S>;
  using backend = B;
  using scalar = S;
  using Tensors = typename Cell::Tensors;

  // n: the cell's units (the state of an LSTM has 2n rows).
  RnnRegressor(Index units, Index input_size, Index output_size)
      : params_(specs(units, input_size, output_size)),
        sequence_(Cell(units, input_size)),
        w_(bind_values<Cell>(params_)),
        g_(bind_grads<Cell>(params_)),
        wO_(params_.value("wO")),
        bO_(params_.value("bO")),
        gO_(params_.grad("wO")),
        gbO_(params_.grad("bO")),
        o_(output_size) {}
  RnnRegressor(const RnnRegressor&) = delete;  // the views point into params_
  RnnRegressor& operator=(const RnnRegressor&) = delete;

  static std::vector<ParamSpec> specs(Index n, Index u, Index o) {
    auto s = Cell::specs(n, u);
    s.push_back(matrix_param("wO", o, n));
    s.push_back(vector_param("bO", o));
    return s;
  }

  void initialize(typename B::context& ctx, Rng& rng, const typename Cell::Init& init) {
    Cell::initialize(ctx, w_, rng, init);
    const Index n = cell().hidden_size();
    upload<B, S>(ctx, random_normal<S>(rng, o_, n, S(1) / std::sqrt(S(n))), wO_);
    B::fill(ctx, bO_, S(0));
  }

  Parameters<B, S>& parameters() { return params_; }
  const Cell& cell() const { return sequence_.cell(); }
  const Tensors& cell_values() const { return w_; }
  Index state_size() const { return cell().state_size(); }
  Index input_size() const { return cell().input_size(); }
  Index output_size() const { return o_; }

  // Uploads a host batch into device buffers reused across calls.
  void load(typename B::context& ctx, const SequenceBatch<S>& batch) {
    require(batch.inputs.rows() == input_size(), "batch inputs: expected " +
                                                     std::to_string(input_size()) + " rows");
    require(batch.targets.rows() == o_ && batch.mask.rows() == o_,
            "batch targets/mask: expected " + std::to_string(o_) + " rows");
    const Index cols = batch.steps * batch.trials;
    require(batch.inputs.cols() == cols && batch.targets.cols() == cols && batch.mask.cols() == cols,
            "batch: inputs, targets and mask need steps*trials columns");
    steps_ = batch.steps;
    trials_ = batch.trials;
    for (auto [host, dev] : {std::pair{&batch.inputs, &x_}, {&batch.targets, &y_}, {&batch.mask, &m_}}) {
      dev->resize(host->rows(), host->cols());
      B::copy_from_host(ctx, host->data(), dev->view());
    }
  }

  // Forward on the loaded batch: outputs (o x T*B).
  // initial: (ns x B) initial states, or empty for the trained one;
  // noise: added to every state (training under state noise).
  ConstView<S> forward(typename B::context& ctx, ConstView<S> initial = {}, StateNoise<S> noise = {}) {
    const auto states = sequence_.forward(ctx, w_, x_.view(), initial, steps_, trials_, tape_, noise);
    out_.resize(o_, steps_ * trials_);
    parallel_affine<B, S>(ctx, wO_, hidden(states), bO_, out_.view());
    return out_.view();
  }
  // The states (ns x T*B) of the last forward: block t after input t.
  ConstView<S> states() const { return sequence_.outputs(tape_); }

  // Masked MSE of the loaded batch, no gradient.
  double evaluate(typename B::context& ctx) {
    forward(ctx);
    d_out_.resize(o_, steps_ * trials_);
    return B::masked_mse(ctx, out_.view(), y_.view(), m_.view(), d_out_.view());
  }

  // Loss of the loaded batch and its gradient in parameters().grads().
  LossParts loss_and_gradient(typename B::context& ctx, S l2, StateNoise<S> noise = {}) {
    forward(ctx, {}, noise);
    const Index cols = steps_ * trials_;
    d_out_.resize(o_, cols);
    d_states_.resize(state_size(), cols);
    LossParts loss;
    loss.mse = B::masked_mse(ctx, out_.view(), y_.view(), m_.view(), d_out_.view());
    // Readout gradients, one GEMM each over all steps.
    parallel_weight_gradient<B, S>(ctx, d_out_.view(), hidden(states()), S(0), gO_, gbO_);
    if (cell().hidden_size() < state_size()) B::fill(ctx, d_states_.view(), S(0));
    parallel_gemm<B, S>(ctx, Trans::yes, Trans::no, S(1), ConstView<S>(wO_), d_out_.view(), S(0),
                        hidden(d_states_.view()));
    sequence_.backward(ctx, w_, x_.view(), tape_, d_states_.view(), {.weights = g_, .weight_mode = Grad::overwrite});
    loss.l2 = add_l2_penalty<B, S>(ctx, params_.values(), params_.grads(), l2);
    return loss;
  }

 private:
  template <class V>
  V hidden(V states) const {
    return states.row_block(0, cell().hidden_size());
  }

  Parameters<B, S> params_;
  Sequence<Cell> sequence_;
  Tensors w_, g_;
  MatrixView<S> wO_, bO_, gO_, gbO_;
  Index o_;
  Index steps_ = 0, trials_ = 0;
  SequenceTape<B, S> tape_;
  Matrix<B, S> x_, y_, m_, out_, d_out_, d_states_;
};

}  // namespace ctd

namespace ctd {

// The trainer's loss function for a regressor on a fresh batch every step,
// make_batch(rng) drawing it from the data generator, which also draws the
// state noise (standard deviation state_noise, 0 for none).
template <class Model, class MakeBatch>
auto fresh_batch_loss(Model& model, MakeBatch make_batch, double l2, double state_noise = 0) {
  using S = typename Model::scalar;
  return [&model, make_batch = std::move(make_batch), l2, state_noise](auto& ctx, Rng& rng, Index) {
    model.load(ctx, make_batch(rng));
    return model.loss_and_gradient(ctx, S(l2), StateNoise<S>{S(state_noise), &rng});
  };
}

}  // namespace ctd
