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
    for (auto& lane : lanes_) lane = make_lane();
    for (auto* event : {&fork_, &join_}) {
      cudaEvent_t e = nullptr;
      CTD_CUDA_CHECK(cudaEventCreateWithFlags(&e, cudaEventDisableTiming));
      event->reset(e);
    }
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
  // The stream and cuBLAS handle operations run on: the context's own, or
  // its second lane's inside concurrently()'s second piece of work.
  cudaStream_t stream() const { return lanes_[active_].stream.get(); }
  cublasHandle_t blas() const { return lanes_[active_].blas.get(); }

  // Runs f on the context's stream and g on a second stream forked from it
  // and joined back: the two run at once on the device, and a CUDA graph
  // being recorded gets them as two parallel branches (the two directions
  // of LFADS's encoder). Neither may reduce to the host or draw random
  // numbers: those use buffers the context has one of.
  template <class F, class G>
  void concurrently(F&& f, G&& g) {
    require(active_ == 0, "CudaContext::concurrently: already inside concurrently()");
    CTD_CUDA_CHECK(cudaEventRecord(fork_.get(), lanes_[0].stream.get()));
    CTD_CUDA_CHECK(cudaStreamWaitEvent(lanes_[1].stream.get(), fork_.get(), 0));
    f();
    active_ = 1;
    try {
      g();
    } catch (...) {
      active_ = 0;
      throw;
    }
    active_ = 0;
    CTD_CUDA_CHECK(cudaEventRecord(join_.get(), lanes_[1].stream.get()));
    CTD_CUDA_CHECK(cudaStreamWaitEvent(lanes_[0].stream.get(), join_.get(), 0));
  }
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

  struct EventRelease {
    void operator()(cudaEvent_t e) const { cudaEventDestroy(e); }
  };

  // A stream and the cuBLAS handle bound to it. Members are released in
  // reverse order: the handle before the workspace it uses, both before the
  // stream.
  struct Lane {
    std::unique_ptr<CUstream_st, StreamRelease> stream;
    DeviceBuffer blas_workspace;
    std::unique_ptr<cublasContext, BlasRelease> blas;
  };

  static Lane make_lane() {
    Lane lane;
    // A blocking stream: it waits for work on the legacy default stream,
    // where allocate() zero-fills new memory.
    cudaStream_t stream = nullptr;
    CTD_CUDA_CHECK(cudaStreamCreate(&stream));
    lane.stream.reset(stream);
    cublasHandle_t blas = nullptr;
    CTD_CUDA_CHECK(cublasCreate(&blas));
    lane.blas.reset(blas);
    CTD_CUDA_CHECK(cublasSetStream(blas, stream));
    // An explicit workspace (set after the stream, which resets it): cuBLAS
    // then never allocates, also not while a CUDA graph is being captured.
    lane.blas_workspace = device_buffer(blas_workspace_bytes);
    CTD_CUDA_CHECK(cublasSetWorkspace(blas, lane.blas_workspace.get(), blas_workspace_bytes));
    // Full fp32 GEMMs (no TF32), so float results agree with the CPU backend
    // to float rounding.
    CTD_CUDA_CHECK(cublasSetMathMode(blas, CUBLAS_DEFAULT_MATH));
    CTD_CUDA_CHECK(cublasSetPointerMode(blas, CUBLAS_POINTER_MODE_HOST));
    return lane;
  }

  int device_ = 0;
  Lane lanes_[2];   // the context's own, and concurrently()'s second
  int active_ = 0;  // the lane operations run on
  std::unique_ptr<CUevent_st, EventRelease> fork_, join_;
  DeviceBuffer reduction_partials_, reduction_result_, replay_counter_;
  std::unique_ptr<double, PinnedRelease> host_result_;
  bool has_capture_id_ = false;
  unsigned long long capture_id_ = 0;
};

}  // namespace ctd
