#pragma once
// The contextual-processing tutorial's analysis of a GRU trained on the toy
// sentiment language, in double precision:
//   1. fixed points (input 0) from the network's states on random reviews:
//      a line attractor of accumulated valence;
//   2. the linearisation at the mean state before the modifier of the
//      probe reviews (noise words only, so every review sits at valence 0):
//      the integration mode (eigenvalue ~ 1), the complex pair that carries
//      "not", the fast real mode that carries "very";
//   3. each valence word's one-step effect on the readout,
//      E(h, w) = wO (F(h, x_w) - F(h, 0)), against the input Jacobian's
//      prediction wO dF/dx(h, 0) x_w, at the states on the line, after
//      very1, after not4 and three words after not4;
//   4. the modifiers' deflections (the state after the modifier less the
//      state after a noise word) in the eigenmodes: the angles to each
//      mode's left eigenvectors, and the share of the modifier's effect
//      that goes when modes are taken out of the deflection (for not4 also
//      over its four-word window, the state running on under input 0);
//   5. the notebook's own perturbation experiment (toy_model_for_context_
//      ICML_2020.ipynb, Supplemental Figure 14), step for step: at the
//      slow point nearest the modifier's state, modes taken out of the
//      deflection's left-eigenvector span in the notebook's ranking.
// Everything goes to analysis.h5 and the returned JSON (summary.json).
#include <algorithm>
#include <array>
#include <cmath>
#include <complex>
#include <filesystem>
#include <limits>
#include <numbers>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "common/cli.hpp"
#include "common/fixed_point_report.hpp"
#include "ctd/analysis/dynamical_map.hpp"
#include "ctd/analysis/linearization.hpp"
#include "ctd/analysis/modes.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/io/trained_network.hpp"
#include "ctd/tasks/toy_language.hpp"
#include "ctd/train/rnn_regressor.hpp"

namespace ctd::examples {

struct ToyAnalysisOptions {
  Index length = 50;              // words per review, as in training
  Index candidate_reviews = 100;  // x length = the fixed-point candidates (5000)
  Index probe_reviews = 256;
  std::uint64_t seed = 0;
  FixedPointSettings fixed_points = [] {
    FixedPointSettings s;
    s.tolerances = {1e-4, 1e-5, 2e-6};
    s.finder.unique_tol = 0.0125;
    return s;
  }();

