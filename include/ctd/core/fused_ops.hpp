#pragma once
// The backend's element-wise operations, grouped by family and listed once.
// Each list names, per operation, its return type, name, parameters (after
// the context) and the arguments the Backend concept calls it with (from
// the concept's variables: ctx, y (writable view), x (read-only view),
// s (scalar), i (index), rng). The concept, the CUDA backend's
// declarations and its explicit instantiations all expand the same lists,
// so the three cannot drift apart; the CPU backend writes the bodies out
// and the concept checks them.
//
// X(ret, name, (parameters...), (arguments...)), with S the scalar.
#include "ctd/core/rng.hpp"
#include "ctd/core/view.hpp"

// Storage, BLAS-1 and broadcasts, Adam, random fills.
#define CTD_CORE_OPS(X, S)                                                                              \
  X(void, fill, (MatrixView<S> y, S value), (ctx, y, s))                                                \
  X(void, axpy, (S alpha, ConstView<S> x, MatrixView<S> y), (ctx, s, x, y))                             \
  X(void, scale, (S alpha, MatrixView<S> y), (ctx, s, y))                                               \
  X(S, sum_squares, (ConstView<S> x), (ctx, x))                                                         \
  X(S, dot, (ConstView<S> x, ConstView<S> y), (ctx, x, x))                                              \
  X(void, add_row_sums, (ConstView<S> x, MatrixView<S> y), (ctx, x, y))                                 \
  X(void, broadcast_columns, (ConstView<S> v, MatrixView<S> y), (ctx, x, y))                            \
  X(S, masked_mse, (ConstView<S> out, ConstView<S> target, ConstView<S> mask, MatrixView<S> dout),      \
    (ctx, x, x, x, y))                                                                                  \
  X(void, adam_update,                                                                                  \
    (MatrixView<S> x, ConstView<S> g, MatrixView<S> m, MatrixView<S> v, S lr, S b1, S b2, S eps,        \
     Index step),                                                                                       \
    (ctx, y, x, y, y, s, s, s, s, i))                                                                   \
  X(void, fill_normal, (MatrixView<S> y, S mean, S stddev, Rng & rng), (ctx, y, s, s, rng))             \
  X(void, tanh, (ConstView<S> x, MatrixView<S> y), (ctx, x, y))                                         \
  X(void, tanh_backward, (ConstView<S> dh, ConstView<S> h, MatrixView<S> dz), (ctx, x, x, y))

// The tutorials' GRU (cells/gru.hpp).
#define CTD_GRU_OPS(X, S)                                                                               \
  X(void, gru_gates, (MatrixView<S> ru, ConstView<S> h, MatrixView<S> rh, S bfg), (ctx, y, x, y, s))    \
  X(void, gru_state, (MatrixView<S> c, ConstView<S> u, ConstView<S> h, MatrixView<S> h_next),           \
    (ctx, y, x, x, y))                                                                                  \
  X(void, gru_candidate_backward,                                                                       \
    (ConstView<S> dh_next, ConstView<S> h, ConstView<S> u, ConstView<S> c, MatrixView<S> dc_pre,        \
     MatrixView<S> du_pre, MatrixView<S> dh),                                                           \
    (ctx, x, x, x, x, y, y, y))                                                                         \
  X(void, gru_reset_backward,                                                                           \
    (ConstView<S> drh, ConstView<S> h, ConstView<S> r, MatrixView<S> dr_pre, MatrixView<S> dh),         \
    (ctx, x, x, x, y, y))

// The LSTM (cells/lstm.hpp).
#define CTD_LSTM_OPS(X, S)                                                                              \
  X(void, lstm_state,                                                                                   \
    (MatrixView<S> gates, ConstView<S> c, MatrixView<S> c_next, MatrixView<S> tanh_c_next,              \
     MatrixView<S> h_next, S forget_bias),                                                              \
    (ctx, y, x, y, y, y, s))                                                                            \
  X(void, lstm_backward,                                                                                \
    (ConstView<S> dh_next, ConstView<S> dc_next, ConstView<S> gates, ConstView<S> c,                    \
     ConstView<S> tanh_c_next, MatrixView<S> d_gates, MatrixView<S> dc),                                \
    (ctx, x, x, x, x, x, y, y))

