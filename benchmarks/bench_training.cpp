// Training steps of the integrator (vanilla RNN), decision (GRU) and toy
// language (GRU, u 12, T 50, state noise) tutorials at their sizes (n 100,
// B 128, float32): loss, BPTT, clipping and Adam — one iteration of the
// tutorial's loop — against the tutorials' own JAX code (jit-compiled, on
// this CPU; the toy language has none) and the PyTorch references
// (hand-written loop and nn.RNN / nn.GRU; the toy language's hand loop is
// benchmarks/reference/toy_language_torch.py), run in the same invocation.
//
//   bench_training [--json FILE] [--samples N] [--threads T] [--busy-cores C] [--no-reference]
//
// --busy-cores C: C other processes keep a core busy each for the whole run
// (ours and the references alike), the shared machine users meet.
#include <string>
#include <vector>

#include "common/harness.hpp"
#include "common/options.hpp"
#include "ctd/backend/cpu/cpu.hpp"
#include "ctd/cells/gru.hpp"
#include "ctd/cells/vanilla.hpp"
#include "ctd/tasks/toy_language.hpp"
#include "ctd/tasks/white_noise.hpp"
#include "ctd/train/adam.hpp"
#include "ctd/train/regularize.hpp"
#include "ctd/train/rnn_regressor.hpp"

using namespace ctd;

namespace {

constexpr Index n = 100, B = 128, T = 25, toy_T = 50;

// As the reference: 8 batches made up front and cycled, so data generation
// is not timed.
template <template <class, class> class Cell, class MakeBatch>
bench::Timing time_training(cpu::context& ctx, Index inputs, MakeBatch make_batch, AdamOptions adam_options, float l2,
                            float state_noise, int samples) {
  Rng rng(1);
  RnnRegressor<Cell, cpu, float> model(n, inputs, 1);
  model.initialize(ctx, rng, {});
  Adam<cpu, float> adam(model.parameters().total_size(), adam_options);
  std::vector<SequenceBatch<float>> batches;
  for (int i = 0; i < 8; ++i) batches.push_back(make_batch(rng));
  std::size_t next = 0;
  return bench::time_ms(
      [&] {
        model.load(ctx, batches[next++ % batches.size()]);
        model.loss_and_gradient(ctx, l2, {state_noise, &rng});
        clip_global_norm<cpu, float>(ctx, model.parameters().grads(), 10.0f);
        adam.update(ctx, model.parameters().values(), model.parameters().grads());
      },
      5, samples);
}

// The floor under a training step: its products of depth n alone, on one
// thread and as the step runs them (Sequence, parallel_weight_gradient).
// Per step, each weight block times that step's states (forward) and its
// transpose times that step's cotangents (backward), each sweep packing the
// weights once; then each block's weight gradient over all T*B columns.
// `blocks`: the rows of the cell's weight blocks, vanilla {n}, GRU {2n, n}
// (its candidate's product takes r*h, of the states' shape). The thin
// products (one input, one output) and every element-wise pass are left
// out. A product's time does not depend on its operands' values.
bench::Timing time_step_products(const std::vector<Index>& blocks, int samples) {
  cpu::context ctx(1);
  Index rows = 0;
  for (const Index r : blocks) rows += r;
  Matrix<cpu, float> w(rows, n), states(n, (T + 1) * B), proj(rows, T * B), d_proj(rows, T * B), dh(n, B),
      dw(rows, n);
  for (auto m : {w.view(), states.view(), proj.view(), d_proj.view()}) cpu::fill(ctx, m, 0.01f);
  const auto for_blocks = [&](auto&& f) {
    Index r0 = 0;
    for (const Index r : blocks) {
      f(r0, r);
      r0 += r;
    }
  };
  return bench::time_ms(
      [&] {
        {
          const cpu::fixed_left_operands weights_fixed;
          for (Index t = 0; t < T; ++t)
            for_blocks([&](Index r0, Index r) {
              cpu::gemm<float>(ctx, Trans::no, Trans::no, 1.0f, w.view().row_block(r0, r),
                               states.col_block(t * B, B), 1.0f, proj.view().row_block(r0, r).col_block(t * B, B));
            });
        }
        {
          const cpu::fixed_left_operands weights_fixed;
          for (Index t = T - 1; t >= 0; --t)
            for_blocks([&](Index r0, Index r) {
              cpu::gemm<float>(ctx, Trans::yes, Trans::no, 1.0f, w.view().row_block(r0, r),
                               d_proj.view().row_block(r0, r).col_block(t * B, B), r0 == 0 ? 0.0f : 1.0f, dh.view());
            });
        }
        for_blocks([&](Index r0, Index r) {
          cpu::gemm<float>(ctx, Trans::no, Trans::yes, 1.0f, d_proj.view().row_block(r0, r),
                           states.col_block(0, T * B), 0.0f, dw.view().row_block(r0, r));
        });
      },
      5, samples);
}

// Dense FLOPs per step as the reference counts them (NOTES.md).
double vanilla_flops() { return 3.0 * T * (2.0 * B * n * 1 + 2.0 * B * n * n + 2.0 * B * n * 1); }
double gru_flops(Index steps = T, Index u = 1) { return 3.0 * double(steps) * 6.0 * B * n * double(n + u); }

}  // namespace

