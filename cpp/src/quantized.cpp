// Quantized int8 inference: packing, the gemm kernels (AVX-512 VNNI, AVX2, portable; AMX in
// quantized_amx.cpp), the float steps between layers and the row-block driver. Contract:
// quantized.hpp.
#include "mlpcore/quantized.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <type_traits>

#include "mlpcore/finite.hpp"
#include "mlpcore/parallel.hpp"
#include "mlpcore/simd.hpp"
#include "quantized_internal.hpp"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define MLPCORE_X86 1
#define MLPCORE_TARGET_VNNI __attribute__((target("avx512f,avx512bw,avx512vnni")))
#define MLPCORE_TARGET_AVX2 __attribute__((target("avx2")))
#else
#define MLPCORE_X86 0
#endif

namespace mlpcore::quantized {

// ---- kernel choice -----------------------------------------------------------------------

const char* kernel_name(Kernel k) {
  switch (k) {
    case Kernel::Amx:
      return "amx";
    case Kernel::Vnni:
      return "vnni";
    case Kernel::Avx2:
      return "avx2";
    case Kernel::Portable:
      return "portable";
  }
  return "?";
}

Kernel kernel_from_name(const std::string& name) {
  for (Kernel k : {Kernel::Amx, Kernel::Vnni, Kernel::Avx2, Kernel::Portable})
    if (name == kernel_name(k)) return k;
  throw std::invalid_argument("unknown int8 kernel '" + name +
                              "' (known: amx, vnni, avx2, portable)");
}

bool kernel_supported(Kernel k) {
#if MLPCORE_X86
  __builtin_cpu_init();
  switch (k) {
    case Kernel::Amx:
      return detail::amx_usable();
    case Kernel::Vnni:
      return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
             __builtin_cpu_supports("avx512vnni");
    case Kernel::Avx2:
      return __builtin_cpu_supports("avx2");
    case Kernel::Portable:
      return true;
  }
  return false;
#else
  return k == Kernel::Portable;
#endif
}

namespace {
std::atomic<int> g_kernel{-1};  // -1: not chosen yet

Kernel best_kernel() {
  for (Kernel k : {Kernel::Amx, Kernel::Vnni, Kernel::Avx2})
    if (kernel_supported(k)) return k;
  return Kernel::Portable;
}
}  // namespace

Kernel current_kernel() {
  int k = g_kernel.load(std::memory_order_relaxed);
  if (k >= 0) return Kernel(k);
  Kernel chosen = best_kernel();
  if (const char* env = std::getenv("MLPCORE_INT8_KERNEL"); env && *env) {
    try {
      Kernel forced = kernel_from_name(env);
      if (kernel_supported(forced)) chosen = forced;  // an unsupported one is ignored
    } catch (const std::invalid_argument&) {
    }
  }
  g_kernel.store(int(chosen), std::memory_order_relaxed);
  return chosen;
}

void set_kernel(Kernel k) {
  if (!kernel_supported(k))
    throw std::invalid_argument(std::string("this CPU cannot run the int8 kernel '") +
                                kernel_name(k) + "'");
  g_kernel.store(int(k), std::memory_order_relaxed);
}

// ---- packing -----------------------------------------------------------------------------

PackedWeights pack_weights(const std::int8_t* w, int K, int N) {
  if (K < 1 || N < 1) throw std::invalid_argument("int8 weights must have K, N >= 1");
  if (K > MAX_K)
    throw std::invalid_argument("int8 weights: K = " + std::to_string(K) + " exceeds " +
                                std::to_string(MAX_K) + " (the int32 accumulator could overflow)");
  PackedWeights p;
  p.K = K;
  p.N = N;
  p.K4 = (K + 3) / 4;
  p.K4p = padded_k(K) / 4;
  p.n_panels = (N + 15) / 16;
  p.data.assign(std::size_t(p.n_panels) * p.K4p * 64, 0);
  p.colsum.assign(std::size_t(p.n_panels) * 16, 0);
  for (int k = 0; k < K; ++k)
    for (int n = 0; n < N; ++n) {
      const std::int8_t v = w[std::size_t(k) * N + n];
      if (v < -127) throw std::invalid_argument("int8 weights must lie in [-127, 127]");
      const std::size_t j = std::size_t(n / 16), c = std::size_t(n % 16);
      p.data[(j * p.K4p + std::size_t(k / 4)) * 64 + c * 4 + std::size_t(k % 4)] = v;
      p.colsum[std::size_t(n)] += v;
    }
  return p;
}

// ---- gemm kernels ------------------------------------------------------------------------
namespace {

// The row tail of a tiled kernel whose tile height is a template argument: calls
// f(std::integral_constant<int, rows>{}) for 1 <= rows < Max (nothing for rows == 0).
template <int Max, typename F>
inline void with_tail_rows(int rows, F&& f) {
  if constexpr (Max > 1) {
    if (rows == Max - 1) return f(std::integral_constant<int, Max - 1>{});
    with_tail_rows<Max - 1>(rows, f);
  }
}

using detail::Out;

inline std::int32_t load_u32(const std::uint8_t* p) {
  std::int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

// Portable: the same sums in plain int32 arithmetic (any order gives the same integers).
void gemm_portable(const Out& o, const std::uint8_t* a, int lda, const PackedWeights& w, int M,
                   int p0, int p1) {
  const std::size_t ps = std::size_t(w.K4p) * 64;
  for (int r = 0; r < M; ++r) {
    const std::uint8_t* ar = a + std::size_t(r) * lda;
    for (int j = p0; j < p1; ++j) {
      const std::int8_t* b = w.data.data() + std::size_t(j) * ps;
      std::int32_t acc[16] = {0};
      for (int k = 0; k < w.K4; ++k)
        for (int c = 0; c < 16; ++c)
          for (int t = 0; t < 4; ++t)
            acc[c] +=
                std::int32_t(ar[k * 4 + t]) * std::int32_t(b[std::size_t(k) * 64 + c * 4 + t]);
      for (int c = 0; c < 16; ++c) {
        const std::size_t col = std::size_t(j) * 16 + c, at = std::size_t(r) * o.ld + col;
        if (o.acc) {
          o.acc[at] = acc[c];
        } else {
          float f = float(acc[c] - o.zcol[col]);
          f = f * o.scale[col];
          o.y[at] = f + o.bias[col];
        }
      }
    }
  }
}

#if MLPCORE_X86
// AVX-512 VNNI: MR rows x NV panels of 16 columns; per group of 4 k, one vpdpbusd per
// (row, panel) with the row's 4 bytes broadcast.
template <int MR, int NV>
MLPCORE_TARGET_VNNI void tile_vnni(const Out& o, const std::uint8_t* a, int lda,
                                   const std::int8_t* b, std::size_t ps, int K4, int row0,
                                   int panel0) {
  __m512i acc[MR][NV];
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_setzero_si512();
  for (int k = 0; k < K4; ++k) {
    __m512i bv[NV];
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) bv[v] = _mm512_loadu_si512(b + v * ps + std::size_t(k) * 64);
#pragma GCC unroll 16
    for (int r = 0; r < MR; ++r) {
      const __m512i av = _mm512_set1_epi32(load_u32(a + std::size_t(r) * lda + k * 4));
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = _mm512_dpbusd_epi32(acc[r][v], av, bv[v]);
    }
  }
#pragma GCC unroll 16
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) {
      const std::size_t col = std::size_t(panel0 + v) * 16;
      const std::size_t at = std::size_t(row0 + r) * o.ld + col;
      if (o.acc) {
        _mm512_storeu_si512(o.acc + at, acc[r][v]);
      } else {
        __m512 f =
            _mm512_cvtepi32_ps(_mm512_sub_epi32(acc[r][v], _mm512_loadu_si512(o.zcol + col)));
        f = _mm512_mul_ps(f, _mm512_loadu_ps(o.scale + col));
        _mm512_storeu_ps(o.y + at, _mm512_add_ps(f, _mm512_loadu_ps(o.bias + col)));
      }
    }
}

// One group of nv panels (nv in 1..4) for rows row0 .. row0 + MR - 1.
template <int MR>
MLPCORE_TARGET_VNNI void group_vnni(const Out& o, const std::uint8_t* a, int lda,
                                    const PackedWeights& w, int row0, int j, int nv) {
  const std::size_t ps = std::size_t(w.K4p) * 64;
  const std::uint8_t* ar = a + std::size_t(row0) * lda;
  const std::int8_t* b = w.data.data() + std::size_t(j) * ps;
  switch (nv) {
    case 4:
      tile_vnni<MR, 4>(o, ar, lda, b, ps, w.K4, row0, j);
      break;
    case 3:
      tile_vnni<MR, 3>(o, ar, lda, b, ps, w.K4, row0, j);
      break;
    case 2:
      tile_vnni<MR, 2>(o, ar, lda, b, ps, w.K4, row0, j);
      break;
    default:
      tile_vnni<MR, 1>(o, ar, lda, b, ps, w.K4, row0, j);
      break;
  }
}

// Panels outer, row tiles inner: a group of panels (2 x K4 x 64 bytes, 25-32 KiB for
// K = 784-1024) stays in L1 while every 8-row tile of the block passes over it.
// Measured on one Sapphire-Rapids-class core (shared machine): 64 x 784 x 256 at
// 325-331 GMAC/s, about two vpdpbusd zmm per cycle; rows outer reached 73.
constexpr int NV2_BYTES = 40 * 1024;  // two panels per tile while they take at most this

MLPCORE_TARGET_VNNI void gemm_vnni(const Out& o, const std::uint8_t* a, int lda,
                                   const PackedWeights& w, int M, int p0, int p1) {
  // Few rows: 4 panels per tile, to hide vpdpbusd's latency; else 2 panels while they fit
  // in L1 with the rows' bytes (K up to about 1300), 1 beyond.
  const int NV = M <= 2 ? 4 : w.K4 * 64 * 2 <= NV2_BYTES ? 2 : 1;
  for (int j = p0; j < p1; j += NV) {
    const int nv = std::min(NV, p1 - j);
    int r = 0;
    for (; r + 8 <= M; r += 8) group_vnni<8>(o, a, lda, w, r, j, nv);
    with_tail_rows<8>(M - r, [&](auto R) { group_vnni<R()>(o, a, lda, w, r, j, nv); });
  }
}

// AVX2: vpmaddubsw (u8 x s8 pairs into int16: never saturates with 7-bit inputs, see
// quantized.hpp) then vpmaddwd with ones (int16 pairs into int32, exact). MR rows x one
// panel: 2 ymm of 8 columns per row.
template <int MR>
MLPCORE_TARGET_AVX2 void tile_avx2(const Out& o, const std::uint8_t* a, int lda,
                                   const std::int8_t* b, int K4, int row0, int panel0) {
  __m256i acc[MR][2];
  const __m256i ones = _mm256_set1_epi16(1);
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r) acc[r][0] = acc[r][1] = _mm256_setzero_si256();
  for (int k = 0; k < K4; ++k) {
    const __m256i b0 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + std::size_t(k) * 64));
    const __m256i b1 =
        _mm256_loadu_si256(reinterpret_cast<const __m256i*>(b + std::size_t(k) * 64 + 32));
