// gemm and gemv through cblas, split into panels for the core's thread pool.
// MLPCORE_CBLAS(name) forms the symbol of a cblas routine, so any cblas can be linked; the
// bundled scipy-openblas32 prefixes its symbols with scipy_.
//
// OpenBLAS itself always runs on one thread: its own pool spin-waits, and on a machine whose
// cores other processes share, two threads ran several times slower than one (bench/README.md).
// Instead a product big enough to share is cut into independent panels, each one
// single-threaded BLAS call, run by parallel::run (which lets the calling thread take a
// panel a busy worker has not started).
//
// The cut depends only on the shapes, never on the thread count: one thread runs the same
// panels one after another. OpenBLAS rounds an element of C differently depending on where
// it falls in its kernel's tiles (measured: a 128x784x256 sgemm cut at row 16, 32 or 64 gave
// other bits than the whole call, up to 5e-5, on the Haswell kernels; 300x200x100 cut at row
// 16 on the SkylakeX ones), so a cut that followed the thread count gave other results at
// other thread counts.
#include "mlpcore/blas.hpp"

#include <cblas.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "mlpcore/memory.hpp"
#include "mlpcore/parallel.hpp"
#include "mlpcore/transpose.hpp"

#ifndef MLPCORE_CBLAS
#define MLPCORE_CBLAS(name) scipy_cblas_##name
#endif
#ifndef MLPCORE_OPENBLAS
#define MLPCORE_OPENBLAS(name) scipy_openblas_##name
#endif

