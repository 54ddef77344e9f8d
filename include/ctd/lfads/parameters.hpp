#pragma once
// LFADS's parameters in the tutorial's layout: the nested dict of
// lfads_params, one flat buffer, names as its keys ("ic_enc/fwd_rnn/wRUHX",
// saved as nested HDF5 groups), shapes as it makes them (the generator's
// input grows by the external inputs, the log-rates by held-out neurons, a
// causal controller reads only the forward encoder), and its
// initialisation (GRUs: N/sqrt(fan-in) per block, h0 = 0; affine maps:
// N/sqrt(fan-in), zero bias; the priors at their configured values).
#include <cmath>
#include <string>
#include <vector>

#include "ctd/cells/gru.hpp"
#include "ctd/lfads/config.hpp"

namespace ctd {

// Views of every LFADS tensor (values or gradients), bound once.
template <class B, class S>
struct LfadsTensors {
  using Gru = typename GruCell<B, S>::Tensors;
  Gru enc_fwd, enc_bwd, con, gen;
  MatrixView<S> gen_ic_w, gen_ic_b;                 // (2 gen x 2 enc), (2 gen)
  MatrixView<S> ic_prior_mean, ic_prior_logvar;     // (gen)
  MatrixView<S> con_out_w, con_out_b;               // (2 ii x con), (2 ii)
  MatrixView<S> ar_mean, ar_logatau, ar_lognvar;    // (ii)
  MatrixView<S> factors_w;                          // (factors x gen)
  MatrixView<S> logrates_w, logrates_b;             // (readout x factors), (readout)
};

template <class B, class S>
std::vector<ParamSpec> lfads_specs(const LfadsConfig& c) {
  c.validate();
  std::vector<ParamSpec> specs;
  const auto add = [&](std::vector<ParamSpec> more) { specs.insert(specs.end(), more.begin(), more.end()); };
  using Gru = GruCell<B, S>;
  add(prefixed(Gru::specs(c.enc_dim, c.data_dim), "ic_enc/fwd_rnn/"));
  add(prefixed(Gru::specs(c.enc_dim, c.data_dim), "ic_enc/bwd_rnn/"));
  add({matrix_param("gen_ic/w", 2 * c.gen_dim, 2 * c.enc_dim), vector_param("gen_ic/b", 2 * c.gen_dim),
       vector_param("ic_prior/mean", c.gen_dim), vector_param("ic_prior/logvar", c.gen_dim)});
  add(prefixed(Gru::specs(c.con_dim, c.controller_encoding_dim() + c.factors_dim), "con/"));
  add({matrix_param("con_out/w", 2 * c.ii_dim, c.con_dim), vector_param("con_out/b", 2 * c.ii_dim),
       vector_param("ii_prior/mean", c.ii_dim), vector_param("ii_prior/logatau", c.ii_dim),
       vector_param("ii_prior/lognvar", c.ii_dim)});
  add(prefixed(Gru::specs(c.gen_dim, c.ii_dim + c.ext_input_dim), "gen/"));
  add({matrix_param("factors/w", c.factors_dim, c.gen_dim), matrix_param("logrates/w", c.readout_dim(), c.factors_dim),
       vector_param("logrates/b", c.readout_dim())});
  return specs;
}

namespace lfads_detail {
template <class B, class S>
LfadsTensors<B, S> bind(Parameters<B, S>& p, bool grads) {
  const auto v = [&](const std::string& name) { return grads ? p.grad(name) : p.value(name); };
  const auto gru = [&](const std::string& prefix) {
    return grads ? bind_grads<GruCell<B, S>>(p, prefix) : bind_values<GruCell<B, S>>(p, prefix);
  };
  return {gru("ic_enc/fwd_rnn/"), gru("ic_enc/bwd_rnn/"), gru("con/"), gru("gen/"),
          v("gen_ic/w"), v("gen_ic/b"), v("ic_prior/mean"), v("ic_prior/logvar"), v("con_out/w"), v("con_out/b"),
          v("ii_prior/mean"), v("ii_prior/logatau"), v("ii_prior/lognvar"), v("factors/w"), v("logrates/w"),
          v("logrates/b")};
}
}  // namespace lfads_detail

template <class B, class S>
LfadsTensors<B, S> bind_lfads_values(Parameters<B, S>& p) {
  return lfads_detail::bind(p, false);
}
template <class B, class S>
LfadsTensors<B, S> bind_lfads_grads(Parameters<B, S>& p) {
  return lfads_detail::bind(p, true);
}

// The tutorial's initial values (lfads_params), drawn from rng.
template <class B, class S>
void initialize_lfads(typename B::context& ctx, Parameters<B, S>& params, const LfadsConfig& c, Rng& rng) {
  const auto w = bind_lfads_values(params);
  const typename GruCell<B, S>::Init gru_init{S(1), S(1), S(0)};
  for (const auto& gru : {w.enc_fwd, w.enc_bwd, w.con, w.gen}) GruCell<B, S>::initialize(ctx, gru, rng, gru_init);
  for (auto m : {w.gen_ic_w, w.con_out_w, w.factors_w, w.logrates_w})
    upload<B, S>(ctx, random_normal<S>(rng, m.rows, m.cols, S(1) / std::sqrt(S(m.cols))), m);
  for (auto b : {w.gen_ic_b, w.con_out_b, w.logrates_b, w.ic_prior_mean}) B::fill(ctx, b, S(0));
  B::fill(ctx, w.ic_prior_logvar, S(std::log(c.ic_prior_var)));
  B::fill(ctx, w.ar_mean, S(c.ar_mean));
  B::fill(ctx, w.ar_logatau, S(std::log(c.ar_tau)));
  B::fill(ctx, w.ar_lognvar, S(std::log(c.ar_noise_var)));
}

}  // namespace ctd