#pragma GCC unroll 8
    for (int r = 0; r < MR; ++r) {
      const __m256i av = _mm256_set1_epi32(load_u32(a + std::size_t(r) * lda + k * 4));
      acc[r][0] =
          _mm256_add_epi32(acc[r][0], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b0), ones));
      acc[r][1] =
          _mm256_add_epi32(acc[r][1], _mm256_madd_epi16(_mm256_maddubs_epi16(av, b1), ones));
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < MR; ++r)
    for (int h = 0; h < 2; ++h) {
      const std::size_t col = std::size_t(panel0) * 16 + std::size_t(h) * 8;
      const std::size_t at = std::size_t(row0 + r) * o.ld + col;
      if (o.acc) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(o.acc + at), acc[r][h]);
      } else {
        const __m256i z = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(o.zcol + col));
        __m256 f = _mm256_cvtepi32_ps(_mm256_sub_epi32(acc[r][h], z));
        f = _mm256_mul_ps(f, _mm256_loadu_ps(o.scale + col));
        _mm256_storeu_ps(o.y + at, _mm256_add_ps(f, _mm256_loadu_ps(o.bias + col)));
      }
    }
}

MLPCORE_TARGET_AVX2 void gemm_avx2(const Out& o, const std::uint8_t* a, int lda,
                                   const PackedWeights& w, int M, int p0, int p1) {
  const std::size_t ps = std::size_t(w.K4p) * 64;
  for (int j = p0; j < p1; ++j) {  // one panel (in L1) against every row tile
    const std::int8_t* b = w.data.data() + std::size_t(j) * ps;
    int r = 0;
    for (; r + 4 <= M; r += 4) tile_avx2<4>(o, a + std::size_t(r) * lda, lda, b, w.K4, r, j);
    with_tail_rows<4>(
        M - r, [&](auto R) { tile_avx2<R()>(o, a + std::size_t(r) * lda, lda, b, w.K4, r, j); });
  }
}
#endif  // MLPCORE_X86

