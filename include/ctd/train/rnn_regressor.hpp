#pragma once
// A recurrent cell with an affine readout trained on a masked MSE (SPEC §3):
// the model of the integrator, decision and toy-language tutorials.
//   o_t = wO h_t + bO,  loss = sum(mask (o - y)^2) / sum(mask) + l2 sum p^2
#include <cmath>
#include <string>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/train/regularize.hpp"

namespace ctd {

// Inputs, targets and mask of B trials over T steps, time-major column
// blocks: column t*B + b is trial b at step t.
template <class S>
struct SequenceBatch {
  HostMatrix<S> inputs;   // (u x T*B)
  HostMatrix<S> targets;  // (o x T*B)
  HostMatrix<S> mask;     // (o x T*B), 1 where the loss looks
  Index steps = 0;
  Index trials = 0;
};

struct LossParts {
  double mse = 0;    // masked MSE
  double l2 = 0;     // the L2 penalty
  double total() const { return mse + l2; }
};

template <template <class, class> class Cell, class B, class S>
class RnnRegressor {
 public:
  using CellType = Cell<B, S>;
  using Tensors = typename CellType::Tensors;

  RnnRegressor(Index state_size, Index input_size, Index output_size)
      : params_(specs(state_size, input_size, output_size)),
        cell_(state_size, input_size),
        o_(output_size) {}

  static std::vector<ParamSpec> specs(Index n, Index u, Index o) {
    auto s = CellType::specs(n, u);
    s.push_back(matrix_param("wO", o, n));
    s.push_back(vector_param("bO", o));
    return s;
  }

  void initialize(typename B::context& ctx, Rng& rng, const typename CellType::Init& init) {
    CellType::initialize(ctx, cell_values(), rng, init);
    const Index n = cell_.state_size();
    upload<B, S>(ctx, random_normal<S>(rng, o_, n, S(1) / std::sqrt(S(n))), params_.value("wO"));
    B::fill(ctx, params_.value("bO"), S(0));
  }

  Parameters<B, S>& parameters() { return params_; }
  CellType& cell() { return cell_; }
  Tensors cell_values() { return CellType::values(params_); }
  Index state_size() const { return cell_.state_size(); }
  Index input_size() const { return cell_.input_size(); }
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

  // Forward on the loaded batch: states and outputs (o x T*B).
  // initial: (n x B) initial states, or empty for the trained h0.
  ConstView<S> forward(typename B::context& ctx, ConstView<S> initial = {}) {
    const auto states = cell_.forward(ctx, cell_values(), x_.view(), initial, steps_, trials_);
    out_.resize(o_, steps_ * trials_);
    B::gemm(ctx, Trans::no, Trans::no, S(1), ConstView<S>(params_.value("wO")),
            states.col_block(trials_, steps_ * trials_), S(0), out_.view());
    B::add_columnwise(ctx, ConstView<S>(params_.value("bO")), out_.view());
    return out_.view();
  }
  ConstView<S> states() const { return cell_.states(); }

  // Masked MSE of the loaded batch, no gradient.
  double evaluate(typename B::context& ctx) {
    forward(ctx);
    d_out_.resize(o_, steps_ * trials_);
    return B::masked_mse(ctx, out_.view(), y_.view(), m_.view(), d_out_.view());
  }

  // Loss of the loaded batch and its gradient in parameters().grads().
  LossParts loss_and_gradient(typename B::context& ctx, S l2) {
    auto grads = params_.grads();
    B::fill(ctx, grads, S(0));
    forward(ctx);
    const Index cols = steps_ * trials_;
    d_out_.resize(o_, cols);
    d_states_.resize(cell_.state_size(), cols);
    LossParts loss;
    loss.mse = B::masked_mse(ctx, out_.view(), y_.view(), m_.view(), d_out_.view());
    // Readout gradients, one GEMM each over all steps.
    const auto h = cell_.states().col_block(trials_, cols);
    B::gemm(ctx, Trans::no, Trans::yes, S(1), d_out_.view(), h, S(1), params_.grad("wO"));
    B::add_row_sums(ctx, d_out_.view(), params_.grad("bO"));
    B::gemm(ctx, Trans::yes, Trans::no, S(1), ConstView<S>(params_.value("wO")), d_out_.view(),
            S(0), d_states_.view());
    const Tensors g = CellType::grads(params_);
    cell_.backward(ctx, cell_values(), &g, x_.view(), d_states_.view(), {}, {});
    loss.l2 = add_l2_penalty<B, S>(ctx, params_.values(), grads, l2);
    return loss;
  }

 private:
  Parameters<B, S> params_;
  CellType cell_;
  Index o_;
  Index steps_ = 0, trials_ = 0;
  Matrix<B, S> x_, y_, m_, out_, d_out_, d_states_;
};

}  // namespace ctd
