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
  cpu::context ctx(2);
  const LfadsConfig c = testing::small_lfads_config();
  const Index T = 4, batch = 3;
  Parameters<cpu, double> params(Lfads<cpu, double>::specs(c));
  Rng rng(11);
  initialize_lfads<cpu, double>(ctx, params, c, rng);
  // Away from the initial values (zero biases, equal priors), so that every
  // term of every gradient is exercised.
  auto values = params.values();
  for (Index i = 0; i < values.rows; ++i) values.data[i] += 0.2 * rng.normal();
  const Matrix<cpu, double> x = upload<cpu, double>(ctx, testing::poisson_counts<double>(rng, c.data_dim, T * batch, 1.5));
  LfadsNoise<cpu, double> noise;
  noise.draw(ctx, c, T, batch, c.keep_rate, rng);

  const Lfads<cpu, double> model(c, params);
  LfadsTape<cpu, double> tape;
  const double kl_scale = 0.7;
  const auto loss = [&] { return model.forward(ctx, x.view(), T, batch, noise, kl_scale, tape).total(); };
  const LfadsLosses parts = model.forward(ctx, x.view(), T, batch, noise, kl_scale, tape);
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
