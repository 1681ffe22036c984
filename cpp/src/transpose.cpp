#include "mlpcore/transpose.hpp"

#include <cstddef>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MLPCORE_TRANSPOSE_AVX2 1
#endif

namespace mlpcore {

using std::size_t;

namespace {

// The rectangle [r0, r1) x [c0, c1) of src, one element at a time.
template <typename T>
void transpose_plain(T* dst, int ldd, const T* src, int lds, int r0, int r1, int c0, int c1) {
  for (int r = r0; r < r1; ++r)
    for (int c = c0; c < c1; ++c) dst[size_t(c) * ldd + r] = src[size_t(r) * lds + c];
}

#ifdef MLPCORE_TRANSPOSE_AVX2
// One 8x8 float block: 8 row loads, the three shuffle stages of the classic AVX transpose
// (pairs, quads, 128-bit halves), 8 row stores.
__attribute__((target("avx2"))) inline void block(float* dst, int ldd, const float* src, int lds) {
  const size_t s = size_t(lds), d = size_t(ldd);
  const __m256 r0 = _mm256_loadu_ps(src), r1 = _mm256_loadu_ps(src + s);
  const __m256 r2 = _mm256_loadu_ps(src + 2 * s), r3 = _mm256_loadu_ps(src + 3 * s);
  const __m256 r4 = _mm256_loadu_ps(src + 4 * s), r5 = _mm256_loadu_ps(src + 5 * s);
  const __m256 r6 = _mm256_loadu_ps(src + 6 * s), r7 = _mm256_loadu_ps(src + 7 * s);
  const __m256 t0 = _mm256_unpacklo_ps(r0, r1), t1 = _mm256_unpackhi_ps(r0, r1);
  const __m256 t2 = _mm256_unpacklo_ps(r2, r3), t3 = _mm256_unpackhi_ps(r2, r3);
  const __m256 t4 = _mm256_unpacklo_ps(r4, r5), t5 = _mm256_unpackhi_ps(r4, r5);
  const __m256 t6 = _mm256_unpacklo_ps(r6, r7), t7 = _mm256_unpackhi_ps(r6, r7);
  const __m256 s0 = _mm256_shuffle_ps(t0, t2, 0x44), s1 = _mm256_shuffle_ps(t0, t2, 0xEE);
  const __m256 s2 = _mm256_shuffle_ps(t1, t3, 0x44), s3 = _mm256_shuffle_ps(t1, t3, 0xEE);
  const __m256 s4 = _mm256_shuffle_ps(t4, t6, 0x44), s5 = _mm256_shuffle_ps(t4, t6, 0xEE);
  const __m256 s6 = _mm256_shuffle_ps(t5, t7, 0x44), s7 = _mm256_shuffle_ps(t5, t7, 0xEE);
  _mm256_storeu_ps(dst, _mm256_permute2f128_ps(s0, s4, 0x20));
  _mm256_storeu_ps(dst + d, _mm256_permute2f128_ps(s1, s5, 0x20));
  _mm256_storeu_ps(dst + 2 * d, _mm256_permute2f128_ps(s2, s6, 0x20));
  _mm256_storeu_ps(dst + 3 * d, _mm256_permute2f128_ps(s3, s7, 0x20));
  _mm256_storeu_ps(dst + 4 * d, _mm256_permute2f128_ps(s0, s4, 0x31));
  _mm256_storeu_ps(dst + 5 * d, _mm256_permute2f128_ps(s1, s5, 0x31));
  _mm256_storeu_ps(dst + 6 * d, _mm256_permute2f128_ps(s2, s6, 0x31));
  _mm256_storeu_ps(dst + 7 * d, _mm256_permute2f128_ps(s3, s7, 0x31));
}

// One 4x4 double block: pairs within each 128-bit half, then the halves.
__attribute__((target("avx2"))) inline void block(double* dst, int ldd, const double* src,
                                                  int lds) {
  const size_t s = size_t(lds), d = size_t(ldd);
  const __m256d r0 = _mm256_loadu_pd(src), r1 = _mm256_loadu_pd(src + s);
  const __m256d r2 = _mm256_loadu_pd(src + 2 * s), r3 = _mm256_loadu_pd(src + 3 * s);
  const __m256d t0 = _mm256_unpacklo_pd(r0, r1), t1 = _mm256_unpackhi_pd(r0, r1);
  const __m256d t2 = _mm256_unpacklo_pd(r2, r3), t3 = _mm256_unpackhi_pd(r2, r3);
  _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
  _mm256_storeu_pd(dst + d, _mm256_permute2f128_pd(t1, t3, 0x20));
  _mm256_storeu_pd(dst + 2 * d, _mm256_permute2f128_pd(t0, t2, 0x31));
  _mm256_storeu_pd(dst + 3 * d, _mm256_permute2f128_pd(t1, t3, 0x31));
}

template <typename T>
__attribute__((target("avx2"))) void transpose_avx2(T* dst, int ldd, const T* src, int lds,
                                                    int rows, int cols) {
  constexpr int E = 32 / sizeof(T);  // the block's edge: one 256-bit row
  const int re = rows / E * E, ce = cols / E * E;
  for (int r = 0; r < re; r += E)
    for (int c = 0; c < ce; c += E)
      block(dst + size_t(c) * ldd + r, ldd, src + size_t(r) * lds + c, lds);
  transpose_plain(dst, ldd, src, lds, 0, re, ce, cols);    // right edge
  transpose_plain(dst, ldd, src, lds, re, rows, 0, cols);  // bottom edge
}
#endif

template <typename T>
void transpose_any(T* dst, int ldd, const T* src, int lds, int rows, int cols) {
#ifdef MLPCORE_TRANSPOSE_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) return transpose_avx2(dst, ldd, src, lds, rows, cols);
#endif
  transpose_plain(dst, ldd, src, lds, 0, rows, 0, cols);
}

}  // namespace

void transpose(float* dst, int ldd, const float* src, int lds, int rows, int cols) {
  transpose_any(dst, ldd, src, lds, rows, cols);
}
void transpose(double* dst, int ldd, const double* src, int lds, int rows, int cols) {
  transpose_any(dst, ldd, src, lds, rows, cols);
}

}  // namespace mlpcore