  void add_to(CLI::App& app) {
    app.add_option("--candidate-reviews", candidate_reviews,
                   "random reviews whose states are the fixed-point candidates")
        ->capture_default_str()
        ->check(examples::positive);
    app.add_option("--probe-reviews", probe_reviews, "noise-word reviews behind each probe")
        ->capture_default_str()
        ->check(examples::positive);
    app.add_option("--analysis-seed", seed, "seed of the candidate and probe reviews")->capture_default_str();
    fixed_points.add_to(app, "fp-");
  }
};

namespace toy_analysis {

using Network = RnnRegressor<GruCell, cpu, double>;
using Map = StepMap<GruCell<cpu, double>>;
namespace lang = toy_language;

// The states (n x T*B, time-major) of the network on the reviews.
inline HostMatrix<double> run(cpu::context& ctx, Network& net, const std::vector<std::vector<lang::Word>>& reviews) {
  net.load(ctx, lang::review_batch<double>(reviews));
  net.forward(ctx);
  return download<cpu, double>(ctx, net.states());
}

// The mean over trials of the state after input t.
inline Eigen::VectorXd mean_state(const HostMatrix<double>& states, Index t, Index trials) {
  return states.middleCols(t * trials, trials).rowwise().mean();
}

inline HostMatrix<double> one_hot(Index word) {
  HostMatrix<double> x = HostMatrix<double>::Zero(lang::vocabulary_size, 1);
  if (word >= 0) x(word, 0) = 1;
  return x;
}

// The readout's one-step response to the inputs.
struct Readout {
  cpu::context& ctx;
  const Map& map;
  Eigen::RowVectorXd wO;
  Eigen::VectorXd F(const Eigen::VectorXd& h, Index word) const {
    return evaluate_at(ctx, map, HostMatrix<double>(h), one_hot(word));
  }
  // E(h, w) = wO (F(h, x_w) - F(h, 0)).
  double effect(const Eigen::VectorXd& h, Index word) const { return (wO * (F(h, word) - F(h, -1))).value(); }
  // wO dF/dx(h, 0) x_w.
  double linear_effect(const Eigen::VectorXd& h, Index word) const {
    HostMatrix<double> X;
    Scratch<cpu, double> scratch;
    jacobians_at(ctx, map, HostMatrix<double>(h), one_hot(-1), nullptr, &X, scratch);  // dF/dx only
    return (wO * X.col(word)).value();
  }
};

inline io::Array vector_array(const std::vector<double>& v) { return io::Array{{v.size()}, v}; }

inline void set_eigenvalues(io::Dict& file, const std::string& key, const Eigen::VectorXcd& values) {
  const Eigen::VectorXd re = values.real(), im = values.imag();
  file.set(key + "_real", vector_array({re.data(), re.data() + re.size()}));
  file.set(key + "_imag", vector_array({im.data(), im.data() + im.size()}));
}

inline nlohmann::json complex_json(std::complex<double> z) { return {z.real(), z.imag()}; }

// The eigenvalues of dF/dh at the parameters' own h0 (input 0).
inline Eigen::VectorXcd eigenvalues_at_h0(cpu::context& ctx, const io::Dict& dict) {
  const io::NetworkShape shape = io::network_shape(dict);
  Parameters<cpu, double> p = io::load_network<cpu, double>(ctx, dict, shape);
  const Map map(GruCell<cpu, double>(shape.state_size, shape.input_size), bind_values<GruCell<cpu, double>>(p));
  HostMatrix<double> J, X;
  Scratch<cpu, double> scratch;
  jacobians_at(ctx, map, download<cpu, double>(ctx, p.value("h0")),
               HostMatrix<double>::Zero(shape.input_size, 1), &J, &X, scratch);
  return eigen_decomposition(J, EigenOrder::magnitude, false).values;
}

// The first of the groups that `fits`, or an error naming `what`.
template <class Fits>
std::vector<Index> first_group(const std::vector<std::vector<Index>>& groups, Fits fits, const std::string& what) {
  const auto g = std::find_if(groups.begin(), groups.end(), fits);
  require(g != groups.end(), "contextual analysis: the spectrum before the modifier has no " + what);
  return *g;
}

// The mode groups, each with its score(group), highest score first (ties
// in the decomposition's order).
template <class Score>
std::vector<std::pair<double, std::vector<Index>>> ranked_groups(const EigenDecomposition& e, Score score) {
  std::vector<std::pair<double, std::vector<Index>>> ranked;
  for (auto& g : mode_groups(e)) {
    const double s = score(g);
    ranked.push_back({s, std::move(g)});
  }
  std::stable_sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) { return x.first > y.first; });
  return ranked;
}

// The mode groups ordered by the size of the deflection's part in them
// (a complex pair's part is real and counts both modes), largest first.
inline std::vector<std::vector<Index>> groups_by_weight(const EigenDecomposition& e, const Eigen::VectorXd& d) {
  std::vector<std::vector<Index>> sorted;
  for (auto& [weight, g] : ranked_groups(e, [&](const auto& g) { return (d - remove_modes(e, d, g)).norm(); }))
    sorted.push_back(std::move(g));
  return sorted;
}

}  // namespace toy_analysis

