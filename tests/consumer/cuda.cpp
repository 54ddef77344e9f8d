// ctd::cuda from the installed package: one GEMM on the GPU against the CPU.
// Without a GPU it says so and succeeds: linking is what a machine without
// one can check.
#include <cmath>
#include <cstdio>

#include <ctd/backend/cuda/cuda.hpp>
#include <ctd/core/host.hpp>
#include <ctd/core/rng.hpp>

int main() {
  using namespace ctd;
  if (const std::string why = cuda_unavailable_reason(); !why.empty()) {
    std::printf("consumer (cuda): linked; not run, no GPU (%s)\n", why.c_str());
    return 0;
  }
  cuda::context gpu;
  Rng rng(3);
  const HostMatrix<float> a = random_normal<float>(rng, 64, 32, 1.0f), b = random_normal<float>(rng, 32, 16, 1.0f);
  auto ga = upload<cuda, float>(gpu, a), gb = upload<cuda, float>(gpu, b);
  Matrix<cuda, float> gc(64, 16);
  cuda::gemm(gpu, Trans::no, Trans::no, 1.0f, ga.view(), gb.view(), 0.0f, gc.view());
  const HostMatrix<float> difference = download<cuda, float>(gpu, gc.view()) - a * b;
  const double error = difference.cwiseAbs().maxCoeff();
  std::printf("consumer (cuda): GEMM on the GPU, largest difference from the CPU %.2e\n", error);
  return error < 1e-4 ? 0 : 1;
}