void gemm(Kernel k, const Out& o, const std::uint8_t* a, int lda, const PackedWeights& w, int M,
          int p0, int p1) {
#if MLPCORE_X86
  if (k == Kernel::Amx) return detail::gemm_amx(o, a, lda, w, M, p0, p1);
  if (k == Kernel::Vnni) return gemm_vnni(o, a, lda, w, M, p0, p1);
  if (k == Kernel::Avx2) return gemm_avx2(o, a, lda, w, M, p0, p1);
#endif
  gemm_portable(o, a, lda, w, M, p0, p1);
}

// q (M, ldq) = nearbyint(clamp(y * inv_s, -zp, 127 - zp)) + zp for the N columns, zeros
// from N to ldq. Clamping before rounding equals clamping after (the bounds are integers).
// The vector versions round with cvtps2dq under the default rounding mode (to nearest,
// ties to even: nearbyint's and NumPy's rint), so all three give the same bytes.
bool quantize_rows_portable(std::uint8_t* q, int ldq, const float* y, int ldy, int M, int N,
                            float inv_s, int zp) {
  const float lo = float(-zp), hi = float(127 - zp), z = float(zp);
  bool finite = true;
  for (int m = 0; m < M; ++m) {
    const float* ym = y + std::size_t(m) * ldy;
    std::uint8_t* qm = q + std::size_t(m) * ldq;
    for (int n = 0; n < N; ++n) {
      finite &= (ym[n] - ym[n]) == 0.0f;
      float t = ym[n] * inv_s;
      t = std::min(std::max(t, lo), hi);
      qm[n] = std::uint8_t(int(std::nearbyint(t) + z));
    }
    for (int n = N; n < ldq; ++n) qm[n] = 0;
  }
  return finite;
}

