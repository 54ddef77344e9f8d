// Every operation of the CUDA backend against the CPU backend on identical
// inputs, in float and double, through strided views (a view's rows outside
// it must stay untouched), plus storage, error reporting and CUDA graphs.
#include <catch2/catch.hpp>

#include <cmath>
#include <limits>

#include "ctd/backend/cuda/graph.hpp"
#include "ctd/cells/sequence.hpp"
#include "ctd/cells/vanilla.hpp"
#include "twin.hpp"

using namespace ctd_test;
using ctd::CudaContext;
using ctd::Rng;
using ctd::Trans;
using Catch::Matchers::Contains;

namespace {

template <class S>
HostMatrix<S> nan_matrix(Index rows, Index cols) {
  return HostMatrix<S>::Constant(rows, cols, std::numeric_limits<S>::quiet_NaN());
}

}  // namespace

TEMPLATE_TEST_CASE("cuda: gemm equals the CPU's for every transpose and beta", "[cuda][blas]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(1);
  const Index m = 37, n = 29, k = 41;
  for (const Trans ta : {Trans::no, Trans::yes})
    for (const Trans tb : {Trans::no, Trans::yes})
      for (const S beta : {S(0), S(1), S(-0.5)}) {
        Twin<S> a(gpu, rng, ta == Trans::no ? m : k, ta == Trans::no ? k : m);
        Twin<S> b(gpu, rng, tb == Trans::no ? k : n, tb == Trans::no ? n : k);
        Twin<S> c(gpu, rng, m, n);
        if (beta == S(0)) c.set(gpu, nan_matrix<S>(m, n));  // beta == 0 overwrites, NaN included
        cpu::gemm(host, ta, tb, S(0.7), a.cpu_view(), b.cpu_view(), beta, c.cpu_view());
        cuda::gemm(gpu, ta, tb, S(0.7), a.gpu_view(), b.gpu_view(), beta, c.gpu_view());
        INFO("transposes " << int(ta) << int(tb) << ", beta " << beta);
        CHECK(c.compared(gpu) < op_tolerance<S>);
      }
}

TEMPLATE_TEST_CASE("cuda: gemm with an empty inner dimension scales C by beta", "[cuda][blas]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(2);
  for (const S beta : {S(0), S(2)}) {
    Twin<S> a(gpu, rng, 5, 0), b(gpu, rng, 0, 4), c(gpu, rng, 5, 4);
    cpu::gemm(host, Trans::no, Trans::no, S(1), a.cpu_view(), b.cpu_view(), beta, c.cpu_view());
    cuda::gemm(gpu, Trans::no, Trans::no, S(1), a.gpu_view(), b.gpu_view(), beta, c.gpu_view());
    CHECK(c.compared(gpu) < op_tolerance<S>);
  }
}