// The echo-state network (cells/esn.hpp) and FORCE's RLS update
// (force/rls.hpp).
#define CTD_ESN_OPS(X, S)                                                                               \
  X(void, esn_euler, (S dt_over_tau, ConstView<S> drive, MatrixView<S> a, MatrixView<S> h),             \
    (ctx, s, x, y, y))                                                                                  \
  X(void, rls_update,                                                                                   \
    (MatrixView<S> p, MatrixView<S> pending, MatrixView<S> work, ConstView<S> h, ConstView<S> error,    \
     MatrixView<S> readout),                                                                            \
    (ctx, y, y, y, x, x, y))

// Fixed-point speeds and batched Jacobians (analysis/).
#define CTD_ANALYSIS_OPS(X, S)                                                                          \
  X(void, scaled_difference, (S alpha, ConstView<S> a, ConstView<S> b, MatrixView<S> y),                \
    (ctx, s, x, x, y))                                                                                  \
  X(void, column_sum_squares, (ConstView<S> x, MatrixView<S> y), (ctx, x, y))                           \
  X(void, scale_rows_blocks, (ConstView<S> d, ConstView<S> w, S beta, MatrixView<S> y),                 \
    (ctx, x, x, s, y))                                                                                  \
  X(void, add_diagonal_blocks, (ConstView<S> v, MatrixView<S> y), (ctx, x, y))

// LFADS (lfads/): dropout, reparameterised sampling, the two KL terms, the
// Poisson likelihood and the normed-linear factors. Sums come back scaled;
// gradients are written (overwrite) scaled by the same factor, except
// gaussian_sample_backward, which adds.
#define CTD_LFADS_OPS(X, S)                                                                             \
  X(void, fill_dropout_mask, (MatrixView<S> mask, S keep_rate, Rng & rng), (ctx, y, s, rng))            \
  X(void, multiply, (ConstView<S> a, ConstView<S> b, MatrixView<S> y), (ctx, x, x, y))                  \
  X(void, exp, (ConstView<S> x, MatrixView<S> y), (ctx, x, y))                                          \
  X(void, gaussian_sample,                                                                              \
    (ConstView<S> mean, ConstView<S> logvar, ConstView<S> eps, S var_min, MatrixView<S> z),             \
    (ctx, x, x, x, s, y))                                                                               \
  X(void, gaussian_sample_backward,                                                                     \
    (ConstView<S> dz, ConstView<S> logvar, ConstView<S> eps, S var_min, MatrixView<S> d_mean,           \
     MatrixView<S> d_logvar),                                                                           \
    (ctx, x, x, x, s, y, y))                                                                            \
  X(S, kl_gauss_gauss,                                                                                  \
    (ConstView<S> mean, ConstView<S> logvar, ConstView<S> prior_mean, ConstView<S> prior_logvar,        \
     S var_min, S scale, MatrixView<S> d_mean, MatrixView<S> d_logvar, MatrixView<S> d_prior_logvar),   \
    (ctx, x, x, x, x, s, s, y, y, y))                                                                   \
  X(S, kl_gauss_ar1,                                                                                    \
    (ConstView<S> mean, ConstView<S> logvar, ConstView<S> eps, ConstView<S> ar_mean,                    \
     ConstView<S> ar_logatau, ConstView<S> ar_lognvar, S var_min, S scale, Index steps,                 \
     MatrixView<S> d_mean, MatrixView<S> d_logvar, MatrixView<S> d_prior),                              \
    (ctx, x, x, x, x, x, x, s, s, i, y, y, y))                                                          \
  X(S, poisson_nll, (ConstView<S> lograte, ConstView<S> counts, S scale, MatrixView<S> d_lograte),      \
    (ctx, x, x, s, y))                                                                                  \
  X(void, normalize_rows, (ConstView<S> w, MatrixView<S> norms, MatrixView<S> w_hat), (ctx, x, y, y))   \
  X(void, normalize_rows_backward,                                                                      \
    (ConstView<S> d_w_hat, ConstView<S> w_hat, ConstView<S> norms, MatrixView<S> d_w), (ctx, x, x, x, y))

// Every family, for whoever must cover them all.
#define CTD_FUSED_OPS(X, S) \
  CTD_CORE_OPS(X, S)        \
  CTD_GRU_OPS(X, S)         \
  CTD_LSTM_OPS(X, S)        \
  CTD_ESN_OPS(X, S)         \
  CTD_ANALYSIS_OPS(X, S)    \
  CTD_LFADS_OPS(X, S)

#define CTD_UNPAREN(...) __VA_ARGS__
