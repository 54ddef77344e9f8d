#pragma once
// The Neural Latents Benchmark's metrics, as nlb_tools/evaluation.py
// computes them (neg_log_likelihood, bits_per_spike, eval_psth,
// fit_and_eval_decoder and the way evaluate() slices the data for each), so
// that numbers from our LFADS can be set beside the benchmark's tables.
//
// Data layout. Every matrix is rows = samples, cols = neurons (or behaviour
// channels): a (trials, T, n) array of nlb_tools is the (trials*T) x n
// matrix whose row trial*T + t holds bin t of that trial — numpy's
// x.reshape(-1, n). Arguments are Eigen::Ref<const Eigen::MatrixXd>, so any
// double matrix or block binds without a copy; float data binds as
// `m.cast<double>()`. Everything is computed in double.
//
// How evaluate() builds each number from these functions:
//   co-bps   bits_per_spike(eval_rates_heldout, eval_spikes_heldout)   (co_bps)
//   fp-bps   bits_per_spike over the held-in and held-out forward bins
//            stacked along neurons                                    (fp_bps)
//   vel R2   velocity_r2(train_rates, train_behavior, eval_rates, eval_behavior).r2
//            with rates = [heldin | heldout] along neurons; for datasets
//            with several decode masks, call it once per mask and average
//   psth R2  psth_r2(eval_rates, T, condition, psth[, jitter]), rates again
//            [heldin | heldout]
//
// Where nlb_tools would return NaN/inf or fail an assert, these throw
// ctd::Error naming the function, the argument and what was expected.
#include <Eigen/Cholesky>
#include <Eigen/Core>

#include <cmath>
#include <cstddef>
#include <string>
#include <utility>
#include <vector>

#include "ctd/core/error.hpp"
#include "ctd/core/types.hpp"

