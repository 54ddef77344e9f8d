#pragma once
// The fixed-point finder of the tutorial (SPEC §5): optional Gaussian noise
// on the candidates, Adam on the candidates themselves to minimise the mean
// speed q(h) = mean_i (F(h)_i - h_i)^2 (lr0 0.2, decay 0.9999, eps 1e-5),
// a stop check every check_every steps, then the filters of
// fixed_points.hpp in the tutorial's order, slowest first.
//
// The Adam phase runs on the map's backend: per step one evaluation of F,
// one state VJP and three fused passes (residual, gradient, Adam), chunk by
// chunk of candidates with the chunks dealt out to the backend's shards,
// every buffer sized once before the loop.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <functional>
#include <numeric>
#include <string>
#include <vector>

#include "ctd/analysis/dynamical_map.hpp"
#include "ctd/analysis/fixed_points.hpp"
#include "ctd/core/error.hpp"
#include "ctd/core/host.hpp"
#include "ctd/core/rng.hpp"
#include "ctd/core/shards.hpp"
#include "ctd/train/adam.hpp"

namespace ctd {

// What the finder reports at each stop check.
struct FinderProgress {
  Index step = 0;        // Adam steps taken so far
  Index max_steps = 0;
  double loss = 0;       // mean speed of all candidates now
  double learning_rate = 0;
  double seconds = 0;    // since the optimisation started
};

struct FixedPointOptions {
  AdamOptions adam{0.2, 0.9999, 0.9, 0.999, 1e-5};
  Index max_steps = 10000;
  Index check_every = 200;  // stop check (and progress report) interval
  double stop_tol = 1e-6;   // stop once the mean speed falls below this
  double noise_var = 0;     // candidates += sqrt(noise_var) N(0,1)
  std::uint64_t seed = 0;   // of that noise
  double fp_tol = 1e-6;     // keep points with speed below this
  double unique_tol = 0.025;
  double outlier_tol = 1.0;  // +infinity keeps outliers
  // Candidates per evaluation of F and its VJP: 0 = all in one chunk;
  // backend_chunk = the backend's choice (B::point_chunk: 256 on the CPU,
  // all on a GPU).
  static constexpr Index backend_chunk = -1;
  Index chunk = backend_chunk;
  std::function<void(const FinderProgress&)> progress;  // called at every check

  void validate() const {
    const auto positive = [](double v, const char* name) {
      require(v > 0 && !std::isnan(v), std::string("fixed points: ") + name + " must be positive, got " +
                                           std::to_string(v));
    };
    positive(stop_tol, "stop_tol");
    positive(fp_tol, "fp_tol");
    positive(unique_tol, "unique_tol");
    positive(outlier_tol, "outlier_tol");
    require(std::isfinite(noise_var) && noise_var >= 0,
            "fixed points: noise_var must be finite and not negative, got " + std::to_string(noise_var));
    require(max_steps >= 0, "fixed points: max_steps must not be negative");
    require(check_every > 0, "fixed points: check_every must be positive");
    require(chunk >= 0 || chunk == backend_chunk,
            "fixed points: chunk must be 0 (all), positive, or backend_chunk, got " + std::to_string(chunk));
  }
};

// The input of each of `points` points: `inputs` is (u x 1), shared by all,
// or (u x points), one per point.
template <class S>
HostMatrix<S> inputs_per_point(const HostMatrix<S>& inputs, Index input_size, Index points) {
  require(inputs.rows() == input_size && (inputs.cols() == 1 || inputs.cols() == points),
          "fixed points: inputs must be (" + std::to_string(input_size) + " x 1) or (" +
              std::to_string(input_size) + " x " + std::to_string(points) + "), got (" +
              std::to_string(inputs.rows()) + " x " + std::to_string(inputs.cols()) + ")");
  require(inputs.allFinite(), "fixed points: the inputs hold NaN or Inf");
  if (inputs.cols() == points) return inputs;
  return inputs.replicate(1, points);
}

// Throws unless `points` is (n x P) with P >= 1 and every value finite.
template <class S>
void check_states(const HostMatrix<S>& points, Index state_size, const std::string& what) {
  require(points.rows() == state_size && points.cols() > 0,
          "fixed points: " + what + " must be (" + std::to_string(state_size) + " x P) with P >= 1 (the network has " +
              std::to_string(state_size) + " units), got (" + std::to_string(points.rows()) + " x " +
              std::to_string(points.cols()) + ")");
  for (Index j = 0; j < points.cols(); ++j)
    if (!points.col(j).allFinite())
      throw Error("fixed points: " + what + " column " + std::to_string(j) + " holds NaN or Inf");
}

// Adam on a set of candidates, one step at a time: the loss is the mean
// speed sum (F(h) - h)^2 / (n N), whose gradient is (J - I)^T c (F(h) - h)
// with c = 2 / (n N). Every buffer is sized in the constructor.
template <DynamicalMap M>
class FixedPointOptimizer {
 public:
  using B = typename M::backend;
  using S = typename M::scalar;