#if MLPCORE_X86
MLPCORE_TARGET_VNNI bool quantize_rows_avx512(std::uint8_t* q, int ldq, const float* y, int ldy,
                                              int M, int N, float inv_s, int zp) {
  const __m512 s = _mm512_set1_ps(inv_s), lo = _mm512_set1_ps(float(-zp)),
               hi = _mm512_set1_ps(float(127 - zp));
  const __m512i z = _mm512_set1_epi32(zp);
  __mmask16 bad = 0;  // lanes where x - x is not 0: NaN or infinity
  bool finite = true;
  for (int m = 0; m < M; ++m) {
    const float* ym = y + std::size_t(m) * ldy;
    std::uint8_t* qm = q + std::size_t(m) * ldq;
    int n = 0;
    for (; n + 16 <= N; n += 16) {
      // max(t, lo) then min(., hi), as std::max/std::min and NumPy do for finite t
      const __m512 x = _mm512_loadu_ps(ym + n);
      bad |= _mm512_cmp_ps_mask(_mm512_sub_ps(x, x), _mm512_setzero_ps(), _CMP_NEQ_UQ);
      const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(x, s), lo), hi);
      const __m512i v = _mm512_add_epi32(_mm512_cvtps_epi32(t), z);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(qm + n), _mm512_cvtepi32_epi8(v));
    }
    if (n < N)
      finite &= quantize_rows_portable(qm + n, ldq - n, ym + n, ldy, 1, N - n, inv_s, zp);
    else
      for (int k = N; k < ldq; ++k) qm[k] = 0;
  }
  return finite && bad == 0;
}

