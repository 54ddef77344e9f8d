#pragma once
// What every CUDA backend operation runs on: one stream, the cuBLAS handle
// bound to it, and the small buffers reductions need. Owned by the caller
// and passed explicitly (no globals), so two contexts are two independent
// streams of work. A context uses the device that is current when it is
// made.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "ctd/backend/cuda/error.hpp"

namespace ctd {

// Empty when a CUDA device is usable, else why not (no device, no driver):
// tests and benchmarks say "skipped" with this reason.
inline std::string cuda_unavailable_reason() {
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    cudaGetLastError();  // clear it: not an error of any later call
    return std::string("cudaGetDeviceCount: ") + cudaGetErrorName(status) + ": " + cudaGetErrorString(status);
  }
  return count > 0 ? std::string() : std::string("no CUDA device");
}

class CudaContext {
 public:
  // Blocks a reduction's first pass uses at most; its partial sums (two per
  // block) live in the context.
  static constexpr int max_reduction_blocks = 1024;

  CudaContext() {
    CTD_CUDA_CHECK(cudaGetDevice(&device_));
    // A blocking stream: it waits for work on the legacy default stream,
    // where allocate() zero-fills new memory.
    cudaStream_t stream = nullptr;
    CTD_CUDA_CHECK(cudaStreamCreate(&stream));
    stream_.reset(stream);
    cublasHandle_t blas = nullptr;
    CTD_CUDA_CHECK(cublasCreate(&blas));
    blas_.reset(blas);
    CTD_CUDA_CHECK(cublasSetStream(blas, stream));
    // An explicit workspace (set after the stream, which resets it): cuBLAS
    // then never allocates, also not while a CUDA graph is being captured.
    blas_workspace_ = device_buffer(blas_workspace_bytes);
    CTD_CUDA_CHECK(cublasSetWorkspace(blas, blas_workspace_.get(), blas_workspace_bytes));
    // Full fp32 GEMMs (no TF32), so float results agree with the CPU backend
    // to float rounding.
    CTD_CUDA_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
    CTD_CUDA_CHECK(cublasSetPointerMode(blas, CUBLAS_POINTER_MODE_HOST));
    reduction_partials_ = device_buffer(2 * max_reduction_blocks * sizeof(double));
    reduction_result_ = device_buffer(2 * sizeof(double));
    replay_counter_ = device_buffer(sizeof(std::uint64_t));
    CTD_CUDA_CHECK(cudaMemset(replay_counter_.get(), 0, sizeof(std::uint64_t)));
    void* pinned = nullptr;
    CTD_CUDA_CHECK(cudaMallocHost(&pinned, 2 * sizeof(double)));
    host_result_.reset(static_cast<double*>(pinned));
  }
  CudaContext(const CudaContext&) = delete;
  CudaContext& operator=(const CudaContext&) = delete;

  int device() const { return device_; }
  cudaStream_t stream() const { return stream_.get(); }
  cublasHandle_t blas() const { return blas_.get(); }
  // Reduction scratch: two partial sums per block, the two final sums on
  // the device, and pinned host memory they are copied back through.
  double* reduction_partials() const { return static_cast<double*>(reduction_partials_.get()); }
  double* reduction_result() const { return static_cast<double*>(reduction_result_.get()); }
  double* host_result() const { return host_result_.get(); }

  // Random fills recorded into a CUDA graph (see kernels.cu, "random
  // draws"). A fill's seed and counter are kernel arguments, frozen when
  // it is recorded, so replays would all draw the same numbers. A recorded
  // fill therefore also reads this device counter, which the recording
  // itself advances once per replay, and mixes it into its seed. Fills
  // outside a capture never read it and draw the CPU backend's numbers.
  std::uint64_t* replay_counter() const { return static_cast<std::uint64_t*>(replay_counter_.get()); }
  // True once per capture sequence (cudaStreamGetCaptureInfo's id): for its
  // first random fill, which records the counter's advance before itself.
  bool first_draw_of_capture(unsigned long long capture_id) {
    if (has_capture_id_ && capture_id == capture_id_) return false;
    has_capture_id_ = true;
    capture_id_ = capture_id;
    return true;
  }

 private:
  // 32 MiB: what NVIDIA recommends for Hopper.
  static constexpr std::size_t blas_workspace_bytes = std::size_t(32) << 20;

  // Releases ignore errors: they run in destructors, possibly while an
  // exception from an earlier CUDA failure (which a release would only
  // repeat) is on its way to the caller.
  struct StreamRelease {
    void operator()(cudaStream_t s) const { cudaStreamDestroy(s); }
  };
  struct BlasRelease {
    void operator()(cublasHandle_t h) const { cublasDestroy(h); }
  };
  struct DeviceRelease {
    void operator()(void* p) const { cudaFree(p); }
  };
  struct PinnedRelease {
    void operator()(double* p) const { cudaFreeHost(p); }
  };
  using DeviceBuffer = std::unique_ptr<void, DeviceRelease>;

  static DeviceBuffer device_buffer(std::size_t bytes) {
    void* p = nullptr;
    CTD_CUDA_CHECK(cudaMalloc(&p, bytes));
    return DeviceBuffer(p);
  }

  // Members are released in reverse order: the handle before the workspace
  // it uses, both before the stream.
  int device_ = 0;
  std::unique_ptr<CUstream_st, StreamRelease> stream_;
  DeviceBuffer blas_workspace_;
  std::unique_ptr<cublasContext, BlasRelease> blas_;
  DeviceBuffer reduction_partials_, reduction_result_, replay_counter_;
  std::unique_ptr<double, PinnedRelease> host_result_;
  bool has_capture_id_ = false;
  unsigned long long capture_id_ = 0;
};

}  // namespace ctd
