#pragma once
// cuBLAS's float and double entry points under one name each, so the
// backend's GEMM family is written once for both scalars.
#include <cublas_v2.h>

namespace ctd::cuda_detail {

inline cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const float* alpha, const float* a, int lda, const float* b, int ldb,
                           const float* beta, float* c, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
inline cublasStatus_t gemm(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                           const double* alpha, const double* a, int lda, const double* b, int ldb,
                           const double* beta, double* c, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

inline cublasStatus_t gemv(cublasHandle_t h, cublasOperation_t ta, int m, int n, const float* alpha,
                           const float* a, int lda, const float* x, const float* beta, float* y) {
  return cublasSgemv(h, ta, m, n, alpha, a, lda, x, 1, beta, y, 1);
}
inline cublasStatus_t gemv(cublasHandle_t h, cublasOperation_t ta, int m, int n, const double* alpha,
                           const double* a, int lda, const double* x, const double* beta, double* y) {
  return cublasDgemv(h, ta, m, n, alpha, a, lda, x, 1, beta, y, 1);
}

inline cublasStatus_t ger(cublasHandle_t h, int m, int n, const float* alpha, const float* x, const float* y,
                          float* a, int lda) {
  return cublasSger(h, m, n, alpha, x, 1, y, 1, a, lda);
}
inline cublasStatus_t ger(cublasHandle_t h, int m, int n, const double* alpha, const double* x,
                          const double* y, double* a, int lda) {
  return cublasDger(h, m, n, alpha, x, 1, y, 1, a, lda);
}

// Symmetric forms on the lower triangle (RLS's P).
inline cublasStatus_t symv(cublasHandle_t h, int n, const float* alpha, const float* a, int lda, const float* x,
                           const float* beta, float* y) {
  return cublasSsymv(h, CUBLAS_FILL_MODE_LOWER, n, alpha, a, lda, x, 1, beta, y, 1);
}
inline cublasStatus_t symv(cublasHandle_t h, int n, const double* alpha, const double* a, int lda,
                           const double* x, const double* beta, double* y) {
  return cublasDsymv(h, CUBLAS_FILL_MODE_LOWER, n, alpha, a, lda, x, 1, beta, y, 1);
}

// Lower triangle of C = alpha A A^T + beta C, A (n x k).
inline cublasStatus_t syrk(cublasHandle_t h, int n, int k, const float* alpha, const float* a, int lda,
                           const float* beta, float* c, int ldc) {
  return cublasSsyrk(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, k, alpha, a, lda, beta, c, ldc);
}
inline cublasStatus_t syrk(cublasHandle_t h, int n, int k, const double* alpha, const double* a, int lda,
                           const double* beta, double* c, int ldc) {
  return cublasDsyrk(h, CUBLAS_FILL_MODE_LOWER, CUBLAS_OP_N, n, k, alpha, a, lda, beta, c, ldc);
}

}  // namespace ctd::cuda_detail