namespace ctd::nlb {

using ConstMatrixRef = Eigen::Ref<const Eigen::MatrixXd>;

namespace detail {

inline std::string shape_str(Index rows, Index cols) {
  return "(" + std::to_string(rows) + ", " + std::to_string(cols) + ")";
}

inline void require_nonempty(const ConstMatrixRef& m, const std::string& fn, const std::string& arg) {
  require(m.size() > 0, fn + ": " + arg + " is empty " + shape_str(m.rows(), m.cols()) +
                            ", expected (samples, neurons) with at least one of each");
}

inline void require_shape(const ConstMatrixRef& m, Index rows, Index cols, const std::string& fn,
                          const std::string& arg, const std::string& why) {
  require(m.rows() == rows && m.cols() == cols, fn + ": " + arg + " has shape " + shape_str(m.rows(), m.cols()) +
                                                    ", expected " + shape_str(rows, cols) + " (" + why + ")");
}

// A rate nlb_tools would reject (NaN, negative) or that would make the sum
// inf; only entries whose spike count is present are checked, as nlb_tools
// drops the NaN-count entries before its asserts.
inline void check_entry(double rate, double count, const std::string& fn, Index i, Index j) {
  const auto at = [&] { return " at (" + std::to_string(i) + ", " + std::to_string(j) + ")"; };
  if (!(std::isfinite(rate) && rate >= 0))
    throw Error(fn + ": rates" + at() + " is " + std::to_string(rate) +
                ", expected a finite non-negative rate wherever spikes is not NaN");
  if (!(std::isfinite(count) && count >= 0))
    throw Error(fn + ": spikes" + at() + " is " + std::to_string(count) +
                ", expected a non-negative count or NaN (masked)");
}

// nlb_tools replaces a zero rate by 1e-9 (a spike there costs ~20.7 nats,
// not inf). The log(n!) term is left out: callers add it or cancel it.
inline double nll_without_factorial(double rate, double count) {
  const double r = rate == 0 ? 1e-9 : rate;
  return r - count * std::log(r);
}

}  // namespace detail

// Poisson negative log-likelihood summed over the entries whose spike count
// is not NaN: rate - n log(rate) + log(n!), a zero rate counting as 1e-9.
inline double poisson_nll(ConstMatrixRef rates, ConstMatrixRef spikes) {
  const std::string fn = "nlb::poisson_nll";
  detail::require_nonempty(spikes, fn, "spikes");
  detail::require_shape(rates, spikes.rows(), spikes.cols(), fn, "rates", "the shape of spikes");
  double nll = 0;
  for (Index j = 0; j < spikes.cols(); ++j)
    for (Index i = 0; i < spikes.rows(); ++i) {
      const double n = spikes(i, j);
      if (std::isnan(n)) continue;
      detail::check_entry(rates(i, j), n, fn, i, j);
      nll += detail::nll_without_factorial(rates(i, j), n) + std::lgamma(n + 1.0);
    }
  return nll;
}

// The null model of bits_per_spike: each neuron's mean count over all rows
// (NaN entries skipped), repeated on every row. A neuron with no count at
// all gets NaN, which is never read since all its entries are masked.
inline Eigen::MatrixXd null_rates(ConstMatrixRef spikes) {
  detail::require_nonempty(spikes, "nlb::null_rates", "spikes");
  Eigen::MatrixXd out(spikes.rows(), spikes.cols());
  for (Index j = 0; j < spikes.cols(); ++j) {
    double sum = 0;
    Index count = 0;
    for (Index i = 0; i < spikes.rows(); ++i)
      if (!std::isnan(spikes(i, j))) sum += spikes(i, j), ++count;
    out.col(j).setConstant(sum / static_cast<double>(count));  // 0/0 = NaN: all masked
  }
  return out;
}

// (NLL(null_rates(spikes)) - NLL(rates)) / (sum of the counts) / log 2.
// Summed entry by entry as the difference of the two terms, in which the
// log(n!) terms cancel exactly (nlb_tools sums each NLL first; the two agree
// to rounding). Throws when there is no spike to divide by.
inline double bits_per_spike(ConstMatrixRef rates, ConstMatrixRef spikes) {
  const std::string fn = "nlb::bits_per_spike";
  detail::require_nonempty(spikes, fn, "spikes");
  detail::require_shape(rates, spikes.rows(), spikes.cols(), fn, "rates", "the shape of spikes");
  const Eigen::MatrixXd null = null_rates(spikes);
  double gain = 0, total = 0;
  for (Index j = 0; j < spikes.cols(); ++j)
    for (Index i = 0; i < spikes.rows(); ++i) {
      const double n = spikes(i, j);
      if (std::isnan(n)) continue;
      detail::check_entry(rates(i, j), n, fn, i, j);
      gain += detail::nll_without_factorial(null(i, j), n) - detail::nll_without_factorial(rates(i, j), n);
      total += n;
    }
  require(total > 0, fn + ": spikes holds no spike (its non-NaN entries sum to 0), expected at least one");
  return gain / total / std::log(2.0);
}

// co-bps: the held-out neurons' rates against their spikes on the eval trials.
inline double co_bps(ConstMatrixRef eval_rates_heldout, ConstMatrixRef eval_spikes_heldout) {
  return bits_per_spike(eval_rates_heldout, eval_spikes_heldout);
}

// fp-bps: the forward bins' rates of held-in and held-out neurons stacked
// along neurons (nlb_tools' np.dstack), against the stacked spikes. Each
// neuron keeps its own null rate, so the stack only pools the sums.
inline double fp_bps(ConstMatrixRef rates_heldin_forward, ConstMatrixRef rates_heldout_forward,
                     ConstMatrixRef spikes_heldin_forward, ConstMatrixRef spikes_heldout_forward) {
  const std::string fn = "nlb::fp_bps";
  detail::require_nonempty(spikes_heldin_forward, fn, "spikes_heldin_forward");
  detail::require_nonempty(spikes_heldout_forward, fn, "spikes_heldout_forward");
  const Index rows = spikes_heldin_forward.rows(), in = spikes_heldin_forward.cols();
  const Index out = spikes_heldout_forward.cols();
  detail::require_shape(spikes_heldout_forward, rows, out, fn, "spikes_heldout_forward",
                        "as many rows (trials*forward bins) as spikes_heldin_forward");
  detail::require_shape(rates_heldin_forward, rows, in, fn, "rates_heldin_forward", "the shape of spikes_heldin_forward");
  detail::require_shape(rates_heldout_forward, rows, out, fn, "rates_heldout_forward",
                        "the shape of spikes_heldout_forward");
  Eigen::MatrixXd rates(rows, in + out), spikes(rows, in + out);
  rates << rates_heldin_forward, rates_heldout_forward;
  spikes << spikes_heldin_forward, spikes_heldout_forward;
  return bits_per_spike(rates, spikes);
}

// sklearn.metrics.r2_score(truth, prediction), multioutput "uniform_average":
// per column 1 - SS_res / SS_tot, averaged over columns. A column whose truth
// is constant scores 1 if predicted exactly and 0 otherwise (sklearn's
// force_finite). Constancy is tested exactly (all values equal), where
// sklearn tests SS_tot == 0 after subtracting a floating-point mean; the two
// differ only when that mean rounds away from the constant. sklearn rejects
// non-finite input and returns NaN below two rows; both throw here.
inline double r2_score(ConstMatrixRef truth, ConstMatrixRef prediction) {
  const std::string fn = "nlb::r2_score";
  detail::require_nonempty(truth, fn, "truth");
  detail::require_shape(prediction, truth.rows(), truth.cols(), fn, "prediction", "the shape of truth");
  require(truth.rows() >= 2, fn + ": truth has " + std::to_string(truth.rows()) +
                                 " row, expected at least 2 (R2 is undefined for one sample)");
  require(truth.allFinite(), fn + ": truth holds NaN or Inf, expected finite values");
  require(prediction.allFinite(), fn + ": prediction holds NaN or Inf, expected finite values");
  double sum = 0;
  for (Index j = 0; j < truth.cols(); ++j) {
    const auto y = truth.col(j).array();
    const double ss_res = (y - prediction.col(j).array()).square().sum();
    const double ss_tot = (y - y.mean()).square().sum();
    const bool constant = (y == y(0)).all() || ss_tot == 0;
    sum += ss_res == 0 ? 1.0 : constant ? 0.0 : 1.0 - ss_res / ss_tot;
  }
  return sum / static_cast<double>(truth.cols());
}

// psth R2 (nlb_tools' eval_psth). eval_rates: (trials*T, neurons), trial by
// trial. condition[trial]: the index of its condition in psth, or -1 for a
// trial in none. psth: (conditions*T, neurons), condition by condition; a
// row whose first column is NaN is a bin outside the evaluated window and is
// skipped. jitter (empty = none): trial k's rates are shifted jitter[k] bins
// later before averaging, the bins shifted in being NaN (as nlb_tools pads),
// so those bins must be NaN in psth. For each condition with trials, the
// mean predicted rates over its trials are set against its true PSTH; the
// kept rows of every condition are stacked and scored by r2_score.
inline double psth_r2(ConstMatrixRef eval_rates, Index T, const std::vector<int>& condition, ConstMatrixRef psth,
                      const std::vector<int>& jitter = {}) {
  const std::string fn = "nlb::psth_r2";
  require(T > 0, fn + ": T is " + std::to_string(T) + ", expected the number of bins per trial (> 0)");
  detail::require_nonempty(eval_rates, fn, "eval_rates");
  detail::require_nonempty(psth, fn, "psth");
  require(eval_rates.rows() % T == 0, fn + ": eval_rates has " + std::to_string(eval_rates.rows()) +
                                          " rows, expected trials*T with T = " + std::to_string(T));
  require(psth.rows() % T == 0, fn + ": psth has " + std::to_string(psth.rows()) +
                                    " rows, expected conditions*T with T = " + std::to_string(T));
  const Index trials = eval_rates.rows() / T, conditions = psth.rows() / T, n = eval_rates.cols();
  detail::require_shape(psth, conditions * T, n, fn, "psth", "conditions*T rows, a column per neuron of eval_rates");
  require(Index(condition.size()) == trials, fn + ": condition has " + std::to_string(condition.size()) +
                                                 " labels, expected one per trial of eval_rates (" +
                                                 std::to_string(trials) + ")");
  require(jitter.empty() || Index(jitter.size()) == trials,
          fn + ": jitter has " + std::to_string(jitter.size()) + " entries, expected none or one per trial (" +
              std::to_string(trials) + ")");
  for (std::size_t k = 0; k < condition.size(); ++k)
    if (condition[k] < -1 || condition[k] >= conditions)
      throw Error(fn + ": condition[" + std::to_string(k) + "] is " + std::to_string(condition[k]) +
                  ", expected -1 (no condition) or an index below " + std::to_string(conditions));
  for (std::size_t k = 0; k < jitter.size(); ++k)
    if (jitter[k] <= -T || jitter[k] >= T)
      throw Error(fn + ": jitter[" + std::to_string(k) + "] is " + std::to_string(jitter[k]) +
                  ", expected |jitter| < T = " + std::to_string(T));

  std::vector<Index> rows_true;  // rows of psth kept, in order
  Eigen::MatrixXd pred(conditions * T, n);
  for (Index c = 0; c < conditions; ++c) {
    std::vector<Index> members;
    for (Index k = 0; k < trials; ++k)
      if (condition[std::size_t(k)] == c) members.push_back(k);
    if (members.empty()) continue;  // nlb_tools skips a condition without eval trials
    for (Index t = 0; t < T; ++t) {
      if (std::isnan(psth(c * T + t, 0))) continue;
      Eigen::RowVectorXd sum = Eigen::RowVectorXd::Zero(n);
      for (Index k : members) {
        const Index shift = jitter.empty() ? 0 : jitter[std::size_t(k)], src = t - shift;
        if (src < 0 || src >= T)
          throw Error(fn + ": trial " + std::to_string(k) + " shifted by its jitter " + std::to_string(shift) +
                      " has no rate at bin " + std::to_string(t) + ", where psth of condition " +
                      std::to_string(c) + " is not NaN (expected NaN psth rows where jitter pads)");
        sum += eval_rates.row(k * T + src);
      }
      if (!sum.allFinite())
        throw Error(fn + ": eval_rates holds NaN or Inf in a trial of condition " + std::to_string(c) + " at bin " +
                    std::to_string(t) + ", where psth is not NaN (expected finite rates there)");
      pred.row(Index(rows_true.size())) = sum / static_cast<double>(members.size());
      rows_true.push_back(c * T + t);
    }
  }
  const Index kept = Index(rows_true.size());
  require(kept > 0, fn + ": no bin to score: every condition either has no trial or only NaN psth rows");
  Eigen::MatrixXd truth(kept, n);
  for (Index r = 0; r < kept; ++r) truth.row(r) = psth.row(rows_true[std::size_t(r)]);
  return r2_score(truth, pred.topRows(kept));
}

// sklearn's Ridge(alpha) with fit_intercept=True: x and y centred on their
// column means, (Xc'Xc + alpha I) coef = Xc'yc, intercept = ybar - xbar coef.
// (sklearn solves the dual system when features > samples: the same
// solution for alpha > 0. At alpha = 0 a singular Gram matrix has many.)
struct RidgeModel {
  Eigen::MatrixXd coef;          // (features, outputs)
  Eigen::RowVectorXd intercept;  // (outputs)
  double alpha = 0;