  // candidates (n x N); inputs (u x 1) or (u x N).
  FixedPointOptimizer(typename B::context& ctx, const M& map, const HostMatrix<S>& candidates, const HostMatrix<S>& inputs,
                      const FixedPointOptions& opt)
      : map_(map),
        n_(map.state_size()),
        N_(candidates.cols()),
        chunk_(chunk_size(checked(opt).chunk, N_)),
        adam_(n_ * N_, opt.adam) {
    check_states(candidates, n_, "candidates");
    HostMatrix<S> start = candidates;
    if (opt.noise_var > 0) {
      Rng rng(opt.seed);
      start += random_normal<S>(rng, n_, N_, S(std::sqrt(opt.noise_var)));
    }
    h_ = upload<B, S>(ctx, start);
    x_ = upload<B, S>(ctx, inputs_per_point(inputs, map.input_size(), N_));
    residual_.resize(n_, N_);
    speeds_.resize(1, N_);
    // One chunk's workspace and gradient per shard, reused for every chunk
    // the shard takes, so they stay in that core's cache.
    workers_ = shard_count<B>(ctx, (N_ + chunk_ - 1) / chunk_);
    workspace_.resize(map.workspace_rows(), chunk_ * workers_);
    grad_.resize(n_, chunk_ * workers_);
  }

  // Adam moves each chunk's points while they and their gradient are in
  // the worker's cache, instead of in a pass over all points after.
  void step(typename B::context& ctx) {
    for_each_chunk(ctx, [&](Index slot, Index first, Index count) {
      const auto workspace = workspace_.col_block(slot, count), grad = grad_.col_block(slot, count);
      update_residual(ctx, workspace, first, count);
      const auto residual = residual_.col_block(first, count);
      map_.state_vjp(ctx, h_.col_block(first, count), workspace, residual, grad);
      B::axpy(ctx, S(-1), residual, grad);
      adam_.update_block(ctx, MatrixView<S>(h_.data() + n_ * first, n_ * count, 1),
                         ConstView<S>(grad.data, n_ * count, 1), n_ * first);
    });
    adam_.advance();
  }
  Index steps() const { return adam_.step(); }
  double learning_rate() const { return adam_.options().learning_rate(adam_.step()); }

  // Mean speed of the current points.
  double mean_speed(typename B::context& ctx) {
    std::vector<double> sums(std::size_t(N_ / chunk_ + 1), 0.0);
    for_each_chunk(ctx, [&](Index slot, Index first, Index count) {
      update_residual(ctx, workspace_.col_block(slot, count), first, count);
      sums[std::size_t(first / chunk_)] = double(B::sum_squares(ctx, residual_.col_block(first, count)));
    });
    return std::accumulate(sums.begin(), sums.end(), 0.0) / (scale() * scale() * double(n_) * double(N_));
  }
  // Speed of every current point.
  std::vector<double> speeds(typename B::context& ctx) {
    for_each_chunk(ctx, [&](Index slot, Index first, Index count) {
      update_residual(ctx, workspace_.col_block(slot, count), first, count);
      B::column_sum_squares(ctx, residual_.col_block(first, count), speeds_.col_block(first, count));
    });
    const HostMatrix<S> sums = download<B, S>(ctx, speeds_.view());
    std::vector<double> out(static_cast<std::size_t>(N_));
    for (Index j = 0; j < N_; ++j) out[std::size_t(j)] = double(sums(0, j)) / (scale() * scale() * double(n_));
    return out;
  }
  HostMatrix<S> points(typename B::context& ctx) const { return download<B, S>(ctx, h_.view()); }

 private:
  static const FixedPointOptions& checked(const FixedPointOptions& opt) {
    opt.validate();
    return opt;
  }
  static Index chunk_size(Index asked, Index points) {
    const Index chunk = asked == FixedPointOptions::backend_chunk ? Index(B::point_chunk) : asked;
    return chunk > 0 ? std::min(chunk, points) : points;
  }
  double scale() const { return 2.0 / (double(n_) * double(N_)); }
  // f(slot, first, count) for every chunk, each shard taking the next
  // chunk when it is done with one (a shard on a core that another process
  // holds takes fewer); slot is the first column of the shard's own part of
  // workspace_ and grad_. Every result goes to its chunk's columns, so who
  // takes which chunk changes no number.
  template <class F>
  void for_each_chunk(typename B::context& ctx, F&& f) {
    const Index chunks = (N_ + chunk_ - 1) / chunk_;
    std::atomic<Index> next_chunk{0};
    B::parallel_for(ctx, workers_, [&](Index k) {
      for (Index c = next_chunk++; c < chunks; c = next_chunk++) {
        const Index first = c * chunk_, count = std::min(chunk_, N_ - first);
        f(k * chunk_, first, count);
      }
    });
  }
  // residual = c (F(h) - h) on a chunk: the loss's gradient with respect
  // to F(h).
  void update_residual(typename B::context& ctx, MatrixView<S> workspace, Index first, Index count) {
    const auto h = h_.col_block(first, count);
    const ConstView<S> F = map_.evaluate(ctx, h, x_.col_block(first, count), workspace);
    B::scaled_difference(ctx, S(scale()), F, h, residual_.col_block(first, count));
  }