MLPCORE_TARGET_AVX2 bool quantize_rows_avx2(std::uint8_t* q, int ldq, const float* y, int ldy,
                                            int M, int N, float inv_s, int zp) {
  const __m256 s = _mm256_set1_ps(inv_s), lo = _mm256_set1_ps(float(-zp)),
               hi = _mm256_set1_ps(float(127 - zp));
  const __m256i z = _mm256_set1_epi32(zp);
  __m256 bad = _mm256_setzero_ps();  // NaN where x - x is not 0: NaN or infinity
  bool finite = true;
  for (int m = 0; m < M; ++m) {
    const float* ym = y + std::size_t(m) * ldy;
    std::uint8_t* qm = q + std::size_t(m) * ldq;
    int n = 0;
    for (; n + 8 <= N; n += 8) {
      const __m256 x = _mm256_loadu_ps(ym + n);
      bad = _mm256_or_ps(bad, _mm256_cmp_ps(_mm256_sub_ps(x, x), _mm256_setzero_ps(), _CMP_NEQ_UQ));
      const __m256 t = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(x, s), lo), hi);
      const __m256i v = _mm256_add_epi32(_mm256_cvtps_epi32(t), z);  // 0..127 per lane
      const __m256i w = _mm256_packs_epi32(v, v);                    // int16, per 128-bit half
      const __m256i b = _mm256_packus_epi16(w, w);                   // uint8
      const std::uint32_t lo4 = std::uint32_t(_mm256_extract_epi32(b, 0));
      const std::uint32_t hi4 = std::uint32_t(_mm256_extract_epi32(b, 4));
      std::memcpy(qm + n, &lo4, 4);
      std::memcpy(qm + n + 4, &hi4, 4);
    }
    if (n < N)
      finite &= quantize_rows_portable(qm + n, ldq - n, ym + n, ldy, 1, N - n, inv_s, zp);
    else
      for (int k = N; k < ldq; ++k) qm[k] = 0;
  }
  return finite && _mm256_movemask_ps(bad) == 0;
}
#endif

bool quantize_rows(Kernel k, std::uint8_t* q, int ldq, const float* y, int ldy, int M, int N,
                   float inv_s, int zp) {
#if MLPCORE_X86
  if (k == Kernel::Amx || k == Kernel::Vnni)
    return quantize_rows_avx512(q, ldq, y, ldy, M, N, inv_s, zp);
  if (k == Kernel::Avx2) return quantize_rows_avx2(q, ldq, y, ldy, M, N, inv_s, zp);
#endif
  return quantize_rows_portable(q, ldq, y, ldy, M, N, inv_s, zp);
}

void apply_steps(const std::vector<Step>& steps, float* y, int ld, int M, int N) {
  for (const Step& s : steps) {
    if (s.affine) {
      for (int m = 0; m < M; ++m) {
        float* ym = y + std::size_t(m) * ld;
        for (int n = 0; n < N; ++n) {
          const float t = ym[n] * s.a[std::size_t(n)];
          ym[n] = t + s.c[std::size_t(n)];
        }
      }
    } else if (ld == N) {
      activation_forward<float>(s.act, y, y, std::size_t(M) * N, s.param);
    } else {
      for (int m = 0; m < M; ++m)
        activation_forward<float>(s.act, y + std::size_t(m) * ld, y + std::size_t(m) * ld,
                                  std::size_t(N), s.param);
    }
  }
}

}  // namespace

void gemm_acc(Kernel k, std::int32_t* acc, int ldc, const std::uint8_t* a, int lda,
              const PackedWeights& w, int M) {
  Out o;
  o.acc = acc;
  o.ld = ldc;
  gemm(k, o, a, lda, w, M, 0, w.n_panels);
}

// ---- the network -------------------------------------------------------------------------

QuantizedNetwork::QuantizedNetwork(int n_in, const std::string& loss)
    : n_in_(n_in), loss_(loss_from_name(loss)) {
  if (n_in < 1 || n_in > MAX_K)
    throw std::invalid_argument("n_in must lie in [1, " + std::to_string(MAX_K) + "]");
}

int QuantizedNetwork::n_out() const {
  if (layers_.empty()) throw std::invalid_argument("the quantized network has no dense layer");
  return layers_.back().w.N;
}

void QuantizedNetwork::add_dense(const std::int8_t* wq, int K, int N, const float* scale,
                                 const float* bias, int zp, float inv_s) {
  const int width = layers_.empty() ? n_in_ : layers_.back().w.N;
  if (K != width)
    throw std::invalid_argument("dense layer " + std::to_string(layers_.size()) + " has " +
                                std::to_string(K) + " inputs, the width before it is " +
                                std::to_string(width));
  if (zp < 0 || zp > 127)
    throw std::invalid_argument("zero point must lie in [0, 127], got " + std::to_string(zp));
  if (!(inv_s > 0.0f) || !std::isfinite(inv_s))
    throw std::invalid_argument("the input scale must be finite and > 0");
  QDense d;
  d.w = pack_weights(wq, K, N);
  const std::size_t np = std::size_t(d.w.n_panels) * 16;
  d.scale.assign(np, 0.0f);
  d.bias.assign(np, 0.0f);
  for (int n = 0; n < N; ++n) {
    if (!std::isfinite(scale[n]) || !std::isfinite(bias[n]))
      throw std::invalid_argument("scales and biases must be finite");
    d.scale[std::size_t(n)] = scale[n];
    d.bias[std::size_t(n)] = bias[n];
  }
  d.zp = zp;
  d.inv_s = inv_s;
  layers_.push_back(std::move(d));
}

