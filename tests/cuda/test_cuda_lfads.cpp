// LFADS (include/ctd/lfads/), unchanged, on the CUDA backend against the CPU
// backend on identical inputs:
//  - the noise of one pass drawn on the device from the same Rng as on the
//    host: the same dropout masks bit for bit, the same normals to rounding;
//  - one forward and backward pass in double at small sizes, with the same
//    parameters, counts and noise on both: every part of the loss (1e-10
//    relative) and every parameter's gradient (1e-9 relative);
//  - a few training steps at the tutorial's sizes in float through
//    LfadsTrainingLoss and the library's Trainer, same seeds on both: the
//    first step's loss (1e-3 relative) and gradient, and the later losses;
//  - the training loss's steps in double, its passes replayed as CUDA
//    graphs from the second step: every step's loss and gradient;
//  - the posterior sample-and-average of a handful of trials in double,
//    every averaged output.
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <tuple>
#include <vector>

#include "ctd/lfads/posterior.hpp"
#include "ctd/lfads/streaming.hpp"
#include "ctd/lfads/training.hpp"
#include "lfads_fixtures.hpp"
#include "twin.hpp"

using namespace ctd_test;
using ctd::CudaContext;
using ctd::Rng;
using ctd::testing::relative_error;

namespace {

// Random Poisson spikes with rates in [0.5, 3] per bin, as the benchmarks'.
template <class S>
ctd::LfadsData<S> random_trials(Rng& rng, Index trials, Index T, Index neurons) {
  std::vector<S> counts(std::size_t(trials * T * neurons));
  for (auto& c : counts) c = S(rng.poisson(0.5 + 2.5 * rng.uniform()));
  return ctd::LfadsData<S>(ctd::TrialArray<S>(trials, T, neurons, std::move(counts)));
}

// Every matrix of one pass's noise, in the order LfadsNoise draws them.
template <class B, class S>
std::vector<Matrix<B, S>*> members(ctd::LfadsNoise<B, S>& noise) {
  return {&noise.data_mask, &noise.enc_mask, &noise.ends_mask, &noise.gen_mask,
          &noise.ic_eps,    &noise.ii_eps,   &noise.kl_eps};
}
const char* const member_names[] = {"data_mask", "enc_mask", "ends_mask", "gen_mask", "ic_eps", "ii_eps", "kl_eps"};

// The CPU's noise, copied matrix by matrix to the device.
template <class S>
void copy_noise(cpu::context& host, ctd::LfadsNoise<cpu, S>& from, CudaContext& gpu,
                ctd::LfadsNoise<cuda, S>& to) {
  const auto src = members(from);
  const auto dst = members(to);
  for (std::size_t k = 0; k < src.size(); ++k)
    *dst[k] = ctd::upload<cuda, S>(gpu, ctd::download<cpu, S>(host, src[k]->view()));
}

// One LFADS model on one backend, its parameters given as host values.
template <class B, class S>
struct Model {
  ctd::Parameters<B, S> params;
  ctd::Lfads<B, S> lfads;

  Model(typename B::context& ctx, const ctd::LfadsConfig& c, const HostMatrix<S>& values)
      : params(ctd::Lfads<B, S>::specs(c)), lfads(c, params) {
    ctd::upload<B, S>(ctx, values, params.values());
  }
};

// The parameters both twins get (perturbed_lfads_parameters, on the CPU).
HostMatrix<double> perturbed_values(cpu::context& host, const ctd::LfadsConfig& c, Rng& rng) {
  ctd::Parameters<cpu, double> init(ctd::Lfads<cpu, double>::specs(c));
  ctd::testing::perturbed_lfads_parameters<cpu>(host, init, c, rng);
  return ctd::download<cpu, double>(host, init.values());
}

// Every part of an LFADS loss the GPU computed equals the CPU's to double
// rounding.
void check_same_losses(const ctd::LfadsLosses& got, const ctd::LfadsLosses& want) {
  CHECK(got.kl_scale == want.kl_scale);
  CHECK(got.nll == Approx(want.nll).epsilon(1e-10));
  CHECK(got.kl_ic == Approx(want.kl_ic).epsilon(1e-10));
  CHECK(got.kl_ii == Approx(want.kl_ii).epsilon(1e-10));
  CHECK(got.l2 == Approx(want.l2).epsilon(1e-10));
  CHECK(got.total() == Approx(want.total()).epsilon(1e-10));
}

}  // namespace

