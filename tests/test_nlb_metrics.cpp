// Neural Latents Benchmark metrics (ctd/lfads/metrics.hpp): on seeded
// synthetic data in nlb_tools' layout — Poisson spikes with NaN-masked
// entries, zero rates, an all-NaN and a silent neuron, held-in, held-out and
// forward splits, conditions with jitter, a behaviour linear in the true
// rates with NaN bins — every metric agrees with an independent NumPy
// implementation of nlb_tools' definitions (tests/nlb_metrics_reference.py)
// to relative 1e-9, and the decoder's grid search picks the same alpha.
// Also: the null model scores 0 bits/spike, the true rates beat it, and bad
// input is a ctd::Error naming the argument and the expected shape.

#include <catch2/catch.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "ctd/core/rng.hpp"
#include "ctd/io/h5_dict.hpp"
#include "ctd/lfads/metrics.hpp"
#include "error_of.hpp"
#include "temp_dir.hpp"

// A named namespace, test cases included: this file shares a unity
// translation unit with others, whose anonymous namespaces it must not meet.
namespace nlb_metrics_test {

using ctd::Index;
using Eigen::MatrixXd;
namespace fs = std::filesystem;
namespace nlb = ctd::nlb;

const fs::path reference_script = fs::path(__FILE__).parent_path() / "nlb_metrics_reference.py";
const double kNaN = std::numeric_limits<double>::quiet_NaN();

void require_h5py() {
  if (std::system("/usr/bin/python3 -c 'import h5py, numpy' > /dev/null 2>&1") != 0)
    FAIL("h5py is not available to /usr/bin/python3: install python3-h5py (apt-get install python3-h5py)");
  REQUIRE(fs::is_regular_file(reference_script));
}

// Runs the reference on fixture -> results; its stdout and stderr together.
std::string run_reference(const ctd::testing::TempDir& dir, const fs::path& fixture, const fs::path& results,
                          int& rc) {
  const fs::path log = dir.path / "python.log";
  const std::string cmd = "/usr/bin/python3 '" + reference_script.string() + "' '" + fixture.string() + "' '" +
                          results.string() + "' > '" + log.string() + "' 2>&1";
  rc = std::system(cmd.c_str());
  std::ifstream in(log);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A (trials*T) x n matrix as nlb_tools' (trials, T, n) array; 2-D when trials is 0.
void put(ctd::io::Dict& d, const std::string& key, const MatrixXd& m, Index trials = 0) {
  std::vector<double> v(std::size_t(m.size()));
  for (Index i = 0; i < m.rows(); ++i)
    for (Index j = 0; j < m.cols(); ++j) v[std::size_t(i * m.cols() + j)] = m(i, j);
  std::vector<std::size_t> shape{std::size_t(m.rows()), std::size_t(m.cols())};
  if (trials > 0) shape = {std::size_t(trials), std::size_t(m.rows() / trials), std::size_t(m.cols())};
  d.set<double>(key, shape, std::move(v));
}

void put_ints(ctd::io::Dict& d, const std::string& key, const std::vector<int>& v) {
  d.set<std::int64_t>(key, {v.size()}, std::vector<std::int64_t>(v.begin(), v.end()));
}

struct Sizes {
  std::uint64_t seed;
  Index train_trials, eval_trials, T, forward, heldin, heldout, conditions;
  double rate;                        // typical true rate per bin
  double rate_noise, behavior_noise;  // model rates = true * exp(rate_noise N); behaviour noise sd
};

// Everything evaluate() reads, rows = trial*T + t.
struct Data {
  MatrixXd eval_spikes_heldout, eval_rates_heldin, eval_rates_heldout, eval_true_heldout;
  MatrixXd spikes_in_fwd, spikes_out_fwd, rates_in_fwd, rates_out_fwd;
  MatrixXd train_rates, train_behavior, eval_rates, eval_behavior;  // rates: [heldin | heldout]
  MatrixXd psth;                                                   // (conditions*T, neurons)
  std::vector<int> condition, jitter;
};

Data make_data(const Sizes& s) {
  ctd::Rng rng(s.seed);
  const Index n = s.heldin + s.heldout, latents = 3, bins = s.T + s.forward;
  MatrixXd loading(latents, n), weights(n, 2), phase(s.conditions, latents);
  Eigen::RowVectorXd base(n);
  for (Index i = 0; i < n; ++i) base(i) = std::log(s.rate) + 0.3 * rng.normal();
  for (Index k = 0; k < loading.size(); ++k) loading.data()[k] = 0.5 * rng.normal();
  for (Index k = 0; k < weights.size(); ++k) weights.data()[k] = rng.normal();
  for (Index k = 0; k < phase.size(); ++k) phase.data()[k] = 6.283 * rng.uniform();

  // Latents of one trial over T + forward bins: a condition's rotation plus
  // the trial's own offset and per-bin noise. A trial jittered by j bins
  // sees at its bin t the condition's time t + j, so that nlb_tools'
  // jitter_trial (its rates shifted j bins later) realigns it.
  const auto latent = [&](Index c, Index j) {
    MatrixXd z(bins, latents);
    Eigen::RowVectorXd offset(latents);
    for (Index d = 0; d < latents; ++d) offset(d) = 0.5 * rng.normal();
    for (Index t = 0; t < bins; ++t)
      for (Index d = 0; d < latents; ++d)
        z(t, d) = std::cos(0.5 * double(d + 1) * double(t + j) + phase(c, d)) + offset(d) + 0.3 * rng.normal();
    return z;
  };
  // exp(base + z loading) and truth weights + noise, as loops: Eigen
  // products here would each cost this file a GEMM instantiation.
  const auto rates_of = [&](const MatrixXd& z) {
    MatrixXd r(z.rows(), n);
    for (Index t = 0; t < z.rows(); ++t)
      for (Index i = 0; i < n; ++i) {
        double log_rate = base(i);
        for (Index d = 0; d < latents; ++d) log_rate += z(t, d) * loading(d, i);
        r(t, i) = std::exp(log_rate);
      }
    return r;
  };
  const auto model_rates = [&](const MatrixXd& truth) {
    MatrixXd m = truth;
    for (Index k = 0; k < m.size(); ++k) m.data()[k] *= std::exp(s.rate_noise * rng.normal());
    return m;
  };
  // "Velocity": a noisy linear function of the true rates.
  const auto behavior_of = [&](const MatrixXd& truth) {
    MatrixXd b(s.T, 2);
    for (Index t = 0; t < s.T; ++t)
      for (Index c = 0; c < 2; ++c) {
        b(t, c) = s.behavior_noise * rng.normal();
        for (Index i = 0; i < n; ++i) b(t, c) += truth(t, i) * weights(i, c);
      }
    return b;
  };

  Data d;
  d.train_rates.resize(s.train_trials * s.T, n);
  d.train_behavior.resize(s.train_trials * s.T, 2);
  for (Index k = 0; k < s.train_trials; ++k) {
    const MatrixXd z = latent(k % s.conditions, 0);
    const MatrixXd truth = rates_of(z.topRows(s.T));
    d.train_rates.middleRows(k * s.T, s.T) = model_rates(truth);
    d.train_behavior.middleRows(k * s.T, s.T) = behavior_of(truth);
    d.train_behavior.row(k * s.T).setConstant(kNaN);  // dropped by the decoder
  }

  // Eval trials: the last condition gets none (skipped), the last trial is in none.
  const Index trials = s.eval_trials, in = s.heldin, out = s.heldout;
  d.eval_rates.resize(trials * s.T, n);
  d.eval_behavior.resize(trials * s.T, 2);
  d.eval_true_heldout.resize(trials * s.T, out);
  d.eval_spikes_heldout.resize(trials * s.T, out);
  d.spikes_in_fwd.resize(trials * s.forward, in);
  d.spikes_out_fwd.resize(trials * s.forward, out);
  d.rates_in_fwd.resize(trials * s.forward, in);
  d.rates_out_fwd.resize(trials * s.forward, out);
  d.psth = MatrixXd::Zero(s.conditions * s.T, n);
  std::vector<Index> members(std::size_t(s.conditions), 0);
  for (Index k = 0; k < trials; ++k) {
    const int c = k == trials - 1 ? -1 : int(k % (s.conditions - 1));
    d.condition.push_back(c);
    const int j = int(k % 3) - 1;
    d.jitter.push_back(j);
    const MatrixXd z = latent(c < 0 ? 0 : c, j);
    const MatrixXd truth = rates_of(z);
    const MatrixXd model = model_rates(truth);
    d.eval_rates.middleRows(k * s.T, s.T) = model.topRows(s.T);
    d.eval_behavior.middleRows(k * s.T, s.T) = behavior_of(truth);
    d.eval_behavior.row(k * s.T + s.T - 1).setConstant(kNaN);
    d.eval_true_heldout.middleRows(k * s.T, s.T) = truth.topLeftCorner(s.T, n).rightCols(out);
    for (Index t = 0; t < bins; ++t)
      for (Index i = 0; i < n; ++i) {
        const double count = double(rng.poisson(truth(t, i)));
        if (t < s.T) {
          if (i >= in) d.eval_spikes_heldout(k * s.T + t, i - in) = rng.uniform() < 0.05 ? kNaN : count;
        } else if (i < in) {
          d.spikes_in_fwd(k * s.forward + t - s.T, i) = count;
          d.rates_in_fwd(k * s.forward + t - s.T, i) = model(t, i);
        } else {
          d.spikes_out_fwd(k * s.forward + t - s.T, i - in) = count;
          d.rates_out_fwd(k * s.forward + t - s.T, i - in) = model(t, i);
        }
      }
    if (c >= 0) {  // the condition's mean true rates, realigned
      for (Index t = std::max<Index>(0, j); t < std::min<Index>(s.T, s.T + j); ++t)
        d.psth.row(c * s.T + t) += truth.row(t - j);
      ++members[std::size_t(c)];
    }
  }
  for (Index c = 0; c < s.conditions; ++c) {
    if (members[std::size_t(c)] > 0) d.psth.middleRows(c * s.T, s.T) /= double(members[std::size_t(c)]);
    // Outside the window: the first and last bins, where jitter pads NaN.
    d.psth.row(c * s.T).setConstant(kNaN);
    d.psth.row(c * s.T + s.T - 1).setConstant(kNaN);
  }
  d.spikes_in_fwd.col(0).setConstant(kNaN);  // a neuron never observed
  d.spikes_out_fwd.col(out - 1).setZero();  // a silent neuron: null rate 0 -> 1e-9
  // Zero predicted rates, where no spike and where a spike was counted.
  d.eval_rates.rightCols(out)(0, 0) = 0;
  for (Index k = 0; k < d.eval_spikes_heldout.size(); ++k)
    if (d.eval_spikes_heldout.data()[k] > 0) {
      d.eval_rates.rightCols(out).data()[k] = 0;
      break;
    }
  d.eval_rates_heldin = d.eval_rates.leftCols(in);
  d.eval_rates_heldout = d.eval_rates.rightCols(out);
  return d;
}

bool agrees(double cpp, double py) { return std::abs(cpp - py) <= 1e-9 * std::abs(py) + 1e-12; }

TEST_CASE("NLB metrics: co-bps, fp-bps, vel R2 and psth R2 match an independent NumPy nlb_tools", "[nlb][h5py]") {
  require_h5py();
  std::vector<double> wide;  // a wider grid than nlb_tools': 1e-3 .. 1e3
  for (int i = -3; i <= 3; ++i) wide.push_back(std::pow(10.0, i));
  // Few training trials for many neurons, so that the penalty matters (an
  // interior alpha), then more trials and a wider grid.
  const auto [sizes, alphas, interior] = GENERATE_COPY(table<Sizes, std::vector<double>, bool>(
      {{Sizes{12, 10, 12, 10, 4, 24, 8, 5, 0.2, 0.1, 0.03}, nlb::nlb_alphas(), true},
       {Sizes{13, 16, 13, 12, 3, 10, 5, 4, 0.4, 0.3, 0.6}, wide, false}}));
  CAPTURE(sizes.seed);
  const Data d = make_data(sizes);

  ctd::io::Dict fixture;
  const Index trials = sizes.eval_trials;
  put(fixture, "eval_spikes_heldout", d.eval_spikes_heldout, trials);
  put(fixture, "eval_rates_heldin", d.eval_rates_heldin, trials);
  put(fixture, "eval_rates_heldout", d.eval_rates_heldout, trials);
  put(fixture, "eval_spikes_heldin_forward", d.spikes_in_fwd, trials);
  put(fixture, "eval_spikes_heldout_forward", d.spikes_out_fwd, trials);
  put(fixture, "eval_rates_heldin_forward", d.rates_in_fwd, trials);
  put(fixture, "eval_rates_heldout_forward", d.rates_out_fwd, trials);
  put(fixture, "train_rates_heldin", d.train_rates.leftCols(sizes.heldin), sizes.train_trials);
  put(fixture, "train_rates_heldout", d.train_rates.rightCols(sizes.heldout), sizes.train_trials);
  put(fixture, "train_behavior", d.train_behavior, sizes.train_trials);
  put(fixture, "eval_behavior", d.eval_behavior, trials);
  put(fixture, "psth", d.psth, sizes.conditions);
  put_ints(fixture, "eval_condition", d.condition);
  put_ints(fixture, "eval_jitter", d.jitter);
  fixture.set<double>("alphas", {alphas.size()}, alphas);
  // r2_score's constant targets: predicted exactly (1) and not (0).
  MatrixXd r2_truth(6, 4), r2_pred(6, 4);
  for (Index i = 0; i < 6; ++i) {
    r2_truth.row(i) << std::sin(double(i)), 2.0, 0.5, double(i * i);
    r2_pred.row(i) << std::sin(double(i)) + 0.1 * std::cos(3.0 * double(i)), 2.0, 0.5 + 1e-3 * double(i),
        double(i * i);
  }
  put(fixture, "r2_truth", r2_truth);
  put(fixture, "r2_pred", r2_pred);

  ctd::testing::TempDir dir;
  const fs::path fixture_file = dir.path / "fixture.h5", results_file = dir.path / "results.h5";
  ctd::io::write_h5(fixture_file, fixture);
  int rc = 0;
  const std::string log = run_reference(dir, fixture_file, results_file, rc);
  INFO("nlb_metrics_reference.py:\n" << log);
  REQUIRE(rc == 0);
  const ctd::io::Dict py = ctd::io::read_h5(results_file);
  const auto scalar = [&](const std::string& key) { return py.get<double>(key, {})[0]; };

  const double nll = nlb::poisson_nll(d.eval_rates_heldout, d.eval_spikes_heldout);
  const double co = nlb::co_bps(d.eval_rates_heldout, d.eval_spikes_heldout);
  const double fp = nlb::fp_bps(d.rates_in_fwd, d.rates_out_fwd, d.spikes_in_fwd, d.spikes_out_fwd);
  const double psth = nlb::psth_r2(d.eval_rates, sizes.T, d.condition, d.psth, d.jitter);
  const nlb::Decoding vel = nlb::velocity_r2(d.train_rates, d.train_behavior, d.eval_rates, d.eval_behavior, alphas);
  const double r2 = nlb::r2_score(r2_truth, r2_pred);

  std::ostringstream table;  // shown on failure, and under -s
  table.precision(17);
  const auto row = [&](const char* name, double cpp, const std::string& key) {
    table << "\n  " << name << "  C++ " << cpp << "  NumPy " << scalar(key) << "  diff " << cpp - scalar(key);
  };
  row("nll    ", nll, "nll");
  row("co-bps ", co, "co_bps");
  row("fp-bps ", fp, "fp_bps");
  row("psth R2", psth, "psth_r2");
  row("vel R2 ", vel.r2, "vel_r2");
  row("alpha  ", vel.search.model.alpha, "vel_alpha");
  row("r2     ", r2, "r2");
  INFO("C++ vs NumPy:" << table.str());
  CHECK(agrees(nll, scalar("nll")));
  CHECK(agrees(co, scalar("co_bps")));
  CHECK(agrees(fp, scalar("fp_bps")));
  CHECK(agrees(psth, scalar("psth_r2")));
  CHECK(agrees(vel.r2, scalar("vel_r2")));
  CHECK(agrees(r2, scalar("r2")));
  // Constant truth predicted exactly scores 1, otherwise 0.
  CHECK(nlb::r2_score(r2_truth.rightCols(3), r2_pred.rightCols(3)) == Approx(2.0 / 3.0).epsilon(1e-15));
  // The same alpha of the same grid, and every CV score.
  CHECK(std::int64_t(vel.search.best) == py.get<std::int64_t>("vel_best", {})[0]);
  CHECK(vel.search.model.alpha == scalar("vel_alpha"));
  const std::vector<double> cv = py.get<double>("vel_cv_scores", {alphas.size()});
  for (std::size_t a = 0; a < alphas.size(); ++a) CHECK(agrees(vel.search.cv_scores[a], cv[a]));
  // nlb_tools' grid.
  const std::vector<double> grid = py.get<double>("default_alphas", {9});
  for (std::size_t a = 0; a < grid.size(); ++a) CHECK(nlb::nlb_alphas()[a] == Approx(grid[a]).epsilon(1e-15));
  // The null model of the eval spikes scores 0 here exactly, there to rounding.
  CHECK(nlb::bits_per_spike(nlb::null_rates(d.eval_spikes_heldout), d.eval_spikes_heldout) == 0.0);
  CHECK(std::abs(scalar("null_bps")) < 1e-12);

  // The metrics mean something on this data: the true rates beat the null
  // and the noisy model; decoding and PSTHs are informative but imperfect;
  // the selected alpha is clearly the best (no near-tie for rounding to flip).
  CHECK(nlb::bits_per_spike(d.eval_true_heldout, d.eval_spikes_heldout) > std::max(co, 0.0));
  CHECK((vel.r2 > 0.2 && vel.r2 < 1.0));
  CHECK((psth > 0.2 && psth < 1.0));
  for (std::size_t a = 0; a < alphas.size(); ++a)
    if (a != vel.search.best) CHECK(vel.search.cv_scores[a] < vel.search.cv_scores[vel.search.best] - 1e-6);
  if (interior) CHECK((vel.search.best > 0 && vel.search.best + 1 < alphas.size()));

  SUCCEED("the values above");  // printed under -s
}

TEST_CASE("NLB metrics: the null model scores 0, true rates beat it, bad input names the argument", "[nlb]") {
  using ctd::testing::error_of;
  const Data d = make_data(Sizes{21, 6, 8, 10, 3, 6, 4, 3, 0.4, 0.3, 0.5});
  const MatrixXd& spikes = d.eval_spikes_heldout;

  CHECK(nlb::bits_per_spike(nlb::null_rates(spikes), spikes) == 0.0);
  CHECK(nlb::bits_per_spike(d.eval_true_heldout, spikes) > 0.05);
  // Rates where the count is masked are never read, even NaN or negative.
  MatrixXd masked = d.eval_rates_heldout;
  for (Index k = 0; k < masked.size(); ++k)
    if (std::isnan(spikes.data()[k])) masked.data()[k] = -1;
  CHECK(nlb::bits_per_spike(masked, spikes) == nlb::bits_per_spike(d.eval_rates_heldout, spikes));
  // Float data binds through a cast.
  const Eigen::MatrixXf rates_f = d.eval_true_heldout.cast<float>();
  CHECK(nlb::bits_per_spike(rates_f.cast<double>(), spikes) ==
        Approx(nlb::bits_per_spike(d.eval_true_heldout, spikes)).epsilon(1e-5));
  // The ridge alone: an exact linear map is recovered with a tiny penalty.
  MatrixXd x(20, 3), y(20, 2);
  for (Index i = 0; i < 20; ++i) {
    x.row(i) << std::sin(double(i)), std::cos(0.7 * double(i)), double(i % 4);
    y.row(i) << 2 * x(i, 0) - x(i, 2) + 1, 0.5 * x(i, 1) - 3;
  }
  const nlb::RidgeModel ridge = nlb::ridge_fit(x, y, 1e-12);
  CHECK((ridge.predict(x) - y).cwiseAbs().maxCoeff() < 1e-9);
  CHECK(nlb::r2_score(y, ridge.predict(x)) == Approx(1.0));

  // Bad input: the message names the function, the argument and what was expected.
  MatrixXd negative = d.eval_true_heldout;
  const Index observed = std::isnan(spikes(1, 2)) ? 3 : 2;  // an entry whose count is not masked
  REQUIRE(!std::isnan(spikes(1, observed)));
  negative(1, observed) = -0.5;
  const std::vector<int> short_labels(d.condition.begin(), d.condition.end() - 1);
  MatrixXd psth_full = d.psth;  // a bin that jitter pads with NaN, scored: nlb_tools' assert
  psth_full.row(0) = psth_full.row(1);
  const MatrixXd wide_rates = MatrixXd::Ones(spikes.rows(), spikes.cols() + 1), empty(0, 0);
  struct Bad {
    std::function<void()> call;
    std::vector<std::string> message;  // each must appear
  };
  const std::vector<Bad> bad{
      {[&] { nlb::bits_per_spike(wide_rates, spikes); },
       {"nlb::bits_per_spike", "rates has shape (80, 5)", "expected (80, 4)"}},
      {[&] { nlb::poisson_nll(empty, empty); }, {"nlb::poisson_nll", "spikes is empty"}},
      {[&] { nlb::poisson_nll(negative, spikes); },
       {"rates at (1, " + std::to_string(observed) + ")", "is -0.5", "non-negative"}},
      {[&] { nlb::bits_per_spike(MatrixXd::Ones(3, 2), MatrixXd::Zero(3, 2)); }, {"spikes holds no spike"}},
      {[&] { nlb::fp_bps(d.rates_in_fwd, d.rates_out_fwd.topRows(4), d.spikes_in_fwd, d.spikes_out_fwd); },
       {"nlb::fp_bps", "rates_heldout_forward has shape (4, 4)", "expected (24, 4)"}},
      {[&] { nlb::r2_score(y, y.leftCols(1)); }, {"nlb::r2_score", "prediction has shape (20, 1)", "expected (20, 2)"}},
      {[&] { nlb::ridge_fit(x, y.topRows(19), 1.0); }, {"nlb::ridge_fit", "y has 19 rows, expected 20"}},
      {[&] { ridge.predict(y); }, {"predict", "x has 2 columns, expected 3"}},
      {[&] { nlb::velocity_r2(d.train_rates, d.train_behavior, d.eval_rates.leftCols(4), d.eval_behavior); },
       {"nlb::velocity_r2", "eval_rates has shape (80, 4)", "expected (80, 10)"}},
      {[&] { nlb::velocity_r2(d.train_rates, d.train_behavior.topRows(10), d.eval_rates, d.eval_behavior); },
       {"train_behavior has shape (10, 2)", "expected (60, 2)"}},
      {[&] { nlb::ridge_cv(x.topRows(9), y.topRows(9)); }, {"nlb::ridge_cv", "9 samples, expected at least 10"}},
      {[&] { nlb::psth_r2(d.eval_rates, 10, short_labels, d.psth); },
       {"nlb::psth_r2", "condition has 7 labels", "one per trial of eval_rates (8)"}},
      {[&] { nlb::psth_r2(d.eval_rates, 10, d.condition, d.psth.leftCols(5)); },
       {"psth has shape (30, 5)", "expected (30, 10)"}},
      {[&] { nlb::psth_r2(d.eval_rates, 7, d.condition, d.psth); },
       {"eval_rates has 80 rows, expected trials*T with T = 7"}},
      {[&] { nlb::psth_r2(d.eval_rates, 10, d.condition, psth_full, d.jitter); }, {"jitter", "bin 0"}},
  };
  for (std::size_t k = 0; k < bad.size(); ++k) {
    const std::string message = error_of(bad[k].call);
    for (const std::string& part : bad[k].message) {
      CAPTURE(k, part);
      CHECK_THAT(message, Catch::Matchers::Contains(part));
    }
  }
}

}  // namespace nlb_metrics_test