  const M& map_;
  Index n_, N_, chunk_, workers_ = 1;
  Adam<B, S> adam_;
  Matrix<B, S> h_, x_, residual_, grad_, speeds_, workspace_;
};

// The candidates after the Adam phase.
template <class S>
struct OptimizedCandidates {
  HostMatrix<S> points;        // (n x N)
  std::vector<double> speeds;  // speed of each point
  Index steps = 0;             // Adam steps taken
  std::vector<double> losses;  // mean speed at each check
  double seconds = 0;
};

// The Adam phase: a stop check every check_every steps (and after the
// last), as the tutorial's loop. inputs: (u x 1) or (u x N).
template <DynamicalMap M>
OptimizedCandidates<typename M::scalar> optimize_fixed_points(typename M::backend::context& ctx, const M& map,
                                                              const HostMatrix<typename M::scalar>& candidates,
                                                              const HostMatrix<typename M::scalar>& inputs,
                                                              const FixedPointOptions& opt) {
  FixedPointOptimizer<M> optimizer(ctx, map, candidates, inputs, opt);
  OptimizedCandidates<typename M::scalar> out;
  const auto start = std::chrono::steady_clock::now();
  const auto seconds = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(); };
  for (;;) {
    const Index step = optimizer.steps();
    if (step == opt.max_steps || (step > 0 && step % opt.check_every == 0)) {
      const double loss = optimizer.mean_speed(ctx);
      out.losses.push_back(loss);
      if (opt.progress) opt.progress({step, opt.max_steps, loss, optimizer.learning_rate(), seconds()});
      if (loss < opt.stop_tol || step == opt.max_steps) break;
    }
    optimizer.step(ctx);
  }
  out.steps = optimizer.steps();
  out.speeds = optimizer.speeds(ctx);
  out.points = optimizer.points(ctx);
  out.seconds = seconds();
  return out;
}

// The whole procedure: Adam, then the filters, slowest first.
struct FixedPointSearch {
  FixedPoints fixed_points;      // the kept points, slowest first
  Index candidates = 0;          // how many went in
  Index within_tolerance = 0;    // after the speed tolerance
  Index unique = 0;              // after the uniqueness filter
  Index steps = 0;               // Adam steps taken
  std::vector<double> losses;    // mean speed at each check
  double seconds = 0;            // of the Adam phase
};

template <DynamicalMap M>
FixedPointSearch find_fixed_points(typename M::backend::context& ctx, const M& map,
                                   const HostMatrix<typename M::scalar>& candidates,
                                   const HostMatrix<typename M::scalar>& inputs, const FixedPointOptions& opt) {
  auto optimized = optimize_fixed_points(ctx, map, candidates, inputs, opt);
  FixedPointSearch search;
  FixedPoints& fps = search.fixed_points;
  fps.points = optimized.points.template cast<double>();
  fps.inputs = inputs_per_point(inputs, map.input_size(), candidates.cols()).template cast<double>();
  fps.speeds = std::move(optimized.speeds);
  fps.candidate_index.resize(std::size_t(candidates.cols()));
  std::iota(fps.candidate_index.begin(), fps.candidate_index.end(), Index(0));
  search.candidates = fps.size();
  search.steps = optimized.steps;
  search.losses = std::move(optimized.losses);
  search.seconds = optimized.seconds;

  fps.keep(below_tolerance(fps.speeds, opt.fp_tol));
  search.within_tolerance = fps.size();
  fps.keep(unique_points(fps.points, opt.unique_tol));
  search.unique = fps.size();
  fps.keep(non_outliers(fps.points, opt.outlier_tol));
  fps.keep(slowest_first(fps.speeds));
  return search;
}

// x* = 0 for every candidate.
template <DynamicalMap M>
FixedPointSearch find_fixed_points(typename M::backend::context& ctx, const M& map,
                                   const HostMatrix<typename M::scalar>& candidates, const FixedPointOptions& opt) {
  return find_fixed_points(ctx, map, candidates, HostMatrix<typename M::scalar>::Zero(map.input_size(), 1), opt);
}

}  // namespace ctd
