#pragma once
// The streaming decoder's workload (lfads/streaming.hpp), on any backend:
// the tutorial's LFADS made causal with a 5-bin IC window, float32. One
// trial: every push timed (a bin filling the window, the catch-up bin that
// decodes the window, a bin after it) and whole trials of 25 bins, each
// after a reset; 128 concurrent trials: whole trials and the bins after the
// window. Every push ends with a synchronisation, so a GPU's time is the
// latency a caller sees.
#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

#include <fmt/core.h>

#include "common/harness.hpp"
#include "common/lfads_workload.hpp"
#include "ctd/lfads/streaming.hpp"

namespace ctd::bench {

struct StreamTimes {  // microseconds
  Index window = 0, steps = 0, many = 0;
  std::vector<double> filling, catch_up, steady, whole;  // one trial
  std::vector<double> many_steady, many_whole;           // `many` trials at once
};

namespace stream_detail {

// The workload's spikes (lfads_trials) of `trials` trials as the stream
// reads them: (neurons x T*trials), time-major blocks of `trials` columns.
template <class B>
Matrix<B, float> counts(typename B::context& ctx, Rng& rng, Index trials, Index neurons) {
  std::vector<Index> ids(static_cast<std::size_t>(trials));
  for (Index k = 0; k < trials; ++k) ids[std::size_t(k)] = k;
  HostMatrix<float> c;
  lfads_trials(rng, trials, neurons).encod.gather(ids, 1, c);
  return upload<B, float>(ctx, c);
}

inline double percentile(std::vector<double> us, double p) {
  std::sort(us.begin(), us.end());
  return us[std::size_t(p * double(us.size() - 1))];
}

inline Timing timing_of(const std::vector<double>& us) {
  return {percentile(us, 0.5) / 1e3, percentile(us, 0) / 1e3, percentile(us, 1) / 1e3, int(us.size())};
}

}  // namespace stream_detail

// `trials` single trials (after 20 of warm-up) and `samples` rounds of 128.
template <class B>
StreamTimes time_lfads_stream(typename B::context& ctx, Index trials, int samples) {
  using clock = std::chrono::steady_clock;
  const auto since = [](clock::time_point t0) {
    return std::chrono::duration<double, std::micro>(clock::now() - t0).count();
  };
  LfadsConfig config;
  config.causal = true;
  config.ic_window = 5;
  StreamTimes out;
  out.window = config.ic_window, out.steps = lfads_steps, out.many = 128;
  const Index T = out.steps, W = out.window, distinct = 64;
  Rng rng(1);
  Parameters<B, float> params(Lfads<B, float>::specs(config));
  initialize_lfads<B, float>(ctx, params, config, rng);
  const Lfads<B, float> model(config, params);

  // One trial: trials cycle through `distinct` of them.
  const Matrix<B, float> one = stream_detail::counts<B>(ctx, rng, distinct, config.data_dim);
  LfadsStream<B, float> stream(ctx, model, 1);
  for (Index k = -20; k < trials; ++k) {
    const Index trial = (k + distinct) % distinct;
    stream.reset(ctx);
    double sum = 0;
    for (Index t = 0; t < T; ++t) {
      const auto t0 = clock::now();
      stream.push(ctx, one.col_block(t * distinct + trial, 1));
      B::synchronize(ctx);
      const double us = since(t0);
      sum += us;
      if (k >= 0) (t < W - 1 ? out.filling : t == W - 1 ? out.catch_up : out.steady).push_back(us);
    }
    if (k >= 0) out.whole.push_back(sum);
  }
  const Matrix<B, float> batch = stream_detail::counts<B>(ctx, rng, out.many, config.data_dim);
  LfadsStream<B, float> streams(ctx, model, out.many);
  for (int k = -2; k < samples; ++k) {
    streams.reset(ctx);
    const auto start = clock::now();
    for (Index t = 0; t < T; ++t) {
      const auto t0 = clock::now();
      streams.push(ctx, batch.col_block(t * out.many, out.many));
      B::synchronize(ctx);
      if (k >= 0 && t >= W) out.many_steady.push_back(since(t0));
    }
    if (k >= 0) out.many_whole.push_back(since(start));
  }
  return out;
}

inline void print_stream(const StreamTimes& s, const std::string& where) {
  using stream_detail::percentile;
  fmt::print("\nLFADS streaming decoder: the tutorial's model, causal, IC window {} bins, T {}, float32, {}\n",
             s.window, s.steps, where);
  fmt::print("  {:<44} {:>10} {:>10} {:>8}\n", "", "median us", "p99 us", "samples");
  const auto line = [](const std::string& what, const std::vector<double>& us) {
    fmt::print("  {:<44} {:>10.2f} {:>10.2f} {:>8}\n", what, percentile(us, 0.5), percentile(us, 0.99), us.size());
  };
  line("1 trial: a bin after the window", s.steady);
  line(fmt::format("1 trial: a bin filling the window (0-{})", s.window - 2), s.filling);
  line(fmt::format("1 trial: the catch-up bin ({}, decodes {})", s.window - 1, s.window), s.catch_up);
  line(fmt::format("1 trial: whole trial ({} bins)", s.steps), s.whole);
  line(fmt::format("{} trials: a bin after the window", s.many), s.many_steady);
  line(fmt::format("{} trials: whole trials ({} bins)", s.many, s.steps), s.many_whole);
  fmt::print("  published FPGA LFADS: about 42 us a trial (whole sequence)\n");
  fmt::print("  throughput, {} trials: {:.3g} trial-bins/s over whole trials, {:.3g} after the window\n", s.many,
             double(s.many * s.steps) / (percentile(s.many_whole, 0.5) * 1e-6),
             double(s.many) / (percentile(s.many_steady, 0.5) * 1e-6));
}

// The table's rows: a bin, the catch-up bin, a whole trial (against the
// FPGA figure) and 128 whole trials.
inline void add_stream_rows(const StreamTimes& s, const std::string& label, std::vector<Row>& table) {
  using stream_detail::timing_of;
  table.push_back({"d LFADS stream 1 trial, a bin", label, timing_of(s.steady), "-", std::nullopt, 0.0});
  table.push_back({"d LFADS stream 1 trial, catch-up", label, timing_of(s.catch_up), "-", std::nullopt, 0.0});
  table.push_back({"d LFADS stream 1 trial, 25 bins", label, timing_of(s.whole), "published FPGA, a trial", 0.042,
                   0.0});
  table.push_back({"d LFADS stream 128 trials, 25 bins", label, timing_of(s.many_whole), "-", std::nullopt, 0.0});
}

}  // namespace ctd::bench
