// The LFADS family of the CUDA backend (core/fused_ops.hpp's CTD_LFADS_OPS)
// against the CPU backend on identical random inputs, in float and double,
// through strided views; and random fills recorded into a CUDA graph, which
// must draw new numbers at every replay.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>

#include "ctd/backend/cuda/graph.hpp"
#include "twin.hpp"

using namespace ctd_test;
using ctd::CudaContext;
using ctd::Rng;

namespace {

// Several roundings of the scalar: the losses and the AR(1) sweep chain a
// few dozen operations, and device exp/log may differ from the host's in
// the last bit.
template <class S>
constexpr double chain_tolerance = sizeof(S) == 4 ? 1e-4 : 1e-11;

template <class S>
HostMatrix<S> constant_plus_noise(Rng& rng, Index rows, Index cols, double value, double noise) {
  return (ctd::random_normal<S>(rng, rows, cols, S(noise)).array() + S(value)).matrix();
}

// Counts of a Poisson likelihood: small non-negative integers.
template <class S>
HostMatrix<S> poisson_counts(Rng& rng, Index rows, Index cols) {
  HostMatrix<S> counts(rows, cols);
  for (Index k = 0; k < counts.size(); ++k) counts.data()[k] = S(rng.poisson(1.5));
  return counts;
}

}  // namespace

TEMPLATE_TEST_CASE("cuda: fill_dropout_mask draws the CPU's mask from the same counters", "[cuda][lfads][random]",
                   float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(20);
  Twin<S> a(gpu, rng, 50, 40), b(gpu, rng, 9, 5);
  Rng on_cpu(77), on_gpu(77);
  on_cpu.counter = on_gpu.counter = 11;
  for (Twin<S>* t : {&a, &b}) {  // the second fill continues the stream
    cpu::fill_dropout_mask(host, t->cpu_view(), S(0.7), on_cpu);
    cuda::fill_dropout_mask(gpu, t->gpu_view(), S(0.7), on_gpu);
    CHECK(on_gpu.counter == on_cpu.counter);
    // Integer draws compared with the same double: the very same mask.
    CHECK(t->compared(gpu) == 0);
  }
  CHECK(on_gpu.counter == 11 + 50 * 40 + 9 * 5);
  // Element (i, j) keeps draw i + j * rows.
  const HostMatrix<S> mask = ctd::download<cuda, S>(gpu, a.gpu_view());
  const bool kept = ctd::Rng::uniform_at(77, 11 + 4 + 3 * 50) < 0.7;
  CHECK(mask(4, 3) == (kept ? S(1) / S(0.7) : S(0)));
  // keep_rate 1: ones, and no draws.
  cpu::fill_dropout_mask(host, a.cpu_view(), S(1), on_cpu);
  cuda::fill_dropout_mask(gpu, a.gpu_view(), S(1), on_gpu);
  CHECK(on_gpu.counter == 11 + 50 * 40 + 9 * 5);
  CHECK(on_cpu.counter == on_gpu.counter);
  CHECK(a.compared(gpu) == 0);
  CHECK(ctd::download<cuda, S>(gpu, a.gpu_view()) == HostMatrix<S>::Ones(50, 40));
}