namespace mlpcore {

namespace {

CBLAS_TRANSPOSE flag(Trans t) {
  return t == Trans::Yes ? CblasTrans : CblasNoTrans;
}

// One thread for OpenBLAS, whoever raised it (threadpoolctl sets every BLAS it finds).
void openblas_single() {
  if (MLPCORE_OPENBLAS(get_num_threads)() != 1) MLPCORE_OPENBLAS(set_num_threads)(1);
}

// OpenBLAS's small-matrix kernels (in the bundled library: its SkylakeX-family cores, the ones
// with AVX-512) run column-major NN and NT products of up to 1e6 multiply-adds without
// packing their operands, but TN only when C has at most 1200 elements and K >= 32
// (kernel/x86_64/sgemm_small_kernel_permit_skylakex.c). A row-major (NoTrans, Trans) call is
// a column-major TN: the dense layer's delta product dx = dz W^T went through the general
// path and took a quarter of a 32-64-64-2 training step. Copying B^T into an aligned buffer and
// running (NoTrans, NoTrans) instead is 0.88-2.9x as fast where all of the limits below hold
// (below 1 only for deep products with few rows or columns, 16x64x128 and 32x16x256: 0.88-1.06x
// over three runs);
// past the small kernels' size limit, with a big B, or with a deep product on 16 rows, it
// costs more than it saves; with any other core (the Haswell kernels, AVX2) it gained at most
// 1.2x and lost up to 1.9x, so there it is never done. Measured with bench/small_products.cpp
// (bench/README.md, finding 15). The rule reads the shapes, the dtype and the CPU, never the
// thread count.
constexpr double COPY_MAX_MACS = 1e6;  // the small kernels' limit (M N K)
constexpr int COPY_MIN_ROWS = 16;
constexpr std::int64_t COPY_MAX_BYTES = 64 << 10;  // of B^T, and the buffer's size
// 16-31 rows repay less of the copy: B^T <= 32 KiB, K <= 4 N, and K <= 128 (float) or 16
// (double) there
constexpr int COPY_FEW_ROWS = 32, COPY_FEW_ROWS_DEPTH_PER_COLUMN = 4;
constexpr std::int64_t COPY_FEW_ROWS_MAX_BYTES = 32 << 10;
template <typename T>
constexpr int COPY_FEW_ROWS_MAX_DEPTH = sizeof(T) == 4 ? 128 : 16;
static_assert(COPY_FEW_ROWS_MAX_BYTES <= COPY_MAX_BYTES, "every copy must fit the buffer");

bool has_small_kernels() {
  const char* core = MLPCORE_OPENBLAS(get_corename)();
  for (const char* name : {"SkylakeX", "Cooperlake", "SapphireRapids"})
    if (core && std::strcmp(core, name) == 0) return true;
  return false;
}

template <typename T>
bool copies_transposed_b(Trans ta, Trans tb, int M, int N, int K) {
  static const bool small_kernels = has_small_kernels();
  if (!small_kernels || ta != Trans::No || tb != Trans::Yes || M < COPY_MIN_ROWS ||
      double(M) * N * K > COPY_MAX_MACS)
    return false;
  const std::int64_t bytes = std::int64_t(N) * K * std::int64_t(sizeof(T));
  if (M < COPY_FEW_ROWS)
    return bytes <= COPY_FEW_ROWS_MAX_BYTES &&
           K <= COPY_FEW_ROWS_DEPTH_PER_COLUMN * std::int64_t(N) && K <= COPY_FEW_ROWS_MAX_DEPTH<T>;
  return bytes <= COPY_MAX_BYTES;
}

// The calling thread's buffer for B^T (COPY_MAX_BYTES, 64-byte aligned: unaligned, the
// products on it ran up to 1.4x slower; allocated on first use). If that allocation fails it
// throws std::bad_alloc (the pool passes it on to the caller): running the product as called
// instead would give other bits on this thread than on the others.
unsigned char* transposed_b_buffer() {
  thread_local AlignedVector<unsigned char> buffer(COPY_MAX_BYTES);
  return buffer.data();
}

void call_gemm(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
               const float* B, int ldb, float beta, float* C, int ldc) {
  MLPCORE_CBLAS(sgemm)(CblasRowMajor, flag(ta), flag(tb), M, N, K, alpha, A, lda, B, ldb, beta, C,
                       ldc);
}
void call_gemm(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
               const double* B, int ldb, double beta, double* C, int ldc) {
  MLPCORE_CBLAS(dgemm)(CblasRowMajor, flag(ta), flag(tb), M, N, K, alpha, A, lda, B, ldb, beta, C,
                       ldc);
}

template <typename T>
void blas_gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
               int ldb, T beta, T* C, int ldc) {
  if (copies_transposed_b<T>(ta, tb, M, N, K)) {
    T* bt = reinterpret_cast<T*>(transposed_b_buffer());
    transpose(bt, N, B, ldb, N, K);  // B (N, K) -> B^T (K, N)
    call_gemm(Trans::No, Trans::No, M, N, K, alpha, A, lda, bt, N, beta, C, ldc);
    return;
  }
  call_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}
void blas_gemv(Trans ta, int M, int N, float alpha, const float* A, int lda, const float* x,
               float beta, float* y) {
  MLPCORE_CBLAS(sgemv)(CblasRowMajor, flag(ta), M, N, alpha, A, lda, x, 1, beta, y, 1);
}
void blas_gemv(Trans ta, int M, int N, double alpha, const double* A, int lda, const double* x,
               double beta, double* y) {
  MLPCORE_CBLAS(dgemv)(CblasRowMajor, flag(ta), M, N, alpha, A, lda, x, 1, beta, y, 1);
}

// Products smaller than this run whole on the calling thread: waking a worker and repacking
// an operand cost more than half of them saves (bench/README.md, "Threads").
constexpr double GEMM_SPLIT_FLOPS = 4e6;
constexpr double GEMV_SPLIT_ELEMENTS = 1 << 18;  // matrix elements of a gemv
constexpr int PANEL_ALIGN = 16;                  // panel edges on the kernels' row multiple
// A worker joins a product's last panel only within about half the panel's time
// (parallel::late_ns_for_flops), for gemv at 40 matrix elements (160 bytes) per ns (twice the
// one-core rate measured here, ~80 GB/s from L3).
constexpr double LATE_ELEMENTS_PER_NS = 40;

// [begin, end) of panel p of `parts` over `length`, edges on multiples of PANEL_ALIGN.
struct Range {
  int begin, end;
};
Range panel(int length, int parts, int p) {
  const std::int64_t units = (std::int64_t(length) + PANEL_ALIGN - 1) / PANEL_ALIGN;
  const auto edge = [&](int q) {
    return int(std::min<std::int64_t>(length, units * q / parts * PANEL_ALIGN));
  };
  return {edge(p), edge(p + 1)};
}

// How many panels a dimension of `length` takes, from the length alone: 2, and one more per
// PANEL_LENGTH beyond the first two, at most MAX_PANELS, each at least 2 units. Few panels:
// each one repacks the operand the panels share, which one thread pays for too (2 panels
// cost 1 thread about 1% on 784-256-128-10 training, bench/README.md); beyond MAX_PANELS
// threads a product gains nothing.
constexpr int PANEL_LENGTH = 512, MAX_PANELS = 8;
int parts_for(int length) {
  const int most = std::max(1, length / (2 * PANEL_ALIGN));
  const int wanted = std::max(2, std::min(MAX_PANELS, length / PANEL_LENGTH));
  return std::min(wanted, most);
}

// Every panel packs the operand it shares whole: cutting C's rows repacks op(B) (K, N),
// cutting its columns repacks op(A) (M, K). Cut the dimension whose shared operand is smaller.
bool cuts_rows(int M, int N) {
  return N <= M;
}
int panels(int M, int N, int K) {
  if (2.0 * M * N * K < GEMM_SPLIT_FLOPS) return 1;
  return parts_for(cuts_rows(M, N) ? M : N);
}
template <typename T>
void split_gemm(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
                int ldb, T beta, T* C, int ldc) {
  openblas_single();
  const double flops = 2.0 * M * N * K;
  const int parts = panels(M, N, K);
  if (parts == 1 || parallel::in_task()) {  // never the thread count: see above
    blas_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
    return;
  }
  const bool rows = cuts_rows(M, N);
  auto one = [&](int p) {
    if (rows) {
      const Range r = panel(M, parts, p);  // C rows [begin, end): op(A) rows the same
      const T* a = A + (ta == Trans::No ? std::size_t(r.begin) * lda : std::size_t(r.begin));
      blas_gemm(ta, tb, r.end - r.begin, N, K, alpha, a, lda, B, ldb, beta,
                C + std::size_t(r.begin) * ldc, ldc);
    } else {
      const Range c = panel(N, parts, p);  // C columns [begin, end): op(B) columns the same
      const T* b = B + (tb == Trans::No ? std::size_t(c.begin) : std::size_t(c.begin) * ldb);
      blas_gemm(ta, tb, M, c.end - c.begin, K, alpha, A, lda, b, ldb, beta, C + c.begin, ldc);
    }
  };
  parallel::run(parts, one, parallel::late_ns_for_flops(flops / parts));
}

template <typename T>
void split_gemv(Trans ta, int M, int N, T alpha, const T* A, int lda, const T* x, T beta, T* y) {
  openblas_single();
  const int out = ta == Trans::Yes ? N : M;  // y's length
  if (double(M) * N < GEMV_SPLIT_ELEMENTS || parallel::in_task()) {
    blas_gemv(ta, M, N, alpha, A, lda, x, beta, y);
    return;
  }
  if (ta == Trans::Yes) {
    // y = A^T x reads A (M, N) row by row: cut A's rows (contiguous streams), each panel's
    // partial y apart, summed in panel order
    const int parts = parts_for(M);
    std::vector<T> partial(std::size_t(parts - 1) * N);  // (parts - 1, N)
    auto one = [&](int p) {
      const Range r = panel(M, parts, p);
      if (p == 0)
        blas_gemv(ta, r.end - r.begin, N, alpha, A, lda, x, beta, y);
      else
        blas_gemv(ta, r.end - r.begin, N, alpha, A + std::size_t(r.begin) * lda, lda, x + r.begin,
                  T(0), partial.data() + std::size_t(p - 1) * N);
    };
    parallel::run(parts, one, std::int64_t(double(M) * N / parts / LATE_ELEMENTS_PER_NS));
    for (int p = 1; p < parts; ++p) {
      const T* q = partial.data() + std::size_t(p - 1) * N;
      for (int j = 0; j < N; ++j) y[j] += q[j];
    }
    return;
  }
  const int parts = parts_for(out);
  auto one = [&](int p) {  // y = A x: A's rows [begin, end)
    const Range r = panel(out, parts, p);
    blas_gemv(ta, r.end - r.begin, N, alpha, A + std::size_t(r.begin) * lda, lda, x, beta,
              y + r.begin);
  };
  parallel::run(parts, one, std::int64_t(double(M) * N / parts / LATE_ELEMENTS_PER_NS));
}

}  // namespace