TEMPLATE_TEST_CASE("cuda: LFADS noise drawn on the device equals the CPU's draw", "[cuda][lfads][random]", float,
                   double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  const ctd::LfadsConfig c = ctd::testing::small_lfads_config();
  ctd::LfadsNoise<cpu, S> on_cpu;
  ctd::LfadsNoise<cuda, S> on_gpu;
  Rng cpu_rng(31), gpu_rng(31);
  cpu_rng.counter = gpu_rng.counter = 5;
  // Twice: the second draw continues both streams (and reuses the buffers).
  for (int pass = 0; pass < 2; ++pass) {
    on_cpu.draw(host, c, 4, 4, 3, c.keep_rate, cpu_rng);
    on_gpu.draw(gpu, c, 4, 4, 3, c.keep_rate, gpu_rng);
    CHECK(gpu_rng.counter == cpu_rng.counter);
    const auto a = members(on_cpu);
    const auto b = members(on_gpu);
    Index dropped = 0;
    for (std::size_t k = 0; k < a.size(); ++k) {
      INFO("pass " << pass << ", " << member_names[k]);
      const HostMatrix<S> want = ctd::download<cpu, S>(host, a[k]->view());
      const HostMatrix<S> got = ctd::download<cuda, S>(gpu, b[k]->view());
      REQUIRE(got.rows() == want.rows());
      REQUIRE(got.cols() == want.cols());
      if (k < 4) {
        CHECK(got == want);  // masks: integer draws against the same double
        dropped += (want.array() == S(0)).count();
      } else {
        CHECK(relative_difference(got, want) < 1e-6);
      }
    }
    CHECK(dropped > 0);
  }
  // keep_rate 1 (evaluation): masks of ones on both.
  on_cpu.draw(host, c, 4, 4, 3, 1.0, cpu_rng);
  on_gpu.draw(gpu, c, 4, 4, 3, 1.0, gpu_rng);
  CHECK(gpu_rng.counter == cpu_rng.counter);
  CHECK(ctd::download<cuda, S>(gpu, on_gpu.gen_mask.view()) == HostMatrix<S>::Ones(c.gen_dim, 12));
  CHECK(relative_difference(ctd::download<cuda, S>(gpu, on_gpu.ii_eps.view()),
                            ctd::download<cpu, S>(host, on_cpu.ii_eps.view())) < 1e-6);
}