// The whole analysis of the network in `dict`; `initial` (may be null)
// holds the parameters before training, for the spectrum at h0.
inline nlohmann::json analyse_toy_network(cpu::context& ctx, const io::Dict& dict, const io::Dict* initial,
                                          const ToyAnalysisOptions& opt, const std::filesystem::path& out) {
  using namespace toy_analysis;
  const io::NetworkShape shape = io::network_shape(dict);
  const Index n = shape.state_size, u = shape.input_size;
  Network net(n, u, 1);
  io::load_parameters(ctx, dict, net.parameters());
  Parameters<cpu, float> params32 = io::load_network<cpu, float>(ctx, dict, shape);
  const StepMap<GruCell<cpu, float>> map32(GruCell<cpu, float>(n, u), bind_values<GruCell<cpu, float>>(params32));
  const Map map(GruCell<cpu, double>(n, u), net.cell_values());
  const Eigen::RowVectorXd wO = download<cpu, double>(ctx, net.parameters().value("wO"));
  const double bO = download<cpu, double>(ctx, net.parameters().value("bO"))(0, 0);
  const auto readout = [&](const HostMatrix<double>& h) {
    return HostMatrix<double>((wO * h).array() + bO);
  };
  const Readout response{ctx, map, wO};
  Rng rng(opt.seed);
  io::Dict file;
  nlohmann::json result;

  // 1. Fixed points and the line attractor.
  const Index length = opt.length;
  const HostMatrix<double> candidates = run(ctx, net, lang::random_review_list(rng, opt.candidate_reviews, length));
  const HostMatrix<double> candidate_readouts = readout(candidates);
  fmt::print("{} candidates: states of {} random reviews\n", candidates.cols(), opt.candidate_reviews);
  FixedPointSettings fp = opt.fixed_points;
  fp.finder.seed = Rng::bits_at(opt.seed, 1);
  const FixedPointReport report = fixed_points_at_tolerances(
      ctx, map32, map, HostMatrix<float>(candidates.cast<float>()), HostMatrix<float>::Zero(u, 1), fp, readout, file);
  file.set("candidate_readouts", row_major(candidate_readouts));
  const nlohmann::json& last = report.last;
  result["fixed_points"] = {
      {"candidates", candidates.cols()},
      {"per_tolerance", report.per_tolerance},
      {"line_readout_min", last["readout_min"]},
      {"line_readout_max", last["readout_max"]},
      {"network_output_min", candidate_readouts.minCoeff()},
      {"network_output_max", candidate_readouts.maxCoeff()},
      {"top_eigenvalue_real_median", last["top_eigenvalue_real_median"]},
      {"top_eigenvalue_within_0.05_of_1_fraction", last["top_eigenvalue_within_0.05_of_1_fraction"]}};

  // 2. The probes' states and the spectrum before the modifier.
  const auto background = lang::noise_reviews(rng, opt.probe_reviews, length);
  const auto probe_states = [&](std::string_view name) {
    for (const auto& p : lang::tutorial_probes())
      if (p.name == name) return run(ctx, net, lang::with_probe(background, p));
    throw Error("no probe " + std::string(name));
  };
  const Index B = opt.probe_reviews, mid = length / 2;
  const HostMatrix<double> plain = run(ctx, net, background), very = probe_states("very1"), nots = probe_states("not4");
  const Eigen::VectorXd before = mean_state(plain, mid - 1, B);
  const std::array<std::pair<const char*, Eigen::VectorXd>, 4> states{{{"line", mean_state(plain, mid, B)},
                                                                       {"after very1", mean_state(very, mid, B)},
                                                                       {"after not4", mean_state(nots, mid, B)},
                                                                       {"three words after not4", mean_state(nots, mid + 3, B)}}};
  const Eigen::VectorXd& line = states[0].second;
  const Eigen::VectorXd d_very = states[1].second - line, d_not = states[2].second - line;
  HostMatrix<double> J, X;
  Scratch<cpu, double> scratch;
  jacobians_at(ctx, map, HostMatrix<double>(before), one_hot(-1), &J, &X, scratch);
  const EigenDecomposition eig = eigen_decomposition(J, EigenOrder::magnitude);
  set_eigenvalues(file, "before_modifier/eigenvalues", eig.values);
  // The integration mode: the eigenvalue nearest 1. The "not" pair: the
  // complex pair the not4 deflection weighs most on; the "very" mode: the
  // fast real mode (decaying by e within one step, |lambda| < 1/e, as very1
  // acts on the next word alone) the very1 deflection weighs most on, or,
  // in a network with no fast real mode (an untrained one), the real mode
  // besides the integration mode it weighs most on.
  Index integration = 0;
  for (Index i = 0; i < eig.values.size(); ++i)
    if (std::abs(eig.values(i) - 1.0) < std::abs(eig.values(integration) - 1.0)) integration = i;
  const auto not_groups = groups_by_weight(eig, d_not), very_groups = groups_by_weight(eig, d_very);
  const auto not_pair = first_group(not_groups, [](const auto& g) { return g.size() == 2; }, "complex pair");
  const auto real_mode = [&](const auto& g) { return g.size() == 1 && g[0] != integration; };
  const auto fast_mode = [&](const auto& g) { return real_mode(g) && std::abs(eig.values(g[0])) < std::exp(-1.0); };
  const bool very_mode_is_fast = std::any_of(very_groups.begin(), very_groups.end(), fast_mode);
  const auto very_mode = very_mode_is_fast ? first_group(very_groups, fast_mode, "fast real mode")
                                           : first_group(very_groups, real_mode, "real mode besides the integration mode");
  const auto rotation_degrees = [&](Index i) { return std::abs(std::arg(eig.values(i))) * 180.0 / std::numbers::pi; };
  const auto modes_json = [&](Index i) {
    return nlohmann::json{{"index", i}, {"eigenvalue", complex_json(eig.values(i))}, {"magnitude", std::abs(eig.values(i))}};
  };
  result["spectrum_before_modifier"] = {
      {"integration_mode", modes_json(integration)},
      {"not_pair", modes_json(not_pair[0])},
      {"not_pair_steps_to_decay_by_e", std::abs(eig.values(not_pair[0])) < 1
                                             ? nlohmann::json(-1.0 / std::log(std::abs(eig.values(not_pair[0]))))
                                             : nlohmann::json()},
      {"not_pair_rotation_per_step_degrees", rotation_degrees(not_pair[0])},
      {"very_mode", modes_json(very_mode[0])},
      {"very_mode_is_fast", very_mode_is_fast},
      {"largest_magnitudes", [&] {
         nlohmann::json top = nlohmann::json::array();
         for (Index i = 0; i < std::min<Index>(8, eig.values.size()); ++i) top.push_back(complex_json(eig.values(i)));
         return top;
       }()}};

  // 3. The input Jacobian's prediction against the full one-step effect.
  const std::array<const char*, 4> valence_words{"good1", "awesome1", "bad1", "awful1"};
  HostMatrix<double> linear(4, 4), full(4, 4);
  Index sign_agreement = 0, expected_sign = 0;
  nlohmann::json table = nlohmann::json::array();
  for (Index s = 0; s < 4; ++s)
    for (Index w = 0; w < 4; ++w) {
      const Index word = lang::word_index(valence_words[std::size_t(w)]);
      linear(s, w) = response.linear_effect(states[std::size_t(s)].second, word);
      full(s, w) = response.effect(states[std::size_t(s)].second, word);
      // The task's answer: the word's valence, doubled after very1 and negated within not4's window.
      const double valence = lang::rule(word).valence * (s == 1 ? 2.0 : s >= 2 ? -1.0 : 1.0);
      sign_agreement += (linear(s, w) > 0) == (full(s, w) > 0);
      expected_sign += (full(s, w) > 0) == (valence > 0);
      table.push_back({{"state", states[std::size_t(s)].first},
                       {"word", valence_words[std::size_t(w)]},
                       {"linear", linear(s, w)},
                       {"full", full(s, w)},
                       {"task_valence", valence}});
    }
  file.set("input_jacobian/linear", io::to_array<double>(HostMatrix<double>(linear.transpose())));
  file.set("input_jacobian/full", io::to_array<double>(HostMatrix<double>(full.transpose())));
  result["input_jacobian"] = {{"table", table},
                              {"sign_agreement", sign_agreement},
                              {"full_effect_sign_as_task", expected_sign},
                              {"combinations", 16}};
  fmt::print("input Jacobian: sign agreement with the full step {}/16; full effect has the task's sign {}/16\n",
             sign_agreement, expected_sign);

  // 4. Angles and deletions.
  const auto groups = mode_groups(eig);
  std::vector<double> group_mode, angle_not, angle_very;
  for (const auto& g : groups) {
    group_mode.push_back(double(g[0]));
    angle_not.push_back(angle_to_left_mode(eig, g[0], d_not) * 180.0 / std::numbers::pi);
    angle_very.push_back(angle_to_left_mode(eig, g[0], d_very) * 180.0 / std::numbers::pi);
  }
  file.set("angles/mode_index", vector_array(group_mode));
  file.set("angles/not4_degrees", vector_array(angle_not));
  file.set("angles/very1_degrees", vector_array(angle_very));
  const auto angle_json = [&](const Eigen::VectorXd& d) {
    return nlohmann::json{{"integration_mode", angle_to_left_mode(eig, integration, d) * 180.0 / std::numbers::pi},
                          {"not_pair", angle_to_left_mode(eig, not_pair[0], d) * 180.0 / std::numbers::pi},
                          {"very_mode", angle_to_left_mode(eig, very_mode[0], d) * 180.0 / std::numbers::pi}};
  };
  result["angles_degrees"] = {{"not4_deflection", angle_json(d_not)}, {"very1_deflection", angle_json(d_very)}};

  // The share of a modifier's effect left when `modes` are taken out of its
  // deflection d, over the first `words` valence words after it: with e_kw
  // the change that d makes to word w's effect k steps of input 0 after
  // the modifier, and e'_kw the change with d less the modes, the
  // least-squares share sum e'_kw e_kw / sum e_kw^2 (a modifier that changes
  // nothing has no share to take). very1 acts on one word, not4 on four.
  // h and the states after each of the next steps - 1 inputs 0.
  const auto input0_states = [&](const Eigen::VectorXd& h, Index steps) {
    std::vector<Eigen::VectorXd> states{h};
    while (Index(states.size()) < steps) states.push_back(response.F(states.back(), -1));
    return states;
  };
  const auto remaining = [&](const Eigen::VectorXd& d, const std::vector<Index>& modes, Index words) {
    const auto on_line = input0_states(line, words), full = input0_states(line + d, words),
               kept = input0_states(line + remove_modes(eig, d, modes), words);
    double num = 0, den = 0;
    for (Index k = 0; k < words; ++k)
      for (const char* name : valence_words) {
        const Index word = lang::word_index(name);
        const double base = response.effect(on_line[std::size_t(k)], word);
        const double full_change = response.effect(full[std::size_t(k)], word) - base;
        num += (response.effect(kept[std::size_t(k)], word) - base) * full_change;
        den += full_change * full_change;
      }
    require(den > 1e-12, "contextual analysis: the modifier changes no valence word's effect (is the network trained?)");
    return num / den;
  };
  constexpr Index not_words = 4;
  const auto cumulative = [&](const Eigen::VectorXd& d, const std::vector<std::vector<Index>>& order) {
    std::vector<double> curve{remaining(d, {}, 1)};
    std::vector<Index> removed;
    for (const auto& g : order) {
      removed.insert(removed.end(), g.begin(), g.end());
      curve.push_back(remaining(d, removed, 1));
    }
    return curve;
  };
  const std::vector<double> curve_not = cumulative(d_not, not_groups), curve_very = cumulative(d_very, very_groups);
  file.set("deletion/not4_remaining", vector_array(curve_not));
  file.set("deletion/very1_remaining", vector_array(curve_very));
  // not4's window: good1's effect k = 0..5 steps of input 0 after not4 and
  // after a noise word, and the complex pair whose removal takes the most
  // of not4's effect over its four words (the spectrum has one: not_pair).
  std::vector<double> good_after_not, good_on_line;
  for (const auto& h : input0_states(line + d_not, not_words + 2))
    good_after_not.push_back(response.effect(h, lang::word_index("good1")));
  for (const auto& h : input0_states(line, not_words + 2))
    good_on_line.push_back(response.effect(h, lang::word_index("good1")));
  file.set("not4_window/good1_effect_after_not4", vector_array(good_after_not));
  file.set("not4_window/good1_effect_on_line", vector_array(good_on_line));
  std::vector<Index> window_pair;
  double window_pair_removed = -std::numeric_limits<double>::infinity();
  for (const auto& g : groups)
    if (g.size() == 2)
      if (const double removed = 1 - remaining(d_not, g, not_words); removed > window_pair_removed) {
        window_pair = g;
        window_pair_removed = removed;
      }
  const double not_removed = 1 - remaining(d_not, not_pair, 1), very_removed = 1 - remaining(d_very, very_mode, 1);
  result["perturbation"] = {{"not4_effect_removed_by_complex_pair", not_removed},
                            {"very1_amplification_removed_by_fast_real_mode", very_removed},
                            {"not4_effect_removed_by_integration_mode", 1 - remaining(d_not, {integration}, 1)},
                            {"very1_amplification_removed_by_integration_mode", 1 - remaining(d_very, {integration}, 1)},
                            {"not4_window_effect_removed_by_complex_pair", 1 - remaining(d_not, not_pair, not_words)}};
  result["not4_window"] = {{"good1_effect_after_not4", good_after_not},
                           {"good1_effect_on_line", good_on_line},
                           {"pair_removing_most", modes_json(window_pair[0])},
                           {"pair_removing_most_rotation_per_step_degrees", rotation_degrees(window_pair[0])},
                           {"pair_removing_most_share_removed", window_pair_removed}};
  fmt::print("removing the complex pair {:.3f}{:+.3f}i removes {:.1f}% of the not4 effect; removing the real mode "
             "{:.3f} removes {:.1f}% of the very1 amplification\n",
             eig.values(not_pair[0]).real(), std::abs(eig.values(not_pair[0]).imag()), 100 * not_removed,
             eig.values(very_mode[0]).real(), 100 * very_removed);
  fmt::print("good1's effect 0..{} words after not4 (input 0): {:.2f}", not_words + 1, fmt::join(good_after_not, " "));
  fmt::print("; over not4's four words, removing the pair {:.3f}{:+.3f}i removes the most: {:.1f}%\n",
             eig.values(window_pair[0]).real(), std::abs(eig.values(window_pair[0]).imag()), 100 * window_pair_removed);

  // 5. The notebook's own perturbation experiment (Supplemental Figure
  // 14): at the slow point nearest the state after the modifier, the
  // deflection from it less the projection on some modes' left
  // eigenvectors (remove_left_span), the modes ranked by how much of the
  // effect each keeps alone, and the readout after "a a bad1" (not4) or
  // "bad1" (very1) as they are removed in that order. The effect runs from
  // the readout from the modifier's state (all of it) to the readout from
  // the state before not4, or from the slow point for very1 (none of it).
  const HostMatrix<double>& slow_points = report.last_points;
  const auto readout_after = [&](Eigen::VectorXd h, const std::vector<Index>& words) {
    for (Index w : words) h = response.F(h, w);
    return (wO * h).value() + bO;
  };
  const auto notebook_experiment = [&](const char* modifier, const Eigen::VectorXd& point,
                                       const std::vector<Index>& words, const Eigen::VectorXd* before_modifier) {
    Index nearest = 0;
    (slow_points.colwise() - point).colwise().squaredNorm().minCoeff(&nearest);
    const Eigen::VectorXd fp = slow_points.col(nearest), deflection = point - fp;
    HostMatrix<double> J;
    jacobians_at(ctx, map, HostMatrix<double>(fp), one_hot(-1), &J, nullptr, scratch);
    const EigenDecomposition e = eigen_decomposition(J, EigenOrder::magnitude);
    const double all = readout_after(point, words), none = readout_after(before_modifier ? *before_modifier : fp, words);
    const auto readout_less = [&](const std::vector<Index>& modes) {
      return readout_after(fp + remove_left_span(e, deflection, modes), words);
    };
    // The share of the effect each group keeps alone, every other mode removed.
    const auto kept_alone = ranked_groups(e, [&](const std::vector<Index>& g) {
      std::vector<Index> others;
      for (Index i = 0; i < e.values.size(); ++i)
        if (std::find(g.begin(), g.end(), i) == g.end()) others.push_back(i);
      return (readout_less(others) - none) / (all - none);
    });
    std::vector<double> removed_curve;
    std::vector<Index> removed;
    nlohmann::json order = nlohmann::json::array();
    for (std::size_t r = 0; r < std::min<std::size_t>(10, kept_alone.size()); ++r) {
      const auto& [kept, g] = kept_alone[r];
      removed.insert(removed.end(), g.begin(), g.end());
      removed_curve.push_back((all - readout_less(removed)) / (all - none));
      order.push_back({{"eigenvalue", complex_json(e.values(g[0]))}, {"kept_alone", kept}});
    }
    file.set(std::string("notebook_deletion/") + modifier + "_removed", vector_array(removed_curve));
    const auto& top = kept_alone[0].second;
    const double fp_readout = readout_after(fp, {});
    fmt::print("notebook's experiment, {}: the slow point nearest (readout {:.3f}, {:.3f} away); the mode "
               "{:.3f}{:+.3f}i ranks first and removing it removes {:.1f}% of the effect\n",
               modifier, fp_readout, deflection.norm(), e.values(top[0]).real(), std::abs(e.values(top[0]).imag()),
               100 * removed_curve[0]);
    return nlohmann::json{{"slow_point_readout", fp_readout},
                          {"deflection_norm", deflection.norm()},
                          {"readout_with_modifier", all},
                          {"readout_without", none},
                          {"first_mode", {{"eigenvalue", complex_json(e.values(top[0]))},
                                          {"magnitude", std::abs(e.values(top[0]))}}},
                          {"first_is_complex_pair", top.size() == 2},
                          {"removed_by_first", removed_curve[0]},
                          {"removed_cumulative", removed_curve},
                          {"ranking", order}};
  };
  const Index a = lang::word_index("a"), bad = lang::word_index("bad1");
  if (slow_points.cols() > 0)
    result["notebook_perturbation"] = {
        {"not4", notebook_experiment("not4", states[2].second, {a, a, bad}, &before)},
        {"very1", notebook_experiment("very1", states[1].second, {bad}, nullptr)}};
  else
    fmt::print("notebook's experiment: no slow points at the last tolerance to run it from\n");

  // The spectrum at h0 before and after training.
  set_eigenvalues(file, "h0/trained_eigenvalues", eigenvalues_at_h0(ctx, dict));
  if (initial) set_eigenvalues(file, "h0/initial_eigenvalues", eigenvalues_at_h0(ctx, *initial));
  io::write_h5(out / "analysis.h5", file);
  return result;
}

}  // namespace ctd::examples
