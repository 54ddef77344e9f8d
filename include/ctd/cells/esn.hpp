#pragma once
// The continuous-time echo-state network of the FORCE tutorial (SPEC §2c).
// State (a, h = tanh(a), z = wO h); one Euler step with input x:
//   a' = a + dt_over_tau (-a + wI x + wR h + wF z),  h' = tanh(a'),  z' = wO h'
// The output z feeds back through wF, so training the readout wO (force/)
// reshapes the dynamics. Batched: B trajectories are the columns of a, h, z.
//
// For analysis the state is the pre-activation a, and the cell is the
// autonomous map with the feedback loop closed:
//   F(a) = a + dt_over_tau (-a + wI x + (wR + wF wO) tanh(a)).
#include <array>
#include <cassert>
#include <cmath>
#include <string>
#include <string_view>
#include <vector>

#include "ctd/cells/step_cell.hpp"
#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/parameters.hpp"
#include "ctd/core/rng.hpp"

namespace ctd {

// The names of the cell's tensors, in the order of its Tensors.
inline constexpr std::array<std::string_view, 5> esn_tensor_names{"a0", "wI", "wR", "wO", "wF"};

template <class B, class S>
class EsnCell {
 public:
  // Views of the cell's tensors inside a Parameters buffer (values or grads).
  struct Tensors {
    MatrixView<S> a0, wI, wR, wO, wF;
  };
  struct Init {
    S g = S(1.5);             // recurrent gain: wR = g N / sqrt(n)
    S a0_scale = S(0.25);     // a0 = a0_scale N
    S feedback_scale = S(1);  // wF = feedback_scale N
  };
  // A batch of trajectories, sized once by make_state and reused by every
  // step, so a time loop never allocates.
  struct State {
    Matrix<B, S> a, h, z;  // (n x B), (n x B), (m x B)
    Matrix<B, S> drive;    // (n x B) workspace: wI x + wR h + wF z
    Index batch() const { return a.cols(); }
  };

  // File names and shapes of the tutorial: a0 (n), wI (n,u), wR (n,n),
  // wO (m,n), wF (n,m).
  static constexpr const auto& tensor_names = esn_tensor_names;
  static std::vector<ParamSpec> specs(Index n, Index u, Index m) {
    return {vector_param(tensor_names[0], n), matrix_param(tensor_names[1], n, u), matrix_param(tensor_names[2], n, n),
            matrix_param(tensor_names[3], m, n), matrix_param(tensor_names[4], n, m)};
  }
  // Tutorial initialisation, in the tutorial's order: a0 = 0.25 N,
  // wI = N/sqrt(u), wR = g N/sqrt(n), wO = N/sqrt(n), wF = N.
  static void initialize(typename B::context& ctx, const Tensors& w, Rng& rng, const Init& init) {
    const Index n = w.wR.rows, u = w.wI.cols, m = w.wO.rows;
    upload<B, S>(ctx, random_normal<S>(rng, n, 1, init.a0_scale), w.a0);
    upload<B, S>(ctx, random_normal<S>(rng, n, u, S(1) / std::sqrt(S(u))), w.wI);
    upload<B, S>(ctx, random_normal<S>(rng, n, n, init.g / std::sqrt(S(n))), w.wR);
    upload<B, S>(ctx, random_normal<S>(rng, m, n, S(1) / std::sqrt(S(n))), w.wO);
    upload<B, S>(ctx, random_normal<S>(rng, n, m, init.feedback_scale), w.wF);
  }

  EsnCell(Index state_size, Index input_size, Index output_size, S dt_over_tau)
      : n_(state_size), u_(input_size), m_(output_size), dt_over_tau_(dt_over_tau) {
    require(n_ > 0 && u_ > 0 && m_ > 0,
            "EsnCell: state, input and output sizes must be positive, got n = " + std::to_string(n_) +
                ", u = " + std::to_string(u_) + ", m = " + std::to_string(m_));
    require(std::isfinite(dt_over_tau) && dt_over_tau > 0,
            "EsnCell: dt_over_tau must be positive and finite, got " + std::to_string(dt_over_tau));
  }
  Index state_size() const { return n_; }
  Index input_size() const { return u_; }
  Index output_size() const { return m_; }
  S dt_over_tau() const { return dt_over_tau_; }

  State make_state(typename B::context&, Index batch) const {
    require(batch > 0, "EsnCell::make_state: batch must be positive");
    State s;
    s.a.resize(n_, batch);
    s.h.resize(n_, batch);
    s.z.resize(m_, batch);
    s.drive.resize(n_, batch);
    return s;
  }