TEMPLATE_TEST_CASE("cuda: gemv, ger, symv and syrk equal the CPU's", "[cuda][blas]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(3);
  const Index m = 53, n = 31;
  for (const Trans ta : {Trans::no, Trans::yes})
    for (const S beta : {S(0), S(1), S(0.5)}) {
      Twin<S> a(gpu, rng, m, n), x(gpu, rng, ta == Trans::no ? n : m, 1), y(gpu, rng, ta == Trans::no ? m : n, 1);
      if (beta == S(0)) y.set(gpu, nan_matrix<S>(ta == Trans::no ? m : n, 1));
      cpu::gemv(host, ta, S(-1.5), a.cpu_view(), x.cpu_view(), beta, y.cpu_view());
      cuda::gemv(gpu, ta, S(-1.5), a.gpu_view(), x.gpu_view(), beta, y.gpu_view());
      INFO("transpose " << int(ta) << ", beta " << beta);
      CHECK(y.compared(gpu) < op_tolerance<S>);
    }
  Twin<S> a(gpu, rng, m, n), x(gpu, rng, m, 1), y(gpu, rng, n, 1);
  cpu::ger(host, S(0.3), x.cpu_view(), y.cpu_view(), a.cpu_view());
  cuda::ger(gpu, S(0.3), x.gpu_view(), y.gpu_view(), a.gpu_view());
  CHECK(a.compared(gpu) < op_tolerance<S>);

  // A non-symmetric P: both backends read (symv) and write (syrk) only its
  // lower triangle, so the upper one must come out unchanged on both.
  Twin<S> p(gpu, rng, m, m), h(gpu, rng, m, 1), k(gpu, rng, m, 1), u(gpu, rng, m, 3);
  for (const S beta : {S(0), S(0.25)}) {
    cpu::symv(host, S(2), p.cpu_view(), h.cpu_view(), beta, k.cpu_view());
    cuda::symv(gpu, S(2), p.gpu_view(), h.gpu_view(), beta, k.gpu_view());
    CHECK(k.compared(gpu) < op_tolerance<S>);
  }
  cpu::syrk(host, S(-0.7), u.cpu_view(), p.cpu_view());
  cuda::syrk(gpu, S(-0.7), u.gpu_view(), p.gpu_view());
  CHECK(p.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: element-wise algebra and copies equal the CPU's", "[cuda][elementwise]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(4);
  // 1100 x 1000: more elements than one grid of the element-wise kernels.
  Twin<S> x(gpu, rng, 1100, 1000), y(gpu, rng, 1100, 1000);
  cpu::fill(host, x.cpu_view(), S(2.5));
  cuda::fill(gpu, x.gpu_view(), S(2.5));
  CHECK(x.compared(gpu) == 0);
  cpu::copy(host, ConstView<S>(y.cpu_view()), x.cpu_view());
  cuda::copy(gpu, ConstView<S>(y.gpu_view()), x.gpu_view());
  CHECK(x.compared(gpu) == 0);
  // copy_to_host from a strided view gives the view's entries, contiguous.
  CHECK(ctd::download<cuda, S>(gpu, x.gpu_view()) == x.gpu_parent(gpu).middleRows(1, 1100));
  cpu::axpy(host, S(-0.3), x.cpu_view(), y.cpu_view());
  cuda::axpy(gpu, S(-0.3), x.gpu_view(), y.gpu_view());
  CHECK(y.compared(gpu) < op_tolerance<S>);
  cpu::scale(host, S(1.7), y.cpu_view());
  cuda::scale(gpu, S(1.7), y.gpu_view());
  CHECK(y.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: reductions and broadcasts equal the CPU's", "[cuda][reductions]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(5);
  // More elements than the first reduction pass covers in one grid.
  Twin<S> big(gpu, rng, 700, 600), other(gpu, rng, 700, 600);
  const double ss = cpu::sum_squares(host, ConstView<S>(big.cpu_view()));
  CHECK(double(cuda::sum_squares(gpu, ConstView<S>(big.gpu_view()))) == Approx(ss).epsilon(op_tolerance<S>));
  const double d = cpu::dot(host, ConstView<S>(big.cpu_view()), ConstView<S>(other.cpu_view()));
  CHECK(double(cuda::dot(gpu, ConstView<S>(big.gpu_view()), ConstView<S>(other.gpu_view()))) ==
        Approx(d).epsilon(10 * op_tolerance<S> * ss / std::abs(d)));
  CHECK(cuda::sum_squares(gpu, ConstView<S>(MatrixView<S>{})) == S(0));

  Twin<S> x(gpu, rng, 70, 300), bias(gpu, rng, 70, 1), y(gpu, rng, 70, 300);
  cpu::add_row_sums(host, ConstView<S>(x.cpu_view()), bias.cpu_view());
  cuda::add_row_sums(gpu, ConstView<S>(x.gpu_view()), bias.gpu_view());
  CHECK(bias.compared(gpu) < op_tolerance<S>);
  cpu::broadcast_columns(host, ConstView<S>(bias.cpu_view()), y.cpu_view());
  cuda::broadcast_columns(gpu, ConstView<S>(bias.gpu_view()), y.gpu_view());
  CHECK(y.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: masked_mse equals the CPU's loss and gradient", "[cuda][reductions]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(6);
  const Index o = 3, cols = 400;
  Twin<S> out(gpu, rng, o, cols), target(gpu, rng, o, cols), mask(gpu, rng, o, cols), dout(gpu, rng, o, cols);
  HostMatrix<S> m(o, cols);
  for (Index i = 0; i < m.size(); ++i) m.data()[i] = rng.uniform() < 0.3 ? S(1) : S(0);
  mask.set(gpu, m);
  const S on_cpu = cpu::masked_mse(host, out.cpu_view(), target.cpu_view(), mask.cpu_view(), dout.cpu_view());
  const S on_gpu = cuda::masked_mse(gpu, out.gpu_view(), target.gpu_view(), mask.gpu_view(), dout.gpu_view());
  CHECK(double(on_gpu) == Approx(double(on_cpu)).epsilon(op_tolerance<S>));
  CHECK(dout.compared(gpu) < op_tolerance<S>);

  mask.set(gpu, HostMatrix<S>::Zero(o, cols));
  CHECK_THROWS_WITH(cuda::masked_mse(gpu, out.gpu_view(), target.gpu_view(), mask.gpu_view(), dout.gpu_view()),
                    Contains("mask selects no entries"));
}

TEMPLATE_TEST_CASE("cuda: Adam steps equal the CPU's", "[cuda][adam]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(7);
  Twin<S> x(gpu, rng, 300, 7), g(gpu, rng, 300, 7), m(gpu, rng, 300, 7, S(0)), v(gpu, rng, 300, 7, S(0));
  for (Index step = 0; step < 3; ++step) {
    cpu::adam_update(host, x.cpu_view(), g.cpu_view(), m.cpu_view(), v.cpu_view(), S(0.05), S(0.9), S(0.999),
                     S(1e-3), step);
    cuda::adam_update(gpu, x.gpu_view(), g.gpu_view(), m.gpu_view(), v.gpu_view(), S(0.05), S(0.9), S(0.999),
                      S(1e-3), step);
  }
  CHECK(x.compared(gpu) < op_tolerance<S>);
  CHECK(m.compared(gpu) < op_tolerance<S>);
  CHECK(v.compared(gpu) < op_tolerance<S>);
}

TEMPLATE_TEST_CASE("cuda: fill_normal draws the CPU's numbers from the same counters", "[cuda][random]", float,
                   double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(8);
  Twin<S> a(gpu, rng, 40, 30), b(gpu, rng, 7, 3);
  Rng on_cpu(123), on_gpu(123);
  on_cpu.counter = on_gpu.counter = 5;
  for (Twin<S>* t : {&a, &b}) {  // the second fill continues the stream
    cpu::fill_normal(host, t->cpu_view(), S(0.5), S(2), on_cpu);
    cuda::fill_normal(gpu, t->gpu_view(), S(0.5), S(2), on_gpu);
    CHECK(on_gpu.counter == on_cpu.counter);
    // Device log/cos may differ from the host's in the last bits of a
    // double, and contracted multiply-adds round once less; another draw
    // would differ by O(1).
    CHECK(t->compared(gpu) < (sizeof(S) == 4 ? 1e-6 : 1e-14));
  }
  CHECK(on_gpu.counter == 5 + 40 * 30 + 7 * 3);
  // Element k of the first fill is mean + stddev * normal_at(seed, 5 + k).
  const HostMatrix<S> first = ctd::download<cuda, S>(gpu, a.gpu_view());
  CHECK(double(first(3, 2)) == Approx(0.5 + 2 * ctd::Rng::normal_at(123, 5 + 3 + 2 * 40)).epsilon(1e-6));
}

TEMPLATE_TEST_CASE("cuda: fused cell passes equal the CPU's", "[cuda][cells]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(9);
  const Index n = 45, batch = 33;
  SECTION("vanilla: tanh and tanh_backward") {
    Twin<S> z(gpu, rng, n, batch), h(gpu, rng, n, batch), dh(gpu, rng, n, batch);
    cpu::tanh(host, z.cpu_view(), h.cpu_view());
    cuda::tanh(gpu, z.gpu_view(), h.gpu_view());
    CHECK(h.compared(gpu) < op_tolerance<S>);
    cpu::tanh_backward(host, dh.cpu_view(), h.cpu_view(), z.cpu_view());
    cuda::tanh_backward(gpu, dh.gpu_view(), h.gpu_view(), z.gpu_view());
    CHECK(z.compared(gpu) < op_tolerance<S>);
  }
  SECTION("GRU: gates, state and both backward passes on the strided r/u halves") {
    Twin<S> gates(gpu, rng, 2 * n, batch), h(gpu, rng, n, batch), rh(gpu, rng, n, batch), c(gpu, rng, n, batch);
    Twin<S> h_next(gpu, rng, n, batch), dh_next(gpu, rng, n, batch), dgates(gpu, rng, 2 * n, batch);
    Twin<S> dc(gpu, rng, n, batch), dh(gpu, rng, n, batch), drh(gpu, rng, n, batch);
    cpu::gru_gates(host, gates.cpu_view(), h.cpu_view(), rh.cpu_view(), S(0.5));
    cuda::gru_gates(gpu, gates.gpu_view(), h.gpu_view(), rh.gpu_view(), S(0.5));
    CHECK(gates.compared(gpu) < op_tolerance<S>);
    CHECK(rh.compared(gpu) < op_tolerance<S>);
    cpu::gru_state(host, c.cpu_view(), gates.cpu_view().row_block(n, n), h.cpu_view(), h_next.cpu_view());
    cuda::gru_state(gpu, c.gpu_view(), gates.gpu_view().row_block(n, n), h.gpu_view(), h_next.gpu_view());
    CHECK(c.compared(gpu) < op_tolerance<S>);
    CHECK(h_next.compared(gpu) < op_tolerance<S>);
    // Both backward passes add into dh (it starts random, not zero).
    cpu::gru_candidate_backward(host, dh_next.cpu_view(), h.cpu_view(), gates.cpu_view().row_block(n, n),
                                c.cpu_view(), dc.cpu_view(), dgates.cpu_view().row_block(n, n), dh.cpu_view());
    cuda::gru_candidate_backward(gpu, dh_next.gpu_view(), h.gpu_view(), gates.gpu_view().row_block(n, n),
                                 c.gpu_view(), dc.gpu_view(), dgates.gpu_view().row_block(n, n), dh.gpu_view());
    CHECK(dc.compared(gpu) < op_tolerance<S>);
    CHECK(dh.compared(gpu) < op_tolerance<S>);
    cpu::gru_reset_backward(host, drh.cpu_view(), h.cpu_view(), gates.cpu_view().row_block(0, n),
                            dgates.cpu_view().row_block(0, n), dh.cpu_view());
    cuda::gru_reset_backward(gpu, drh.gpu_view(), h.gpu_view(), gates.gpu_view().row_block(0, n),
                             dgates.gpu_view().row_block(0, n), dh.gpu_view());
    CHECK(dgates.compared(gpu) < op_tolerance<S>);
    CHECK(dh.compared(gpu) < op_tolerance<S>);
  }
  SECTION("LSTM: state and backward on the four gate blocks") {
    Twin<S> gates(gpu, rng, 4 * n, batch), c(gpu, rng, n, batch), c_next(gpu, rng, n, batch);
    Twin<S> tanh_c_next(gpu, rng, n, batch), h_next(gpu, rng, n, batch);
    cpu::lstm_state(host, gates.cpu_view(), c.cpu_view(), c_next.cpu_view(), tanh_c_next.cpu_view(),
                    h_next.cpu_view(), S(1));
    cuda::lstm_state(gpu, gates.gpu_view(), c.gpu_view(), c_next.gpu_view(), tanh_c_next.gpu_view(),
                     h_next.gpu_view(), S(1));
    CHECK(gates.compared(gpu) < op_tolerance<S>);
    CHECK(c_next.compared(gpu) < op_tolerance<S>);
    CHECK(tanh_c_next.compared(gpu) < op_tolerance<S>);
    CHECK(h_next.compared(gpu) < op_tolerance<S>);
    // d_gates is overwritten (it starts random); dc is added to.
    Twin<S> dh_next(gpu, rng, n, batch), dc_next(gpu, rng, n, batch), d_gates(gpu, rng, 4 * n, batch);
    Twin<S> dc(gpu, rng, n, batch);
    cpu::lstm_backward(host, dh_next.cpu_view(), dc_next.cpu_view(), gates.cpu_view(), c.cpu_view(),
                       tanh_c_next.cpu_view(), d_gates.cpu_view(), dc.cpu_view());
    cuda::lstm_backward(gpu, dh_next.gpu_view(), dc_next.gpu_view(), gates.gpu_view(), c.gpu_view(),
                        tanh_c_next.gpu_view(), d_gates.gpu_view(), dc.gpu_view());
    CHECK(d_gates.compared(gpu) < op_tolerance<S>);
    CHECK(dc.compared(gpu) < op_tolerance<S>);
  }
  SECTION("ESN Euler step") {
    Twin<S> drive(gpu, rng, n, batch), a(gpu, rng, n, batch), h(gpu, rng, n, batch);
    cpu::esn_euler(host, S(0.1), drive.cpu_view(), a.cpu_view(), h.cpu_view());
    cuda::esn_euler(gpu, S(0.1), drive.gpu_view(), a.gpu_view(), h.gpu_view());
    CHECK(a.compared(gpu) < op_tolerance<S>);
    CHECK(h.compared(gpu) < op_tolerance<S>);
  }
}

TEMPLATE_TEST_CASE("cuda: analysis passes equal the CPU's", "[cuda][analysis]", float, double) {
  using S = TestType;
  CudaContext gpu;
  cpu::context host;
  Rng rng(10);
  const Index n = 20, points = 150, u = 3;
  Twin<S> a(gpu, rng, n, points), b(gpu, rng, n, points), y(gpu, rng, n, points), norms(gpu, rng, 1, points);
  cpu::scaled_difference(host, S(0.3), a.cpu_view(), b.cpu_view(), y.cpu_view());
  cuda::scaled_difference(gpu, S(0.3), a.gpu_view(), b.gpu_view(), y.gpu_view());
  CHECK(y.compared(gpu) < op_tolerance<S>);
  cpu::column_sum_squares(host, a.cpu_view(), norms.cpu_view());
  cuda::column_sum_squares(gpu, a.gpu_view(), norms.gpu_view());
  CHECK(norms.compared(gpu) < op_tolerance<S>);

  // Jacobian blocks: diag(d_p) w with w shared, per point, and in place.
  Twin<S> d(gpu, rng, n, points), shared(gpu, rng, n, u), blocks(gpu, rng, n, u * points);
  Twin<S> out(gpu, rng, n, u * points);
  for (const S beta : {S(0), S(0.5)}) {
    if (beta == S(0)) out.set(gpu, nan_matrix<S>(n, u * points));
    cpu::scale_rows_blocks(host, d.cpu_view(), shared.cpu_view(), beta, out.cpu_view());
    cuda::scale_rows_blocks(gpu, d.gpu_view(), shared.gpu_view(), beta, out.gpu_view());
    CHECK(out.compared(gpu) < op_tolerance<S>);
    cpu::scale_rows_blocks(host, d.cpu_view(), blocks.cpu_view(), beta, out.cpu_view());
    cuda::scale_rows_blocks(gpu, d.gpu_view(), blocks.gpu_view(), beta, out.gpu_view());
    CHECK(out.compared(gpu) < op_tolerance<S>);
  }
  cpu::scale_rows_blocks(host, d.cpu_view(), out.cpu_view(), S(0), out.cpu_view());
  cuda::scale_rows_blocks(gpu, d.gpu_view(), out.gpu_view(), S(0), out.gpu_view());
  CHECK(out.compared(gpu) < op_tolerance<S>);

  Twin<S> jac(gpu, rng, n, n * points);
  cpu::add_diagonal_blocks(host, d.cpu_view(), jac.cpu_view());
  cuda::add_diagonal_blocks(gpu, d.gpu_view(), jac.gpu_view());
  CHECK(jac.compared(gpu) < op_tolerance<S>);
}

TEST_CASE("cuda: memory comes zero-filled and releasing null is a no-op", "[cuda][storage]") {
  CudaContext gpu;
  Matrix<cuda, double> m(123, 45);
  CHECK(ctd::download<cuda, double>(gpu, m.view()) == HostMatrix<double>::Zero(123, 45));
  cuda::deallocate(static_cast<float*>(nullptr));
  CHECK(cuda::allocate<float>(0) == nullptr);
}

TEST_CASE("cuda: CUDA and cuBLAS failures become ctd::Error naming the call and the error", "[cuda][errors]") {
  CudaContext gpu;
  // 64 TiB: more than any GPU has.
  CHECK_THROWS_WITH(cuda::allocate<float>(Index(1) << 44),
                    Contains("cudaMalloc") && Contains("cudaErrorMemoryAllocation"));
  // A leading dimension below the row count is invalid for cuBLAS; it checks
  // its arguments before touching memory.
  Matrix<cuda, float> a(4, 3), x(3, 1), y(4, 1);
  const ConstView<float> bad(a.data(), 4, 3, 2);
  CHECK_THROWS_WITH(cuda::gemv(gpu, Trans::no, 1.0f, bad, ConstView<float>(x.view()), 0.0f, y.view()),
                    Contains("cuBLAS error") && Contains("gemv") && Contains("CUBLAS_STATUS_INVALID_VALUE"));
  // The context is still usable.
  cuda::fill(gpu, y.view(), 1.0f);
  CHECK(ctd::download<cuda, float>(gpu, y.view()) == HostMatrix<float>::Ones(4, 1));
}

TEST_CASE("cuda: a vanilla RNN's time loop replayed from a CUDA graph equals the eager run", "[cuda][graph]") {
  using Cell = ctd::VanillaRnnCell<cuda, float>;
  CudaContext gpu;
  Rng rng(11);
  const Index n = 50, u = 2, T = 12, batch = 16;
  ctd::Parameters<cuda, float> params(Cell::specs(n, u));
  const auto w = ctd::bind_values<Cell>(params);
  Cell::initialize(gpu, w, rng, {});
  const ctd::Sequence<Cell> sequence(Cell(n, u));
  ctd::SequenceTape<cuda, float> tape;
  Matrix<cuda, float> inputs = ctd::upload<cuda, float>(gpu, ctd::random_normal<float>(rng, u, T * batch, 1.0f));
  const auto eager = [&] {
    return ctd::download<cuda, float>(gpu, sequence.forward(gpu, w, inputs.view(), {}, T, batch, tape));
  };
  const HostMatrix<float> first = eager();

  ctd::CudaGraph graph;
  graph.capture(gpu, [&] { sequence.forward(gpu, w, inputs.view(), {}, T, batch, tape); });
  // Each step is at least a GEMM and the fused tanh.
  CHECK(graph.kernel_count() >= std::size_t(2 * T));
  graph.launch(gpu);
  CHECK(ctd::download<cuda, float>(gpu, sequence.outputs(tape)) == first);

  // New data in the same buffer: the replay computes with it.
  ctd::upload<cuda, float>(gpu, ctd::random_normal<float>(rng, u, T * batch, 1.0f), inputs.view());
  graph.launch(gpu);
  const HostMatrix<float> replayed = ctd::download<cuda, float>(gpu, sequence.outputs(tape));
  CHECK(replayed == eager());
  CHECK(replayed != first);

  // The recording belongs to its context, and a failed capture leaves no
  // earlier recording behind to replay.
  CudaContext other;
  CHECK_THROWS_WITH(graph.launch(other), Contains("recorded on another context"));
  CHECK_THROWS_AS(graph.capture(gpu, [&] { cuda::sum_squares(gpu, ConstView<float>(inputs.view())); }), ctd::Error);
  CHECK_THROWS_WITH(graph.launch(gpu), Contains("nothing has been captured"));
}

TEST_CASE("cuda: recording an operation that returns to the host throws and leaves the stream usable",
          "[cuda][graph]") {
  CudaContext gpu;
  Matrix<cuda, float> x(10, 1);
  ctd::CudaGraph graph;
  CHECK_THROWS_AS(graph.capture(gpu, [&] { cuda::sum_squares(gpu, ConstView<float>(x.view())); }), ctd::Error);
  CHECK_THROWS_WITH(graph.launch(gpu), Contains("nothing has been captured"));
  cuda::fill(gpu, x.view(), 2.0f);
  CHECK(cuda::sum_squares(gpu, ConstView<float>(x.view())) == 40.0f);
}