TEST_CASE("cuda: LFADS loss and every parameter gradient equal the CPU's (double)", "[cuda][lfads][gradient]") {
  CudaContext gpu;
  cpu::context host(2);
  const ctd::LfadsConfig c = ctd::testing::small_lfads_config();
  const Index T = 4, batch = 3;
  Rng rng(11);
  const HostMatrix<double> values = perturbed_values(host, c, rng);
  Model<cpu, double> on_cpu(host, c, values);
  Model<cuda, double> on_gpu(gpu, c, values);
  REQUIRE(on_gpu.params.specs().size() == on_cpu.params.specs().size());
  for (std::size_t k = 0; k < on_cpu.params.specs().size(); ++k) {
    REQUIRE(on_gpu.params.specs()[k].name == on_cpu.params.specs()[k].name);
    REQUIRE(on_gpu.params.specs()[k].rows == on_cpu.params.specs()[k].rows);
    REQUIRE(on_gpu.params.specs()[k].cols == on_cpu.params.specs()[k].cols);
  }

  const HostMatrix<double> counts = ctd::testing::poisson_counts<double>(rng, c.data_dim, T * batch, 1.5);
  const Matrix<cpu, double> x_cpu = ctd::upload<cpu, double>(host, counts);
  const Matrix<cuda, double> x_gpu = ctd::upload<cuda, double>(gpu, counts);
  ctd::LfadsNoise<cpu, double> noise_cpu;
  ctd::LfadsNoise<cuda, double> noise_gpu;
  noise_cpu.draw(host, c, T, T, batch, c.keep_rate, rng);
  copy_noise(host, noise_cpu, gpu, noise_gpu);

  ctd::LfadsTape<cpu, double> tape_cpu;
  ctd::LfadsTape<cuda, double> tape_gpu;
  const double kl_scale = 0.7;
  const ctd::LfadsLosses want = on_cpu.lfads.forward(host, ctd::LfadsInputs<double>::spikes(x_cpu.view(), T, batch), noise_cpu,
                                                             kl_scale, tape_cpu);
  const ctd::LfadsLosses got = on_gpu.lfads.forward(gpu, ctd::LfadsInputs<double>::spikes(x_gpu.view(), T, batch), noise_gpu,
                                                            kl_scale, tape_gpu);
  CHECK(want.kl_ic > 0);
  CHECK(want.kl_ii != 0);
  check_same_losses(got, want);
  // The forward's intermediates the posterior reads.
  CHECK(relative_difference(ctd::download<cuda, double>(gpu, tape_gpu.lograte.view()),
                            ctd::download<cpu, double>(host, tape_cpu.lograte.view())) < 1e-10);
  CHECK(relative_difference(ctd::download<cuda, double>(gpu, tape_gpu.decoder.co.view()),
                            ctd::download<cpu, double>(host, tape_cpu.decoder.co.view())) < 1e-10);
  CHECK(relative_difference(ctd::download<cuda, double>(gpu, tape_gpu.encoder.ic.view()),
                            ctd::download<cpu, double>(host, tape_cpu.encoder.ic.view())) < 1e-10);

  // The gradient buffers start apart: backward must overwrite all of them.
  ctd::upload<cpu, double>(host, HostMatrix<double>::Constant(values.rows(), 1, 3.0), on_cpu.params.grads());
  ctd::upload<cuda, double>(gpu, HostMatrix<double>::Constant(values.rows(), 1, -5.0), on_gpu.params.grads());
  on_cpu.lfads.backward(host, noise_cpu, tape_cpu);
  on_gpu.lfads.backward(gpu, noise_gpu, tape_gpu);
  const HostMatrix<double> g_cpu = ctd::download<cpu, double>(host, on_cpu.params.grads());
  const HostMatrix<double> g_gpu = ctd::download<cuda, double>(gpu, on_gpu.params.grads());
  CHECK(g_cpu.allFinite());
  CHECK(relative_error(g_gpu, g_cpu) < 1e-9);
  Index offset = 0;
  for (const auto& spec : on_cpu.params.specs()) {
    const Index size = spec.rows * spec.cols;
    INFO("parameter " << spec.name);
    CHECK(relative_error(g_gpu.middleRows(offset, size), g_cpu.middleRows(offset, size)) < 1e-9);
    offset += size;
  }
}

