// gemm through cblas. MLPCORE_CBLAS(name) forms the symbol of a cblas routine, so any cblas
// can be linked; the bundled scipy-openblas32 prefixes its symbols with scipy_.
#include "mlpcore/blas.hpp"

#include <cblas.h>

#include <cstddef>

#ifndef MLPCORE_CBLAS
#define MLPCORE_CBLAS(name) scipy_cblas_##name
#endif
#ifndef MLPCORE_OPENBLAS
#define MLPCORE_OPENBLAS(name) scipy_openblas_##name
#endif

namespace mlpcore {

static CBLAS_TRANSPOSE flag(Trans t) { return t == Trans::Yes ? CblasTrans : CblasNoTrans; }

template <>
void gemm<float>(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  MLPCORE_CBLAS(sgemm)(CblasRowMajor, flag(ta), flag(tb), M, N, K, alpha, A, lda, B, ldb, beta,
                       C, ldc);
}

template <>
void gemm<double>(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A,
                  int lda, const double* B, int ldb, double beta, double* C, int ldc) {
  MLPCORE_CBLAS(dgemm)(CblasRowMajor, flag(ta), flag(tb), M, N, K, alpha, A, lda, B, ldb, beta,
                       C, ldc);
}

template <>
void gemv<float>(Trans ta, int M, int N, float alpha, const float* A, int lda, const float* x,
                 float beta, float* y) {
  MLPCORE_CBLAS(sgemv)(CblasRowMajor, flag(ta), M, N, alpha, A, lda, x, 1, beta, y, 1);
}

template <>
void gemv<double>(Trans ta, int M, int N, double alpha, const double* A, int lda,
                  const double* x, double beta, double* y) {
  MLPCORE_CBLAS(dgemv)(CblasRowMajor, flag(ta), M, N, alpha, A, lda, x, 1, beta, y, 1);
}

template <typename T>
void gemm_naive(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda,
                const T* B, int ldb, T beta, T* C, int ldc) {
  using std::size_t;
  for (size_t i = 0; i < size_t(M); ++i) {
    for (size_t j = 0; j < size_t(N); ++j) {
      T acc = 0;
      for (size_t k = 0; k < size_t(K); ++k) {
        const T a = ta == Trans::Yes ? A[k * lda + i] : A[i * lda + k];
        const T b = tb == Trans::Yes ? B[j * ldb + k] : B[k * ldb + j];
        acc += a * b;
      }
      C[i * ldc + j] = alpha * acc + (beta == T(0) ? T(0) : beta * C[i * ldc + j]);
    }
  }
}

template void gemm_naive<float>(Trans, Trans, int, int, int, float, const float*, int,
                                const float*, int, float, float*, int);
template void gemm_naive<double>(Trans, Trans, int, int, int, double, const double*, int,
                                 const double*, int, double, double*, int);

void set_num_threads(int n) { MLPCORE_OPENBLAS(set_num_threads)(n); }
int get_num_threads() { return MLPCORE_OPENBLAS(get_num_threads)(); }

}  // namespace mlpcore