void QuantizedNetwork::add_activation(const std::string& name, double param) {
  Step s;
  s.act = activation_info(name).kind;
  s.param = param;
  (layers_.empty() ? prelude_ : layers_.back().after).push_back(std::move(s));
}

void QuantizedNetwork::add_affine(const float* a, const float* c, int n) {
  const int width = layers_.empty() ? n_in_ : layers_.back().w.N;
  if (n != width)
    throw std::invalid_argument("an affine step of width " + std::to_string(n) +
                                " follows a width of " + std::to_string(width));
  Step s;
  s.affine = true;
  s.a.assign(a, a + n);
  s.c.assign(c, c + n);
  (layers_.empty() ? prelude_ : layers_.back().after).push_back(std::move(s));
}

namespace {
// Per-thread buffers of a row block.
struct Buffers {
  std::vector<std::uint8_t> xq, xq_next;  // a layer's input, and the next one's (AMX)
  std::vector<float> y;
  std::vector<std::int32_t> zcol;
};
thread_local Buffers tl_buffers;
constexpr int BLOCK_ROWS = 64;               // 32-256 measured alike on a loaded machine
constexpr long SPLIT_WEIGHTS = 128L * 1024;  // one-block calls cut layers at least this large
// Below this many rows the AMX kernel (16-row tiles) loses to VNNI; such blocks use VNNI.
constexpr int AMX_MIN_ROWS = 16;
}  // namespace