TEST_CASE("cuda: LFADS training steps at the tutorial's sizes follow the CPU's (float)", "[cuda][lfads][training]") {
  CudaContext gpu;
  cpu::context host;
  const ctd::LfadsConfig c;  // the tutorial's: D 100, 128/128/128, factors 32, ii 1
  const Index T = 25, batch = 128, steps = 3;
  REQUIRE(c.data_dim == 100);
  REQUIRE(c.factors_dim == 32);
  Rng data(3);
  const ctd::LfadsData<float> trials = random_trials<float>(data, 2 * batch, T, c.data_dim);

  // One run per backend from the same seeds: initialisation, data
  // generator (batches, masks, normals).
  struct Result {
    std::vector<double> losses;
    ctd::LfadsLosses first;
    HostMatrix<float> first_gradient, before, after;
  };
  const auto train = [&]<class B>(typename B::context& ctx) {
    Result r;
    ctd::Parameters<B, float> params(ctd::Lfads<B, float>::specs(c));
    Rng init(1);
    ctd::initialize_lfads<B, float>(ctx, params, c, init);
    r.before = ctd::download<B, float>(ctx, params.values());
    const ctd::Lfads<B, float> model(c, params);
    ctd::LfadsTrainingLoss<B, float> loss(model, trials, batch);
    ctd::TrainerOptions options = ctd::lfads_trainer_options(steps);
    options.seed = 9;
    ctd::Trainer<B, float> trainer(params, options);
    const auto observed = [&](typename B::context& x, Rng& rng, Index step) {
      const ctd::LfadsLosses parts = loss(x, rng, step);
      if (step == 0) {
        r.first = parts;
        r.first_gradient = ctd::download<B, float>(x, params.grads());
      }
      return parts;
    };
    r.losses = trainer.run(ctx, observed, nullptr).loss_history;
    r.after = ctd::download<B, float>(ctx, params.values());
    return r;
  };
  const Result want = train.template operator()<cpu>(host);
  const Result got = train.template operator()<cuda>(gpu);
  REQUIRE(got.before == want.before);  // the same seeded initialisation
  REQUIRE(got.losses.size() == std::size_t(steps));
  REQUIRE(want.losses.size() == std::size_t(steps));
  INFO("CPU losses " << want.losses[0] << ", " << want.losses[1] << ", " << want.losses[2] << "; GPU "
                     << got.losses[0] << ", " << got.losses[1] << ", " << got.losses[2]);
  CHECK(got.first.nll == Approx(want.first.nll).epsilon(1e-3));
  CHECK(got.first.kl_ic == Approx(want.first.kl_ic).epsilon(1e-3));
  // The AR(1) KL is a one-sample estimate that may lie near zero: its
  // difference is measured against the total loss.
  CHECK(std::abs(got.first.kl_ii - want.first.kl_ii) < 1e-3 * std::abs(want.losses[0]));
  CHECK(got.first.l2 == Approx(want.first.l2).epsilon(1e-3));
  CHECK(got.losses[0] == Approx(want.losses[0]).epsilon(1e-3));
  CHECK(relative_difference(got.first_gradient, want.first_gradient) < 1e-3);
  // Later steps: rounding differences go through clipping and Adam.
  for (std::size_t s = 1; s < std::size_t(steps); ++s) CHECK(got.losses[s] == Approx(want.losses[s]).epsilon(1e-2));
  const HostMatrix<float> gpu_update = got.after - got.before, cpu_update = want.after - want.before;
  CHECK(relative_difference(gpu_update, cpu_update) < 1e-2);
}

TEST_CASE("cuda: LFADS training losses replayed as CUDA graphs equal the CPU's at every step (double)",
          "[cuda][lfads][graph]") {
  // LfadsTrainingLoss runs the model's passes eagerly at step 0, records
  // them at step 1 and replays them after: each step's batch, draws, loss
  // and gradient must stay the CPU's, also as the KL weight changes.
  CudaContext gpu;
  cpu::context host(2);
  const ctd::LfadsConfig c = ctd::testing::small_lfads_config();
  const Index T = 4, batch = 6, steps = 5;
  Rng rng(21);
  const HostMatrix<double> values = perturbed_values(host, c, rng);
  const Model<cpu, double> on_cpu(host, c, values);
  const Model<cuda, double> on_gpu(gpu, c, values);
  const ctd::LfadsData<double> data = random_trials<double>(rng, 3 * batch, T, c.data_dim);
  const ctd::KlWarmup warmup{.start = 0, .end = double(steps), .min = 0.1, .max = 1.0};
  ctd::LfadsTrainingLoss<cpu, double> cpu_loss(on_cpu.lfads, data, batch, warmup);
  ctd::LfadsTrainingLoss<cuda, double> gpu_loss(on_gpu.lfads, data, batch, warmup);
  Rng cpu_rng(5), gpu_rng(5);
  for (Index step = 0; step < steps; ++step) {
    const ctd::LfadsLosses want = cpu_loss(host, cpu_rng, step), got = gpu_loss(gpu, gpu_rng, step);
    INFO("step " << step << ": CPU loss " << want.total() << ", GPU " << got.total());
    check_same_losses(got, want);
    CHECK(relative_difference(ctd::download<cuda, double>(gpu, on_gpu.params.grads()),
                              ctd::download<cpu, double>(host, on_cpu.params.grads())) < 1e-9);
  }
}