  // Every trajectory at a0: a = a0, h = tanh(a0), z = wO h.
  void reset(typename B::context& ctx, const Tensors& w, State& s) const {
    B::broadcast_columns(ctx, w.a0, s.a.view());
    derive_outputs(ctx, w, s);
  }
  // Trajectories at the given pre-activations (n x B).
  void set_state(typename B::context& ctx, const Tensors& w, ConstView<S> a, State& s) const {
    require(a.rows == n_ && a.cols == s.batch(),
            "EsnCell::set_state: expected states of shape (" + std::to_string(n_) + " x " +
                std::to_string(s.batch()) + "), got (" + std::to_string(a.rows) + " x " +
                std::to_string(a.cols) + ")");
    B::copy(ctx, a, s.a.view());
    derive_outputs(ctx, w, s);
  }

  // One Euler step of every trajectory. inputs: (u x B), or empty for zero
  // input (the FORCE tutorial's). The feedback uses s.z as it is on entry;
  // on exit z = wO h' with the current wO.
  void step(typename B::context& ctx, const Tensors& w, ConstView<S> inputs, State& s) const {
    assert(inputs.empty() || (inputs.rows == u_ && inputs.cols == s.batch()));
    multiply(ctx, w.wR, s.h.view(), S(0), s.drive.view());
    multiply(ctx, w.wF, s.z.view(), S(1), s.drive.view());
    if (!inputs.empty()) multiply(ctx, w.wI, inputs, S(1), s.drive.view());
    B::esn_euler(ctx, dt_over_tau_, s.drive.view(), s.a.view(), s.h.view());
    multiply(ctx, w.wO, s.h.view(), S(0), s.z.view());
  }

  // Jacobians of F at P states, computed analytically on the host:
  //   dF/da = (1 - k) I + k (wR + wF wO) diag(1 - tanh(a)^2),  dF/dx = k wI
  // with k = dt_over_tau. states (n x P) and inputs (u x P, or empty: F is
  // affine in x, so they only fix P) live in backend memory. Writes block p
  // of dF_dh (n x n*P) and dF_dx (n x u*P); either may be null.
  void jacobians(typename B::context& ctx, const Tensors& w, ConstView<S> states, ConstView<S> inputs,
                 HostMatrix<S>* dF_dh, HostMatrix<S>* dF_dx) const {
    require(states.rows == n_, "EsnCell::jacobians: states must have n = " + std::to_string(n_) + " rows");
    require(inputs.empty() || (inputs.rows == u_ && inputs.cols == states.cols),
            "EsnCell::jacobians: inputs must be (u x P) with u = " + std::to_string(u_) +
                " and P the number of states");
    const Index P = states.cols;
    const S k = dt_over_tau_;
    if (dF_dh) {
      const HostMatrix<S> a = download<B, S>(ctx, states);
      const HostMatrix<S> loop = download<B, S>(ctx, w.wR) + download<B, S>(ctx, w.wF) * download<B, S>(ctx, w.wO);
      dF_dh->resize(n_, n_ * P);
      for (Index p = 0; p < P; ++p) {
        auto J = dF_dh->middleCols(p * n_, n_);
        const auto slope = (S(1) - a.col(p).array().tanh().square()).matrix();
        J.noalias() = k * loop * slope.asDiagonal();
        J.diagonal().array() += S(1) - k;
      }
    }
    if (dF_dx) {
      const HostMatrix<S> input_map = k * download<B, S>(ctx, w.wI);
      dF_dx->resize(n_, u_ * P);
      for (Index p = 0; p < P; ++p) dF_dx->middleCols(p * u_, u_) = input_map;
    }
  }

 private:
  // h = tanh(a), z = wO h.
  void derive_outputs(typename B::context& ctx, const Tensors& w, State& s) const {
    B::tanh(ctx, s.a.view(), s.h.view());
    multiply(ctx, w.wO, s.h.view(), S(0), s.z.view());
  }
  // Y = A X + beta Y: a GEMV for one trajectory (FORCE's case), else a GEMM.
  static void multiply(typename B::context& ctx, ConstView<S> a, ConstView<S> x, S beta, MatrixView<S> y) {
    if (x.cols == 1)
      B::gemv(ctx, Trans::no, S(1), a, x, beta, y);
    else
      B::gemm(ctx, Trans::no, Trans::no, S(1), a, x, beta, y);
  }

  Index n_, u_, m_;
  S dt_over_tau_;
};

}  // namespace ctd