template <>
void gemm<float>(Trans ta, Trans tb, int M, int N, int K, float alpha, const float* A, int lda,
                 const float* B, int ldb, float beta, float* C, int ldc) {
  split_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemm<double>(Trans ta, Trans tb, int M, int N, int K, double alpha, const double* A, int lda,
                  const double* B, int ldb, double beta, double* C, int ldc) {
  split_gemm(ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

template <>
void gemv<float>(Trans ta, int M, int N, float alpha, const float* A, int lda, const float* x,
                 float beta, float* y) {
  split_gemv(ta, M, N, alpha, A, lda, x, beta, y);
}

template <>
void gemv<double>(Trans ta, int M, int N, double alpha, const double* A, int lda, const double* x,
                  double beta, double* y) {
  split_gemv(ta, M, N, alpha, A, lda, x, beta, y);
}

int gemm_panels(int M, int N, int K) {
  return panels(M, N, K);
}

const char* blas_core_name() {
  return MLPCORE_OPENBLAS(get_corename)();
}

template <typename T>
bool gemm_copies_transposed_b(Trans ta, Trans tb, int M, int N, int K) {
  return copies_transposed_b<T>(ta, tb, M, N, K);
}
template bool gemm_copies_transposed_b<float>(Trans, Trans, int, int, int);
template bool gemm_copies_transposed_b<double>(Trans, Trans, int, int, int);

template <typename T>
void gemm_naive(Trans ta, Trans tb, int M, int N, int K, T alpha, const T* A, int lda, const T* B,
                int ldb, T beta, T* C, int ldc) {
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

template void gemm_naive<float>(Trans, Trans, int, int, int, float, const float*, int, const float*,
                                int, float, float*, int);
template void gemm_naive<double>(Trans, Trans, int, int, int, double, const double*, int,
                                 const double*, int, double, double*, int);

void set_num_threads(int n) {
  parallel::set_num_threads(n);
}
int get_num_threads() {
  return parallel::num_threads();
}

}  // namespace mlpcore