TEST_CASE("cuda: LFADS posterior sample-and-average equals the CPU's (double)", "[cuda][lfads][posterior]") {
  CudaContext gpu;
  cpu::context host(2);
  const ctd::LfadsConfig c = ctd::testing::small_lfads_config();
  const Index T = 4, trials = 7, samples = 5, batch = 12;  // 2 trials a pass, the last pass with 1
  Rng rng(13);
  const HostMatrix<double> values = perturbed_values(host, c, rng);
  const Model<cpu, double> on_cpu(host, c, values);
  const Model<cuda, double> on_gpu(gpu, c, values);
  const ctd::LfadsData<double> data = random_trials<double>(rng, trials, T, c.data_dim);

  Rng cpu_rng(17), gpu_rng(17);
  const auto want = ctd::posterior_average<cpu, double>(host, on_cpu.lfads, data, samples, batch, cpu_rng);
  const auto got = ctd::posterior_average<cuda, double>(gpu, on_gpu.lfads, data, samples, batch, gpu_rng);
  CHECK(gpu_rng.counter == cpu_rng.counter);
  CHECK(got.trials == trials);
  CHECK(got.steps == T);
  const std::vector<std::tuple<const char*, const HostMatrix<double>*, const HostMatrix<double>*>> outputs = {
      {"rates", &got.rates, &want.rates},
      {"factors", &got.factors, &want.factors},
      {"gen_states", &got.gen_states, &want.gen_states},
      {"con_states", &got.con_states, &want.con_states},
      {"ii_mean", &got.ii_mean, &want.ii_mean},
      {"ii_std", &got.ii_std, &want.ii_std},
      {"gen_inputs", &got.gen_inputs, &want.gen_inputs},
      {"ic_mean", &got.ic_mean, &want.ic_mean},
      {"ic_std", &got.ic_std, &want.ic_std},
      {"gen_init", &got.gen_init, &want.gen_init}};
  for (const auto& [name, gpu_output, cpu_output] : outputs) {
    INFO("posterior " << name);
    const HostMatrix<double>& a = *gpu_output;
    const HostMatrix<double>& b = *cpu_output;
    REQUIRE(a.rows() == b.rows());
    REQUIRE(a.cols() == b.cols());
    CHECK(b.allFinite());
    CHECK(b.norm() > 0);
    CHECK(relative_difference(a, b) < 1e-9);
  }
  CHECK(want.rates.cols() == trials * T);
  CHECK(want.ic_mean.cols() == trials);
}

TEST_CASE("cuda: the LFADS stream decodes bin by bin what the CPU's stream does (double)",
          "[cuda][lfads][streaming]") {
  CudaContext gpu;
  cpu::context host(1);
  ctd::LfadsConfig c = ctd::testing::small_lfads_config();
  c.causal = true;
  c.ic_window = 3;
  c.recon_dim = 7;
  c.ext_input_dim = 1;
  const Index trials = 4, T = 8;
  Rng rng(21);
  const HostMatrix<double> values = perturbed_values(host, c, rng);
  const Model<cpu, double> on_cpu(host, c, values);
  const Model<cuda, double> on_gpu(gpu, c, values);
  ctd::LfadsStream<cpu, double> want(host, on_cpu.lfads, trials);
  ctd::LfadsStream<cuda, double> got(gpu, on_gpu.lfads, trials);
  for (Index t = 0; t < T; ++t) {
    const HostMatrix<double> counts = ctd::testing::poisson_counts<double>(rng, c.data_dim, trials, 1.5);
    const HostMatrix<double> ext = ctd::random_normal<double>(rng, 1, trials, 1.0);
    const auto x_cpu = ctd::upload<cpu, double>(host, counts), e_cpu = ctd::upload<cpu, double>(host, ext);
    const auto x_gpu = ctd::upload<cuda, double>(gpu, counts), e_gpu = ctd::upload<cuda, double>(gpu, ext);
    const Index ready = want.push(host, x_cpu.view(), e_cpu.view());
    REQUIRE(got.push(gpu, x_gpu.view(), e_gpu.view()) == ready);
    if (ready == 0) continue;
    INFO("bin " << t);
    CHECK(relative_difference(ctd::download<cuda, double>(gpu, got.rates()),
                              ctd::download<cpu, double>(host, want.rates())) < 1e-10);
    CHECK(relative_difference(ctd::download<cuda, double>(gpu, got.inferred_inputs()),
                              ctd::download<cpu, double>(host, want.inferred_inputs())) < 1e-10);
  }
}
