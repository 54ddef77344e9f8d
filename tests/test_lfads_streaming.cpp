// The streaming decoder of a causal LFADS model against the batch forward
// pass of the same model with masks of ones and zero normal draws (the
// posterior means), bin by bin, in double precision: every bin, the
// window's catch-up bins included, also bins the model predicts without
// counts; causality; the models it refuses; reset; and no allocation after
// the constructor.
#include <catch2/catch.hpp>

#include <cmath>
#include <vector>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/lfads/streaming.hpp"
#include "gradient_check.hpp"
#include "lfads_fixtures.hpp"

using namespace ctd;
using testing::relative_error;

namespace lfads_streaming_test {

using Dense = testing::Dense;

// Data dim 5, 7 reconstructed neurons, one measured input, sizes of the
// gradient checks.
LfadsConfig causal_config(Index window) {
  LfadsConfig c = testing::small_lfads_config();
  c.recon_dim = 7;
  c.ext_input_dim = 1;
  c.causal = true;
  c.ic_window = window;
  return c;
}

// Everything the stream put out, gathered into the batch model's layout
// ((rows x T*B), time-major), and what each push returned.
struct Outputs {
  Dense rates, factors, ii, gen;
  std::vector<Index> ready;
};

// Bins [0, encod_steps) with counts, the rest without; ext (ext x T*B).
Outputs run_stream(cpu::context& ctx, LfadsStream<cpu, double>& stream, ConstView<double> counts,
                   ConstView<double> ext, Index encod_steps, Index steps) {
  const Index B = stream.trials();
  Outputs out;
  for (Index t = 0; t < steps; ++t) {
    const ConstView<double> x = t < encod_steps ? counts.col_block(t * B, B) : ConstView<double>{};
    out.ready.push_back(stream.push(ctx, x, ext.col_block(t * B, B)));
    const auto put = [&](Dense& all, ConstView<double> v) {
      if (all.size() == 0) all.setZero(v.rows, steps * B);
      all.middleCols(stream.first_ready_bin() * B, stream.ready() * B) = download<cpu, double>(ctx, v);
    };
    put(out.rates, stream.rates());
    put(out.factors, stream.factors());
    put(out.ii, stream.inferred_inputs());
    put(out.gen, stream.generator_states());
  }
  return out;
}

// A backend that counts its allocations.
struct counting_cpu : cpu {
  static inline Index allocations = 0;
  template <class S>
  static S* allocate(Index count) {
    ++allocations;
    return cpu::allocate<S>(count);
  }
};

TEST_CASE("LFADS stream: bin by bin, the batch forward pass with posterior means", "[lfads][streaming]") {
  // The tutorial's case (every bin observed); bins predicted past the
  // encoder's; a one-bin IC window.
  const auto [encod_steps, window] = GENERATE(table<Index, Index>({{8, 3}, {6, 3}, {8, 1}}));
  CAPTURE(encod_steps, window);
  const Index steps = 8, batch = 4;
  cpu::context ctx(2);
  const LfadsConfig c = causal_config(window);
  Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
  Rng rng(5);
  testing::perturbed_lfads_parameters<cpu>(ctx, params, c, rng);
  const HostMatrix<double> recon = testing::poisson_counts<double>(rng, c.readout_dim(), steps * batch, 1.5);
  const Matrix<cpu, double> x = upload<cpu, double>(ctx, recon.topLeftCorner(c.data_dim, encod_steps * batch).eval()),
                            y = upload<cpu, double>(ctx, recon),
                            e = upload<cpu, double>(ctx, random_normal<double>(rng, 1, steps * batch, 1.0));
  const Lfads<cpu, double> model(c, params);

  // The batch pass: no dropout, every normal draw zero.
  LfadsNoise<cpu, double> noise;
  noise.draw(ctx, c, encod_steps, steps, batch, 1.0, rng);
  for (auto* eps : {&noise.ic_eps, &noise.ii_eps, &noise.kl_eps}) cpu::fill(ctx, eps->view(), 0.0);
  LfadsTape<cpu, double> tape;
  model.forward(ctx, {x.view(), y.view(), e.view(), encod_steps, steps, batch}, noise, 1.0, tape);
  Dense rates = download<cpu, double>(ctx, tape.lograte.view());
  rates = rates.array().exp().matrix();
  const Dense factors = download<cpu, double>(ctx, tape.decoder.factor_outputs());
  const Dense ii = download<cpu, double>(ctx, tape.decoder.co.view().row_block(0, c.ii_dim));
  const Dense gen = download<cpu, double>(ctx, tape.decoder.gen_outputs());

  LfadsStream<cpu, double> stream(ctx, model, batch);
  const Outputs out = run_stream(ctx, stream, x.view(), e.view(), encod_steps, steps);
  for (Index t = 0; t < steps; ++t) {
    INFO("bin " << t);
    CHECK(out.ready[std::size_t(t)] == (t < window - 1 ? 0 : t == window - 1 ? window : 1));
    const auto bin = [&](const Dense& m) { return Dense(m.middleCols(t * batch, batch)); };
    CHECK(relative_error(bin(out.rates), bin(rates)) < 1e-12);
    CHECK(relative_error(bin(out.factors), bin(factors)) < 1e-12);
    CHECK(relative_error(bin(out.ii), bin(ii)) < 1e-12);
    CHECK(relative_error(bin(out.gen), bin(gen)) < 1e-12);
  }
  CHECK(relative_error(download<cpu, double>(ctx, stream.initial_condition()),
                       download<cpu, double>(ctx, tape.encoder.ic.view())) < 1e-12);
  CHECK(stream.bins() == steps);

  SECTION("reset: the same trials again give the same outputs") {
    stream.reset(ctx);
    const Outputs again = run_stream(ctx, stream, x.view(), e.view(), encod_steps, steps);
    CHECK(again.rates == out.rates);
    CHECK(again.factors == out.factors);
    CHECK(again.ii == out.ii);
    CHECK(again.ready == out.ready);
  }

  SECTION("causality: changing bin s changes no output of an earlier bin") {
    for (Index s = window; s < steps; ++s) {
      INFO("perturbed bin " << s);
      HostMatrix<double> counts2 = download<cpu, double>(ctx, x.view()), ext2 = download<cpu, double>(ctx, e.view());
      if (s < encod_steps) counts2.middleCols(s * batch, batch).array() += 1;
      ext2.middleCols(s * batch, batch).array() += 0.5;
      const Matrix<cpu, double> x2 = upload<cpu, double>(ctx, counts2), e2 = upload<cpu, double>(ctx, ext2);
      stream.reset(ctx);
      const Outputs changed = run_stream(ctx, stream, x2.view(), e2.view(), encod_steps, steps);
      CHECK(changed.rates.leftCols(s * batch) == out.rates.leftCols(s * batch));
      CHECK(changed.factors.leftCols(s * batch) == out.factors.leftCols(s * batch));
      CHECK(changed.ii.leftCols(s * batch) == out.ii.leftCols(s * batch));
      CHECK(relative_error(changed.rates.middleCols(s * batch, batch), out.rates.middleCols(s * batch, batch)) > 1e-6);
    }
  }
}

TEST_CASE("LFADS stream: refuses a model it cannot stream, and bins of the wrong shape", "[lfads][streaming]") {
  cpu::context ctx(1);
  Rng rng(3);
  LfadsConfig c = testing::small_lfads_config();
  {
    Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
    const Lfads<cpu, double> model(c, params);
    CHECK_THROWS_WITH((LfadsStream<cpu, double>(ctx, model)), Catch::Contains("not causal"));
  }
  c.causal = true;
  {
    Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
    const Lfads<cpu, double> model(c, params);
    CHECK_THROWS_WITH((LfadsStream<cpu, double>(ctx, model)), Catch::Contains("no IC window"));
  }
  c.ic_window = 2;
  Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
  initialize_lfads<cpu, double>(ctx, params, c, rng);
  const Lfads<cpu, double> model(c, params);
  CHECK_THROWS_WITH((LfadsStream<cpu, double>(ctx, model, 0)), Catch::Contains("trials"));
  LfadsStream<cpu, double> stream(ctx, model, 3);
  const Matrix<cpu, double> counts(c.data_dim, 3), wrong(c.data_dim, 2), ext(1, 3);
  CHECK_THROWS_WITH(stream.push(ctx, wrong.view()), Catch::Contains("expected counts (5 x 3)"));
  CHECK_THROWS_WITH(stream.push(ctx, counts.view(), ext.view()), Catch::Contains("no measured inputs"));
  CHECK_THROWS_WITH(stream.push(ctx, {}), Catch::Contains("IC window"));
  CHECK(stream.push(ctx, counts.view()) == 0);
  CHECK(stream.push(ctx, counts.view()) == 2);
  CHECK(stream.push(ctx, {}) == 1);
  CHECK_THROWS_WITH(stream.push(ctx, counts.view()), Catch::Contains("counts after a bin without them"));
  stream.reset(ctx);
  CHECK(stream.push(ctx, counts.view()) == 0);
}

TEST_CASE("LFADS stream: memory is allocated once, by the constructor", "[lfads][streaming]") {
  using B = counting_cpu;
  B::context ctx(1);
  const LfadsConfig c = causal_config(3);
  Parameters<B, double> params(Lfads<B, double>::specs(c));
  Rng rng(9);
  testing::perturbed_lfads_parameters<B>(ctx, params, c, rng);
  const Lfads<B, double> model(c, params);
  const Index trials = 2;
  const Matrix<B, double> counts =
      upload<B, double>(ctx, testing::poisson_counts<double>(rng, c.data_dim, trials, 1.5));
  const Matrix<B, double> ext(1, trials);
  LfadsStream<B, double> stream(ctx, model, trials);
  const std::size_t bytes = stream.capacity_bytes();
  CHECK(bytes > 0);
  const Index allocations = B::allocations;
  stream.push(ctx, counts.view(), ext.view());
  const double* rates = stream.rates().data;
  // A long stream (far past the window), a reset, bins without counts.
  for (Index t = 1; t <= 100; ++t) stream.push(ctx, counts.view(), ext.view());
  stream.reset(ctx);
  for (Index t = 0; t < 50; ++t)
    stream.push(ctx, t < 20 ? ConstView<double>(counts.view()) : ConstView<double>{}, ext.view());
  CHECK(B::allocations == allocations);
  CHECK(stream.capacity_bytes() == bytes);
  // Rings of max(W, 2) = 3 bins: the outputs stay within them.
  CHECK(stream.rates().data >= rates);
  CHECK(stream.rates().data < rates + 3 * c.readout_dim() * trials);
  CHECK(std::isfinite(download<B, double>(ctx, stream.rates()).sum()));
}

}  // namespace lfads_streaming_test