  Eigen::MatrixXd predict(ConstMatrixRef x) const {
    require(x.cols() == coef.rows(), "nlb::RidgeModel::predict: x has " + std::to_string(x.cols()) +
                                         " columns, expected " + std::to_string(coef.rows()) +
                                         " (the features it was fitted on)");
    Eigen::MatrixXd y = x * coef;
    y.rowwise() += intercept;
    return y;
  }
};

namespace detail {

// The centred normal equations of one training set: a grid search solves
// them for every alpha without recomputing the Gram matrix.
struct RidgeNormalEquations {
  Eigen::RowVectorXd x_mean, y_mean;
  Eigen::MatrixXd gram, cross;  // Xc'Xc (features, features), Xc'Yc (features, outputs)

  RidgeNormalEquations(ConstMatrixRef x, ConstMatrixRef y) : x_mean(x.colwise().mean()), y_mean(y.colwise().mean()) {
    const Eigen::MatrixXd xc = x.rowwise() - x_mean, yc = y.rowwise() - y_mean;
    gram.noalias() = xc.transpose() * xc;
    cross.noalias() = xc.transpose() * yc;
  }

  RidgeModel solve(double alpha) const {
    Eigen::MatrixXd penalised = gram;
    penalised.diagonal().array() += alpha;
    // Symmetric positive (semi-)definite: LDLT, which also copes with a
    // singular Gram matrix at alpha = 0.
    const Eigen::LDLT<Eigen::MatrixXd> ldlt(penalised);
    require(ldlt.info() == Eigen::Success, "nlb::ridge_fit: the penalised Gram matrix could not be factorised");
    RidgeModel m;
    m.alpha = alpha;
    m.coef = ldlt.solve(cross);
    m.intercept = y_mean;
    for (Index j = 0; j < m.coef.cols(); ++j) m.intercept(j) -= x_mean.dot(m.coef.col(j).transpose());
    return m;
  }
};

inline void check_regression(ConstMatrixRef x, ConstMatrixRef y, const std::string& fn) {
  require_nonempty(x, fn, "x");
  require_nonempty(y, fn, "y");
  require(y.rows() == x.rows(), fn + ": y has " + std::to_string(y.rows()) + " rows, expected " +
                                    std::to_string(x.rows()) + " (one per row of x)");
  require(x.allFinite(), fn + ": x holds NaN or Inf, expected finite values");
  require(y.allFinite(), fn + ": y holds NaN or Inf, expected finite values");
}

}  // namespace detail

// x: (samples, features), y: (samples, outputs). One alpha for every output,
// as sklearn's scalar alpha.
inline RidgeModel ridge_fit(ConstMatrixRef x, ConstMatrixRef y, double alpha) {
  detail::check_regression(x, y, "nlb::ridge_fit");
  require(std::isfinite(alpha) && alpha >= 0,
          "nlb::ridge_fit: alpha is " + std::to_string(alpha) + ", expected a finite penalty >= 0");
  return detail::RidgeNormalEquations(x, y).solve(alpha);
}

// nlb_tools' grid for the velocity decoder: np.logspace(-4, 0, 9).
inline std::vector<double> nlb_alphas() {
  std::vector<double> a;
  for (int i = 0; i <= 8; ++i) a.push_back(std::pow(10.0, -4.0 + 0.5 * i));
  return a;
}

struct RidgeSearch {
  std::vector<double> alphas;
  std::vector<double> cv_scores;  // per alpha: mean over the folds of r2_score on the held-out fold
  std::size_t best = 0;           // index into alphas
  RidgeModel model;               // refit on every sample with alphas[best]
};

// GridSearchCV(Ridge(), {"alpha": alphas}) with its default cv: KFold(folds)
// without shuffling — contiguous test folds in order, the first
// samples % folds of them one sample longer — scored by r2_score, the best
// the highest mean score (the first on ties), then refit on all samples.
// Each test fold needs two samples for its R2: samples >= 2*folds.
inline RidgeSearch ridge_cv(ConstMatrixRef x, ConstMatrixRef y, const std::vector<double>& alphas = nlb_alphas(),
                            int folds = 5) {
  const std::string fn = "nlb::ridge_cv";
  detail::check_regression(x, y, fn);
  require(!alphas.empty(), fn + ": alphas is empty, expected at least one penalty");
  for (double a : alphas)
    if (!(std::isfinite(a) && a >= 0))
      throw Error(fn + ": alphas holds " + std::to_string(a) + ", expected finite penalties >= 0");
  require(folds >= 2, fn + ": folds is " + std::to_string(folds) + ", expected at least 2");
  const Index n = x.rows();
  require(n >= 2 * folds, fn + ": x has " + std::to_string(n) + " samples, expected at least " +
                              std::to_string(2 * folds) + " (two per fold)");
  RidgeSearch s;
  s.alphas = alphas;
  s.cv_scores.assign(alphas.size(), 0.0);
  Index start = 0;
  for (int f = 0; f < folds; ++f) {
    const Index size = n / folds + (f < n % folds ? 1 : 0), rest = n - start - size;
    Eigen::MatrixXd x_train(n - size, x.cols()), y_train(n - size, y.cols());
    x_train.topRows(start) = x.topRows(start);
    x_train.bottomRows(rest) = x.bottomRows(rest);
    y_train.topRows(start) = y.topRows(start);
    y_train.bottomRows(rest) = y.bottomRows(rest);
    const detail::RidgeNormalEquations train(x_train, y_train);
    for (std::size_t a = 0; a < alphas.size(); ++a)
      s.cv_scores[a] += r2_score(y.middleRows(start, size), train.solve(alphas[a]).predict(x.middleRows(start, size)));
    start += size;
  }
  for (std::size_t a = 0; a < alphas.size(); ++a) {
    s.cv_scores[a] /= folds;
    if (s.cv_scores[a] > s.cv_scores[s.best]) s.best = a;
  }
  s.model = detail::RidgeNormalEquations(x, y).solve(alphas[s.best]);
  return s;
}

struct Decoding {
  double r2 = 0;       // r2_score of the refit decoder on the eval samples
  RidgeSearch search;  // its grid search
};

// nlb_tools' fit_and_eval_decoder (vel R2 for one decode mask). Samples whose
// behaviour's first channel is NaN are dropped (from train and eval alike),
// as nlb_tools does; every other value kept must be finite.
inline Decoding velocity_r2(ConstMatrixRef train_rates, ConstMatrixRef train_behavior, ConstMatrixRef eval_rates,
                            ConstMatrixRef eval_behavior, const std::vector<double>& alphas = nlb_alphas()) {
  const std::string fn = "nlb::velocity_r2";
  detail::require_nonempty(train_rates, fn, "train_rates");
  detail::require_nonempty(train_behavior, fn, "train_behavior");
  detail::require_shape(train_behavior, train_rates.rows(), train_behavior.cols(), fn, "train_behavior",
                        "a row per row of train_rates");
  detail::require_shape(eval_rates, eval_rates.rows(), train_rates.cols(), fn, "eval_rates",
                        "the neurons of train_rates");
  detail::require_shape(eval_behavior, eval_rates.rows(), train_behavior.cols(), fn, "eval_behavior",
                        "a row per row of eval_rates, the channels of train_behavior");
  const auto kept = [&](ConstMatrixRef rates, ConstMatrixRef behavior, const std::string& which) {
    std::vector<Index> rows;
    for (Index i = 0; i < behavior.rows(); ++i)
      if (!std::isnan(behavior(i, 0))) rows.push_back(i);
    require(!rows.empty(), fn + ": " + which + "_behavior is NaN in every sample, expected some to decode");
    std::pair<Eigen::MatrixXd, Eigen::MatrixXd> out{Eigen::MatrixXd(Index(rows.size()), rates.cols()),
                                                    Eigen::MatrixXd(Index(rows.size()), behavior.cols())};
    for (std::size_t r = 0; r < rows.size(); ++r) {
      out.first.row(Index(r)) = rates.row(rows[r]);
      out.second.row(Index(r)) = behavior.row(rows[r]);
    }
    require(out.first.allFinite(), fn + ": " + which + "_rates holds NaN or Inf where " + which +
                                       "_behavior is not NaN, expected finite rates there");
    require(out.second.allFinite(), fn + ": " + which + "_behavior holds NaN or Inf in a channel other than " +
                                        "the first (only a NaN first channel drops a sample)");
    return out;
  };
  const auto [x_train, y_train] = kept(train_rates, train_behavior, "train");
  const auto [x_eval, y_eval] = kept(eval_rates, eval_behavior, "eval");
  Decoding d;
  d.search = ridge_cv(x_train, y_train, alphas);
  d.r2 = r2_score(y_eval, d.search.model.predict(x_eval));
  return d;
}

}  // namespace ctd::nlb