bool QuantizedNetwork::run_block(float* out, const float* X, int M, bool probabilities,
                                 bool split_columns, int stop_at, std::vector<std::uint8_t>* xq_out,
                                 std::vector<std::int32_t>* acc_out) const {
  const Kernel kern = current_kernel();
  int max_k = n_in_, max_n = n_in_;
  for (const QDense& d : layers_) {
    max_k = std::max(max_k, padded_k(d.w.K));
    max_n = std::max(max_n, d.w.n_panels * 16);
  }
  Buffers& buf = tl_buffers;
  buf.xq.resize(std::size_t(M) * padded_k(max_k));
  buf.y.resize(std::size_t(M) * max_n);
  float* y = buf.y.data();
  std::uint8_t* xq = buf.xq.data();
  if (kern == Kernel::Amx) buf.xq_next.resize(buf.xq.size());
  std::uint8_t* xq_next = buf.xq_next.data();

  // The input: the prelude's float steps, then quantized for dense layer 0.
  const QDense& first = layers_.front();
  const int lda0 = padded_k(n_in_);
  // X is checked for NaN/inf as it is read (a block with one computes on and is reported).
  bool finite;
  if (prelude_.empty()) {
    finite = quantize_rows(kern, xq, lda0, X, n_in_, M, n_in_, first.inv_s, first.zp);
  } else {
    finite = all_finite(X, std::size_t(M) * n_in_);
    std::memcpy(y, X, sizeof(float) * std::size_t(M) * n_in_);
    apply_steps(prelude_, y, n_in_, M, n_in_);
    quantize_rows(kern, xq, lda0, y, n_in_, M, n_in_, first.inv_s, first.zp);
  }
  for (std::size_t i = 0; i < layers_.size(); ++i) {
    const QDense& d = layers_[i];
    const int lda = padded_k(d.w.K), ld = d.w.n_panels * 16;
    if (int(i) == stop_at) {
      xq_out->assign(xq, xq + std::size_t(M) * lda);
      acc_out->assign(std::size_t(M) * ld, 0);
      gemm_acc(kern, acc_out->data(), ld, xq, lda, d.w, M);
      return finite;
    }
    buf.zcol.resize(std::size_t(ld));
    for (int n = 0; n < ld; ++n) buf.zcol[std::size_t(n)] = d.zp * d.w.colsum[std::size_t(n)];
    Out o;
    o.y = y;
    o.ld = ld;
    o.zcol = buf.zcol.data();
    o.scale = d.scale.data();
    o.bias = d.bias.data();
    const Kernel gk = kern == Kernel::Amx && M < AMX_MIN_ROWS ? Kernel::Vnni : kern;
    // The AMX kernel writes the next layer's bytes itself when nothing or a ReLU lies
    // between the two layers (no float pass over the block's outputs).
    const bool fused = gk == Kernel::Amx && i + 1 < layers_.size() &&
                       (d.after.empty() || (d.after.size() == 1 && !d.after[0].affine &&
                                            d.after[0].act == Activation::Relu));
    if (fused) {
      const QDense& next = layers_[i + 1];
      o.q = xq_next;
      o.ldq = padded_k(next.w.K);
      o.n = d.w.N;
      o.zp = next.zp;
      o.inv_s = next.inv_s;
      o.relu = !d.after.empty();
      for (int m = 0; m < M && ld < o.ldq; ++m)  // the columns no panel writes
        std::memset(xq_next + std::size_t(m) * o.ldq + ld, 0, std::size_t(o.ldq - ld));
    }
    const int threads = split_columns ? parallel::num_threads() : 1;
    if (threads > 1 && long(d.w.K) * d.w.N >= SPLIT_WEIGHTS && d.w.n_panels >= 2) {
      const int groups = std::min(threads, d.w.n_panels / 2);
      auto task = [&](int g) {
        const int p0 = int(long(d.w.n_panels) * g / groups);
        const int p1 = int(long(d.w.n_panels) * (g + 1) / groups);
        gemm(gk, o, xq, lda, d.w, M, p0, p1);
      };
      parallel::run(groups, task);
    } else {
      gemm(gk, o, xq, lda, d.w, M, 0, d.w.n_panels);
    }
    if (fused) {
      std::swap(xq, xq_next);
      continue;
    }
    apply_steps(d.after, y, ld, M, d.w.N);
    if (i + 1 < layers_.size()) {
      const QDense& next = layers_[i + 1];
      quantize_rows(kern, xq, padded_k(next.w.K), y, ld, M, d.w.N, next.inv_s, next.zp);
    } else {
      const int K = d.w.N;
      for (int m = 0; m < M; ++m) {
        const float* ym = y + std::size_t(m) * ld;
        float* om = out + std::size_t(m) * K;
        if (probabilities)
          output_activation<float>(loss_, om, ym, 1, K);
        else
          std::memcpy(om, ym, sizeof(float) * std::size_t(K));
      }
    }
  }
  return finite;
}

bool QuantizedNetwork::predict(float* out, const float* X, int M, bool probabilities) const {
  if (layers_.empty()) throw std::invalid_argument("the quantized network has no dense layer");
  if (M < 1) throw std::invalid_argument("predict needs at least one row");
  const int threads = parallel::in_task() ? 1 : parallel::num_threads();
  // Any cut computes every element the same way; the cut only balances the threads.
  int block = BLOCK_ROWS;
  if (M < BLOCK_ROWS * threads) block = std::max(8, (M + threads - 1) / threads);
  const int n_blocks = (M + block - 1) / block;
  if (n_blocks == 1) return run_block(out, X, M, probabilities, threads > 1, -1, nullptr, nullptr);
  const int n_out = this->n_out();
  std::atomic<bool> finite{true};
  auto task = [&](int b) {
    const int r0 = b * block, rows = std::min(block, M - r0);
    if (!run_block(out + std::size_t(r0) * n_out, X + std::size_t(r0) * n_in_, rows, probabilities,
                   false, -1, nullptr, nullptr))
      finite.store(false, std::memory_order_relaxed);
  };
  parallel::run(n_blocks, task);
  return finite.load();
}

void QuantizedNetwork::trace(int i, std::vector<std::uint8_t>& xq, std::vector<std::int32_t>& acc,
                             const float* X, int M) const {
  if (i < 0 || i >= int(layers_.size()))
    throw std::invalid_argument("layer index " + std::to_string(i) + " out of range");
  run_block(nullptr, X, M, false, false, i, &xq, &acc);
}

}  // namespace mlpcore::quantized

