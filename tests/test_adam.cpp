// Adam with the tutorials' semantics, three steps against numbers computed
// by hand; clipping and L2 on the flat parameter buffer.
#include <catch2/catch.hpp>

#include <cmath>

#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/core/host.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/regularize.hpp"

using namespace ctd;

TEST_CASE("Adam: three steps equal the hand-computed JAX update", "[adam]") {
  cpu::context ctx;
  // One parameter x0 = 1 with gradients 0.5, -1.0, 2.0; lr0 0.1, decay 0.5,
  // b1 0.9, b2 0.999, eps 0.1. Computed independently of the library:
  //   m = v = 0; x = 1
  //   for i, g in enumerate([0.5, -1, 2]):
  //     m = .9*m + .1*g; v = .999*v + .001*g*g
  //     x -= .1 * .5**i * (m/(1-.9**(i+1))) / ((v/(1-.999**(i+1)))**.5 + .1)
  Matrix<cpu, double> x(1, 1), g(1, 1);
  cpu::fill(ctx, x.view(), 1.0);
  Adam<cpu, double> adam(1, {0.1, 0.5, 0.9, 0.999, 0.1});
  const double grads[] = {0.5, -1.0, 2.0};
  const double expected[] = {0.91666667, 0.93291667, 0.92316237};
  for (int i = 0; i < 3; ++i) {
    cpu::fill(ctx, g.view(), grads[i]);
    adam.update(ctx, x.view(), g.view());
    CHECK(x.data()[0] == Approx(expected[i]).epsilon(1e-7));
  }
  CHECK(adam.step() == 3);
}

TEST_CASE("Adam on a million coordinates, in blocks on two threads, is the same element-wise update", "[adam]") {
  cpu::context ctx(2);
  const Index size = 1000000;
  Rng rng(3);
  const HostMatrix<double> x0 = random_normal<double>(rng, size, 1, 1.0), g0 = random_normal<double>(rng, size, 1, 1.0);
  Matrix<cpu, double> x = upload<cpu, double>(ctx, x0), g = upload<cpu, double>(ctx, g0);
  Adam<cpu, double> adam(size, {0.1, 0.5, 0.9, 0.999, 0.1});
  adam.update(ctx, x.view(), g.view());
  // Step 0 from m = v = 0: m = 0.1 g and v = 0.001 g^2, bias-corrected to g and g^2.
  const HostMatrix<double> expected = x0.array() - 0.1 * g0.array() / (g0.array().abs() + 0.1);
  CHECK((download<cpu, double>(ctx, x.view()) - expected).cwiseAbs().maxCoeff() < 1e-12);
}

TEST_CASE("Adam rejects invalid hyperparameters with a clear message", "[adam][errors]") {
  CHECK_THROWS_WITH((Adam<cpu, float>(3, {-1.0})), Catch::Contains("lr0"));
  CHECK_THROWS_WITH((Adam<cpu, float>(3, {0.1, 1.0, 1.5})), Catch::Contains("b1"));
  CHECK_THROWS_WITH((Adam<cpu, float>(3, {0.1, 1.0, 0.9, 0.999, 0.0})), Catch::Contains("eps"));
}

TEST_CASE("global-norm clipping scales all parameters together", "[clip]") {
  cpu::context ctx;
  Matrix<cpu, double> g(4, 1);
  const HostMatrix<double> values{{3}, {0}, {4}, {0}};  // norm 5
  upload<cpu, double>(ctx, values, g.view());
  CHECK(clip_global_norm<cpu, double>(ctx, g.view(), 10.0) == Approx(5.0));
  CHECK(g.data()[0] == 3.0);  // under the limit: untouched
  CHECK(clip_global_norm<cpu, double>(ctx, g.view(), 1.0) == Approx(5.0));
  CHECK(g.data()[0] == Approx(0.6));
  CHECK(g.data()[2] == Approx(0.8));
}

TEST_CASE("L2 penalty covers every parameter and adds 2*l2*p to the gradient", "[l2]") {
  cpu::context ctx;
  Matrix<cpu, double> p(3, 1), g(3, 1);
  const HostMatrix<double> values{{1}, {-2}, {3}};
  upload<cpu, double>(ctx, values, p.view());
  CHECK(add_l2_penalty<cpu, double>(ctx, p.view(), g.view(), 0.5) == Approx(7.0));
  CHECK(g.data()[1] == Approx(-2.0));
}