int main(int argc, char** argv) {
  bench::Options options("bench_training.json");
  int samples = 60, threads = omp_get_max_threads();
  CLI::App app{"Training steps of the integrator, decision and toy-language tutorials against JAX and PyTorch",
               "bench_training"};
  options.add_to(app);
  options.add_busy_cores_to(app);
  app.add_option("--samples", samples, "timed steps of each workload")->check(examples::at_least(1));
  app.add_option("--threads", threads, "the most threads ours runs on")->check(examples::at_least(1));
  examples::parse_or_exit(app, argc, argv);
  const bench::CompetingLoad load(options.busy_cores);
  const auto rows = options.reference ? bench::run_reference("a,b") : std::nullopt;
  const auto jax_rows = options.reference ? bench::run_jax_reference("a,b", samples) : std::nullopt;
  const auto toy_rows = options.reference ? bench::run_reference_script("toy_language_torch.py", samples) : std::nullopt;
  Rng review_rng(2);
  const toy_language::ReviewSet reviews = toy_language::random_reviews(review_rng, 1024, toy_T);
  std::vector<bench::Row> table;
  for (int t : {1, threads}) {
    if (t == 1 && threads == 1 && !table.empty()) break;
    cpu::context ctx(t);
    const std::string label = fmt::format("ctd cpu float32, {} thread{}", t, t > 1 ? "s" : "");
    const auto vanilla = time_training<VanillaRnnCell>(
        ctx, 1, [](Rng& rng) { return integrator_batch<float>(rng, B); }, {0.025, 0.99975, 0.9, 0.999, 0.1}, 2e-4f,
        0.0f, samples);
    const auto gru = time_training<GruCell>(
        ctx, 1, [](Rng& rng) { return decision_batch<float>(rng, B); }, {0.04, 0.9999, 0.9, 0.999, 0.1}, 2e-5f, 0.0f,
        samples);
    const auto toy = time_training<GruCell>(
        ctx, toy_language::vocabulary_size,
        [&](Rng& rng) { return toy_language::sample_batch<float>(reviews, rng, B); },
        {0.04, 0.99995, 0.9, 0.999, 0.1}, 1e-4f, 0.003f, samples);
    table.push_back({"a integrator vRNN train step", label, vanilla, "JAX, the tutorial's code",
                     bench::reference_ms(jax_rows, "a_integrator_vrnn_train", "jax: seed update_w_gc_jit"),
                     vanilla_flops()});
    table.push_back({"b decision GRU train step", label, gru, "JAX, the tutorial's code",
                     bench::reference_ms(jax_rows, "b_gru_decision_train", "jax: seed update_w_gc_jit"), gru_flops()});
    table.push_back({"a integrator vRNN train step", label, vanilla, "PyTorch hand loop",
                     bench::reference_ms(rows, "a_integrator_vrnn_train", "hand loop + autograd"), vanilla_flops()});
    table.push_back({"a integrator vRNN train step", label, vanilla, "torch.nn.RNN",
                     bench::reference_ms(rows, "a_integrator_vrnn_train", "torch.nn.RNN(tanh)"), vanilla_flops()});
    table.push_back({"b decision GRU train step", label, gru, "PyTorch hand loop",
                     bench::reference_ms(rows, "b_gru_decision_train", "hand loop + autograd (seed GRU)"), gru_flops()});
    table.push_back({"b decision GRU train step", label, gru, "torch.nn.GRU",
                     bench::reference_ms(rows, "b_gru_decision_train", "torch.nn.GRU (different gate eqs)"), gru_flops()});
    table.push_back({"e toy language GRU train step", label, toy, "PyTorch hand loop",
                     bench::reference_ms(toy_rows, "e_toy_language_train", "hand loop + autograd (seed GRU)"),
                     gru_flops(toy_T, toy_language::vocabulary_size)});
    table.push_back({"a integrator vRNN train step", label, vanilla, "tutorial 2019 GPU (SPEC)", 7.8, vanilla_flops()});
    table.push_back({"b decision GRU train step", label, gru, "tutorial 2019 GPU (SPEC)", 33.0, gru_flops()});
    if (t == threads) break;
  }
  const double vanilla_product_flops = 3.0 * T * 2.0 * B * n * n, gru_product_flops = 3.0 * vanilla_product_flops;
  const std::string floor = "its products alone, 1 thread";
  table.push_back({"a integrator vRNN train step", floor, time_step_products({n}, samples), "JAX, the tutorial's code",
                   bench::reference_ms(jax_rows, "a_integrator_vrnn_train", "jax: seed update_w_gc_jit"),
                   vanilla_product_flops});
  table.push_back({"b decision GRU train step", floor, time_step_products({2 * n, n}, samples),
                   "JAX, the tutorial's code",
                   bench::reference_ms(jax_rows, "b_gru_decision_train", "jax: seed update_w_gc_jit"),
                   gru_product_flops});
  bench::report(table, options.json);
}