// ---- measuring (bench/bench_quantized.py) ------------------------------------------------
namespace mlpcore::quantized {

#if MLPCORE_X86
namespace {
// Register-only loops of independent multiply-accumulates: the core's peak rate per
// instruction kind. 12 independent chains hide the instructions' latency.
MLPCORE_TARGET_VNNI double peak_vnni(long iters) {
  __m512i acc[12];
  for (auto& a : acc) a = _mm512_set1_epi32(1);
  __m512i x = _mm512_set1_epi32(0x01010101), y = _mm512_set1_epi32(0x01fe01fe);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm512_dpbusd_epi32(acc[j], x, y);
    __asm__ volatile("" : "+v"(x), "+v"(y));
  }
  __m512i s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_epi32(s, acc[j]);
  return double(_mm512_reduce_add_epi32(s));
}
MLPCORE_TARGET_AVX2 double peak_avx2(long iters) {
  __m256i acc[6];
  for (auto& a : acc) a = _mm256_set1_epi32(1);
  __m256i x = _mm256_set1_epi32(0x01010101), y = _mm256_set1_epi32(0x01fe01fe);
  const __m256i ones = _mm256_set1_epi16(1);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 6
    for (int j = 0; j < 6; ++j)
      acc[j] = _mm256_add_epi32(acc[j], _mm256_madd_epi16(_mm256_maddubs_epi16(x, y), ones));
    __asm__ volatile("" : "+x"(x), "+x"(y));
  }
  __m256i s = acc[0];
  for (int j = 1; j < 6; ++j) s = _mm256_add_epi32(s, acc[j]);
  alignas(32) std::int32_t out[8];
  _mm256_store_si256(reinterpret_cast<__m256i*>(out), s);
  return double(out[0]);
}
__attribute__((target("avx512f"))) double peak_fma512(long iters) {
  __m512 acc[12];
  for (auto& a : acc) a = _mm512_set1_ps(1.0f);
  __m512 x = _mm512_set1_ps(0.999f), y = _mm512_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm512_fmadd_ps(acc[j], x, y);
    __asm__ volatile("" : "+v"(x), "+v"(y));
  }
  __m512 s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm512_add_ps(s, acc[j]);
  return double(_mm512_reduce_add_ps(s));
}
__attribute__((target("avx2,fma"))) double peak_fma256(long iters) {
  __m256 acc[12];
  for (auto& a : acc) a = _mm256_set1_ps(1.0f);
  __m256 x = _mm256_set1_ps(0.999f), y = _mm256_set1_ps(1e-7f);
  for (long i = 0; i < iters; ++i) {
#pragma GCC unroll 12
    for (int j = 0; j < 12; ++j) acc[j] = _mm256_fmadd_ps(acc[j], x, y);
    __asm__ volatile("" : "+x"(x), "+x"(y));
  }
  __m256 s = acc[0];
  for (int j = 1; j < 12; ++j) s = _mm256_add_ps(s, acc[j]);
  alignas(32) float out[8];
  _mm256_store_ps(out, s);
  return double(out[0]);
}
}  // namespace
#endif

double peak_macs_per_iteration(const std::string& what) {
  if (what == "vnni512") return 12 * 64;   // 12 vpdpbusd zmm: 64 u8 x s8 products each
  if (what == "avx2_int8") return 6 * 32;  // 6 vpmaddubsw + vpmaddwd + vpaddd: 32 products
  if (what == "fma512") return 12 * 16;    // 12 vfmadd zmm: 16 float products each
  if (what == "fma256") return 12 * 8;
  throw std::invalid_argument("unknown peak loop '" + what +
                              "' (vnni512, avx2_int8, fma512, fma256)");
}

double run_peak(const std::string& what, long iters) {
  peak_macs_per_iteration(what);
#if MLPCORE_X86
  if (what == "vnni512" && kernel_supported(Kernel::Vnni)) return peak_vnni(iters);
  if (what == "avx2_int8" && kernel_supported(Kernel::Avx2)) return peak_avx2(iters);
  if (what == "fma512" && __builtin_cpu_supports("avx512f")) return peak_fma512(iters);
  if (what == "fma256" && __builtin_cpu_supports("fma")) return peak_fma256(iters);
#endif
  throw std::invalid_argument("this CPU cannot run the peak loop '" + what + "'");
}

}  // namespace mlpcore::quantized
