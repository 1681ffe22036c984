// Matrix products through the bundled OpenBLAS (cblas), plus a naive twin for tests.
// All matrices are row-major; transposes go through the BLAS flags (one exception: small
// (NoTrans, Trans) products copy B^T first where that is faster, blas.cpp).
// Products big enough to share are cut into panels run on the core's thread pool.
#pragma once

namespace mlpcore {

enum class Trans { No, Yes };

// C (M, N) = alpha * op(A) (M, K) @ op(B) (K, N) + beta * C, leading dimensions as in cblas.
template <typename T>
void gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
          int ldb, T beta, T* C, int ldc);

// How many panels gemm cuts a product of these shapes into outside a pool task (1: whole), a
// rule on the shapes alone.
int gemm_panels(int M, int N, int K);

// y (M or N) = alpha * op(A) x + beta * y, A (M, N) row-major; op(A) = A^T with ta.
template <typename T>
void gemv(Trans ta, int M, int N, T alpha, const T* A, int lda, const T* x, T beta, T* y);

// Whether a product of these shapes, flags and dtype runs on a copy of B^T (blas.cpp); for
// tests and benchmarks.
template <typename T>
bool gemm_copies_transposed_b(Trans ta, Trans tb, int M, int N, int K);

// The kernel family the bundled OpenBLAS picked for this CPU ("SkylakeX", "Haswell", ...).
const char* blas_core_name();

// The same product by three plain loops: the reference the BLAS call is tested against.
template <typename T>
void gemm_naive(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
                int ldb, T beta, T* C, int ldc);

// The threads of the core's pool (parallel.hpp), which runs the panels of big products; the
// BLAS itself always runs on one thread.
void set_num_threads(int n);
int get_num_threads();

}  // namespace mlpcore
