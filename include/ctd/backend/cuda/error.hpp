#pragma once
// Every CUDA runtime and cuBLAS call of the backend goes through one of these
// checks: a failure becomes a ctd::Error naming the call, where it was made
// and the library's own description of the error. Nothing is allocated on
// success, so the checks cost nothing measurable inside time loops.
#include <string>

#include <cublas_v2.h>
#include <cuda_runtime_api.h>

#include "ctd/core/error.hpp"

namespace ctd::cuda_detail {

inline std::string call_site(const std::string& call, const char* file, int line) {
  return call + " (" + file + ":" + std::to_string(line) + ")";
}

inline void check(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  // Clear the runtime's last error, so a later launch check does not report
  // this failure again (errors that break the context stay regardless).
  cudaGetLastError();
  throw Error("CUDA error in " + call_site(call, file, line) + ": " + cudaGetErrorName(status) + ": " +
              cudaGetErrorString(status));
}

inline void check(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS)
    throw Error("cuBLAS error in " + call_site(call, file, line) + ": " + cublasGetStatusName(status) +
                ": " + cublasGetStatusString(status));
}

// Kernel launches report bad configurations (and earlier asynchronous
// faults) through cudaGetLastError; the kernel's name makes the message.
inline void check_launch(const char* kernel, const char* file, int line) {
  const cudaError_t status = cudaGetLastError();
  if (status != cudaSuccess)
    check(status, (std::string("the launch of kernel ") + kernel).c_str(), file, line);
}

}  // namespace ctd::cuda_detail

// CTD_CUDA_CHECK(cudaMalloc(&p, bytes)) or CTD_CUDA_CHECK(cublasSgemm(...)):
// the call's text goes into the message.
#define CTD_CUDA_CHECK(call) ::ctd::cuda_detail::check((call), #call, __FILE__, __LINE__)
#define CTD_CUDA_CHECK_LAUNCH(kernel) ::ctd::cuda_detail::check_launch(kernel, __FILE__, __LINE__)