TEMPLATE_TEST_CASE("cuda: LFADS element-wise passes equal the CPU's", "[cuda][lfads]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(21);
  const Index n = 37, cols = 90;
  const S var_min = S(1e-3);
  Twin<S> a(gpu, rng, n, cols), b(gpu, rng, n, cols), y(gpu, rng, n, cols);
  cpu::multiply(host, a.cpu_view(), b.cpu_view(), y.cpu_view());
  cuda::multiply(gpu, a.gpu_view(), b.gpu_view(), y.gpu_view());
  CHECK(y.compared(gpu) == 0);
  cpu::exp(host, a.cpu_view(), y.cpu_view());
  cuda::exp(gpu, a.gpu_view(), y.gpu_view());
  CHECK(y.compared(gpu) < op_tolerance<S>);

  Twin<S> mean(gpu, rng, n, cols), logvar(gpu, rng, n, cols), eps(gpu, rng, n, cols), z(gpu, rng, n, cols);
  cpu::gaussian_sample(host, mean.cpu_view(), logvar.cpu_view(), eps.cpu_view(), var_min, z.cpu_view());
  cuda::gaussian_sample(gpu, mean.gpu_view(), logvar.gpu_view(), eps.gpu_view(), var_min, z.gpu_view());
  CHECK(z.compared(gpu) < op_tolerance<S>);
  // The backward pass adds into gradients that start random.
  Twin<S> dz(gpu, rng, n, cols), d_mean(gpu, rng, n, cols), d_logvar(gpu, rng, n, cols);
  cpu::gaussian_sample_backward(host, dz.cpu_view(), logvar.cpu_view(), eps.cpu_view(), var_min,
                                d_mean.cpu_view(), d_logvar.cpu_view());
  cuda::gaussian_sample_backward(gpu, dz.gpu_view(), logvar.gpu_view(), eps.gpu_view(), var_min,
                                 d_mean.gpu_view(), d_logvar.gpu_view());
  CHECK(d_mean.compared(gpu) < op_tolerance<S>);
  CHECK(d_logvar.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: kl_gauss_gauss equals the CPU's sum and gradients", "[cuda][lfads][reductions]", float,
                   double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(22);
  // More columns than one grid of the reduction's first pass.
  const Index n = 24, cols = 12000;
  const S var_min = S(1e-4), scale = S(0.37);
  Twin<S> mean(gpu, rng, n, cols), logvar(gpu, rng, n, cols, S(0.5)), prior_mean(gpu, rng, n, 1),
      prior_logvar(gpu, rng, n, 1, S(0.5));
  Twin<S> d_mean(gpu, rng, n, cols), d_logvar(gpu, rng, n, cols), d_prior_logvar(gpu, rng, n, cols);
  const S on_cpu = cpu::kl_gauss_gauss(host, mean.cpu_view(), logvar.cpu_view(), prior_mean.cpu_view(),
                                       prior_logvar.cpu_view(), var_min, scale, d_mean.cpu_view(),
                                       d_logvar.cpu_view(), d_prior_logvar.cpu_view());
  const S on_gpu = cuda::kl_gauss_gauss(gpu, mean.gpu_view(), logvar.gpu_view(), prior_mean.gpu_view(),
                                        prior_logvar.gpu_view(), var_min, scale, d_mean.gpu_view(),
                                        d_logvar.gpu_view(), d_prior_logvar.gpu_view());
  CHECK(on_cpu > S(0));
  CHECK(double(on_gpu) == Approx(double(on_cpu)).epsilon(chain_tolerance<S>));
  CHECK(d_mean.compared(gpu) < op_tolerance<S>);
  CHECK(d_logvar.compared(gpu) < op_tolerance<S>);
  CHECK(d_prior_logvar.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: kl_gauss_ar1 equals the CPU's sum and gradients", "[cuda][lfads][reductions]", float,
                   double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(23);
  const Index dims = 5, steps = 30, trials = 70;
  const S var_min = S(1e-4), scale = S(0.8);
  Twin<S> mean(gpu, rng, dims, steps * trials, S(0.5)), logvar(gpu, rng, dims, steps * trials, S(0.5)),
      eps(gpu, rng, dims, steps * trials);
  Twin<S> ar_mean(gpu, rng, dims, 1, S(0.1)), ar_logatau(gpu, rng, dims, 1), ar_lognvar(gpu, rng, dims, 1);
  logvar.set(gpu, constant_plus_noise<S>(rng, dims, steps * trials, -1.0, 0.3));
  ar_logatau.set(gpu, constant_plus_noise<S>(rng, dims, 1, std::log(10.0), 0.3));  // tau ~ 10 steps
  ar_lognvar.set(gpu, constant_plus_noise<S>(rng, dims, 1, std::log(0.1), 0.3));
  // The gradients are overwritten: they start random.
  Twin<S> d_mean(gpu, rng, dims, steps * trials), d_logvar(gpu, rng, dims, steps * trials),
      d_prior(gpu, rng, 3 * dims, trials);
  const S on_cpu = cpu::kl_gauss_ar1(host, mean.cpu_view(), logvar.cpu_view(), eps.cpu_view(), ar_mean.cpu_view(),
                                     ar_logatau.cpu_view(), ar_lognvar.cpu_view(), var_min, scale, steps,
                                     d_mean.cpu_view(), d_logvar.cpu_view(), d_prior.cpu_view());
  const S on_gpu = cuda::kl_gauss_ar1(gpu, mean.gpu_view(), logvar.gpu_view(), eps.gpu_view(), ar_mean.gpu_view(),
                                      ar_logatau.gpu_view(), ar_lognvar.gpu_view(), var_min, scale, steps,
                                      d_mean.gpu_view(), d_logvar.gpu_view(), d_prior.gpu_view());
  CHECK(std::isfinite(double(on_cpu)));
  CHECK(double(on_gpu) == Approx(double(on_cpu)).epsilon(chain_tolerance<S>));
  CHECK(d_mean.compared(gpu) < chain_tolerance<S>);
  CHECK(d_logvar.compared(gpu) < chain_tolerance<S>);
  CHECK(d_prior.compared(gpu) < chain_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: poisson_nll equals the CPU's sum and gradient", "[cuda][lfads][reductions]", float,
                   double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(24);
  const Index n = 29, cols = 700;
  const S scale = S(0.25);
  Twin<S> lograte(gpu, rng, n, cols, S(0.5)), counts(gpu, rng, n, cols), d_lograte(gpu, rng, n, cols);
  counts.set(gpu, poisson_counts<S>(rng, n, cols));
  const S on_cpu = cpu::poisson_nll(host, lograte.cpu_view(), counts.cpu_view(), scale, d_lograte.cpu_view());
  const S on_gpu = cuda::poisson_nll(gpu, lograte.gpu_view(), counts.gpu_view(), scale, d_lograte.gpu_view());
  // Terms of either sign: the margin is relative to the terms' size (~1 each).
  CHECK(double(on_gpu) ==
        Approx(double(on_cpu)).epsilon(chain_tolerance<S>).margin(chain_tolerance<S> * double(scale) * n * cols));
  CHECK(d_lograte.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: normalize_rows and its backward equal the CPU's", "[cuda][lfads]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(25);
  const Index rows = 32, cols = 128;  // the factors' readin/readout shape
  Twin<S> w(gpu, rng, rows, cols), norms(gpu, rng, rows, 1), w_hat(gpu, rng, rows, cols);
  cpu::normalize_rows(host, w.cpu_view(), norms.cpu_view(), w_hat.cpu_view());
  cuda::normalize_rows(gpu, w.gpu_view(), norms.gpu_view(), w_hat.gpu_view());
  CHECK(norms.compared(gpu) < op_tolerance<S>);
  CHECK(w_hat.compared(gpu) < op_tolerance<S>);
  Twin<S> d_w_hat(gpu, rng, rows, cols), d_w(gpu, rng, rows, cols);
  cpu::normalize_rows_backward(host, d_w_hat.cpu_view(), w_hat.cpu_view(), norms.cpu_view(), d_w.cpu_view());
  cuda::normalize_rows_backward(gpu, d_w_hat.gpu_view(), w_hat.gpu_view(), norms.gpu_view(), d_w.gpu_view());
  CHECK(d_w.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: random fills recorded in a CUDA graph draw new numbers at every replay",
                   "[cuda][random][graph]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  const Index rows = 40, cols = 30;
  const S keep = S(0.6);
  Matrix<cuda, S> noise(rows, cols), other(rows, cols), mask(rows, cols);
  Rng on_gpu(123);
  ctd::CudaGraph graph;
  // Two normal fills and a mask, as one LFADS step draws them.
  graph.capture(gpu, [&] {
    cuda::fill_normal(gpu, noise.view(), S(0.5), S(2), on_gpu);
    cuda::fill_normal(gpu, other.view(), S(0.5), S(2), on_gpu);
    cuda::fill_dropout_mask(gpu, mask.view(), keep, on_gpu);
  });
  // Recording advances the host counter as the eager fills would.
  CHECK(on_gpu.counter == std::uint64_t(3 * rows * cols));
  // The three fills and the replay counter's advance, recorded once.
  CHECK(graph.kernel_count() == 4);

  HostMatrix<S> noises[2], others[2], masks[2];
  for (int replay = 0; replay < 2; ++replay) {
    graph.launch(gpu);
    noises[replay] = ctd::download<cuda, S>(gpu, noise.view());
    others[replay] = ctd::download<cuda, S>(gpu, other.view());
    masks[replay] = ctd::download<cuda, S>(gpu, mask.view());
  }
  // Every replay draws anew, and the fills of one replay differ.
  for (int replay = 0; replay < 2; ++replay) {
    CHECK(noises[replay] != others[replay]);
    // Still N(0.5, 2^2): 1200 draws put the sample mean within 0.3 and the
    // sample deviation within 0.3 with room to spare.
    const double mean = double(noises[replay].sum()) / double(rows * cols);
    const double deviation =
        std::sqrt((noises[replay].template cast<double>().array() - mean).square().sum() / double(rows * cols));
    CHECK(std::abs(mean - 0.5) < 0.3);
    CHECK(std::abs(deviation - 2.0) < 0.3);
    // Still a mask: 0 or 1/keep, kept at about the keep rate.
    Index kept = 0;
    for (Index k = 0; k < masks[replay].size(); ++k) {
      const S m = masks[replay].data()[k];
      CHECK((m == S(0) || m == S(1) / keep));
      kept += m != S(0);
    }
    CHECK(std::abs(double(kept) / double(rows * cols) - double(keep)) < 0.1);
  }
  CHECK(noises[0] != noises[1]);
  CHECK(others[0] != others[1]);
  CHECK(masks[0] != masks[1]);
  // Elementwise too, not just somewhere: fresh draws agree almost nowhere.
  CHECK((noises[0].array() == noises[1].array()).count() < 5);

  // Eager fills after replays still draw the CPU's numbers from the counters.
  Rng on_cpu(123), eager(123);
  on_cpu.counter = eager.counter = on_gpu.counter;
  Matrix<cpu, S> on_host(rows, cols), mask_on_host(rows, cols);
  cpu::fill_normal(host, on_host.view(), S(0.5), S(2), on_cpu);
  cuda::fill_normal(gpu, noise.view(), S(0.5), S(2), eager);
  cpu::fill_dropout_mask(host, mask_on_host.view(), keep, on_cpu);
  cuda::fill_dropout_mask(gpu, mask.view(), keep, eager);
  CHECK(eager.counter == on_cpu.counter);
  CHECK(relative_difference(ctd::download<cuda, S>(gpu, noise.view()),
                            ctd::download<cpu, S>(host, on_host.view())) < (sizeof(S) == 4 ? 1e-6 : 1e-14));
  CHECK(ctd::download<cuda, S>(gpu, mask.view()) == ctd::download<cpu, S>(host, mask_on_host.view()));

  // A second recording on the same context draws apart from the first's
  // replays (the counter is the context's and only grows).
  ctd::CudaGraph second;
  Rng again(123);
  second.capture(gpu, [&] { cuda::fill_normal(gpu, noise.view(), S(0.5), S(2), again); });
  second.launch(gpu);
  const HostMatrix<S> from_second = ctd::download<cuda, S>(gpu, noise.view());
  CHECK(from_second != noises[0]);
  CHECK(from_second != noises[1]);
}
