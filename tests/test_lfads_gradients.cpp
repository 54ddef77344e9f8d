// The whole LFADS loss (reconstruction, both KL terms, L2) against central
// finite differences in double precision, every parameter, with the
// dropout masks and normal draws held fixed; small sizes, two threads.
#include <catch2/catch.hpp>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/lfads/model.hpp"
#include "gradient_check.hpp"
#include "lfads_fixtures.hpp"

using namespace ctd;
using testing::numeric_gradient;
using testing::relative_error;

TEST_CASE("LFADS: every parameter's gradient of the whole loss matches finite differences", "[lfads][gradient]") {
  // The tutorial's model; then lfads-torch's data (held-out neurons, bins
  // predicted forward, measured inputs); then a causal model with an IC
  // window.
  const auto [readout, encod_steps, steps, ext, causal, window] =
      GENERATE(table<Index, Index, Index, Index, bool, Index>({{5, 4, 4, 0, false, 0},
                                                               {7, 3, 5, 2, false, 0},
                                                               {6, 4, 5, 1, true, 2}}));
  CAPTURE(readout, encod_steps, steps, ext, causal, window);
  cpu::context ctx(2);
  LfadsConfig c = testing::small_lfads_config();
  c.recon_dim = readout;
  c.ext_input_dim = ext;
  c.causal = causal;
  c.ic_window = window;
  // gen/h0's gradient is its L2 term alone (the generator starts from g_0):
  // large enough to stand above the round-off of the differences.
  c.l2 = 1e-2;
  const Index batch = 3;
  Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
  Rng rng(11);
  testing::perturbed_lfads_parameters<cpu>(ctx, params, c, rng);
  const auto values = params.values();
  HostMatrix<double> recon = testing::poisson_counts<double>(rng, readout, steps * batch, 1.5);
  const HostMatrix<double> encod = recon.topLeftCorner(c.data_dim, encod_steps * batch);
  const Matrix<cpu, double> x = upload<cpu, double>(ctx, encod), y = upload<cpu, double>(ctx, recon),
                            e = upload<cpu, double>(ctx, random_normal<double>(rng, ext, steps * batch, 1.0));
  const LfadsInputs<double> in{x.view(), y.view(), e.view(), encod_steps, steps, batch};
  LfadsNoise<cpu, double> noise;
  noise.draw(ctx, c, encod_steps, steps, batch, c.keep_rate, rng);

  const Lfads<cpu, double> model(c, params);
  LfadsTape<cpu, double> tape;
  const double kl_scale = 0.7;
  const auto loss = [&] { return model.forward(ctx, in, noise, kl_scale, tape).total(); };
  const LfadsLosses parts = model.forward(ctx, in, noise, kl_scale, tape);
  CHECK(parts.kl_ic > 0);
  CHECK(std::isfinite(parts.kl_ii));
  model.backward(ctx, noise, tape);
  const HostMatrix<double> analytic = download<cpu, double>(ctx, params.grads());
  const HostMatrix<double> numeric = numeric_gradient(values.data, values.rows, loss, 1e-5);
  Index offset = 0;
  for (const auto& spec : params.specs()) {
    const Index size = spec.rows * spec.cols;
    INFO("parameter " << spec.name);
    CHECK(relative_error(analytic.middleRows(offset, size), numeric.middleRows(offset, size)) < 1e-6);
    offset += size;
  }
}
