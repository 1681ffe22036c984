// The AMX-INT8 kernel of the int8 dense product (TDPBUSD: u8 activations x s8 weights into
// int32 tiles), and the run-time check that this process may use tiles. Built with
// -mamx-tile -mamx-int8 (CMakeLists.txt; those flags make no other code use AMX); the
// AVX-512 epilogue is enabled per function, so nothing outside the functions below needs
// more than the baseline ISA.
//
// Tiles (all eight configured 16 rows x 64 bytes, the configuration onnxruntime's MLAS
// loads once per thread and assumes afterwards, so the two libraries can share a thread):
//   tmm0..tmm3  C: 16 rows x 16 int32 columns, for (row tile 0/1) x (panel 0/1)
//   tmm4, tmm5  A: 16 rows x 64 input bytes (k .. k + 63), the two row tiles
//   tmm6, tmm7  B: 16 rows x 64 bytes = 64 k of 16 columns, [k/4][16][4]: the two panels
// The packed weights' panels (quantized.hpp) are already B's layout: k-block kb of panel j
// is the 1 KiB at panel j + kb * 1024 with a row stride of 64; panels are zero padded to a
// multiple of 64 k (K4p rows), and activation rows to lda = padded_k(K), a multiple of 64.
// The tile state is never released: another library's kernel on the same thread may
// expect its configuration to stay loaded (MLAS configures once per thread).
#include <algorithm>
#include <cstring>
#include <vector>

#include "quantized_internal.hpp"

#if defined(__x86_64__) && defined(__GNUC__) && defined(__AMX_TILE__) && defined(__AMX_INT8__) && \
    defined(__linux__)
#define MLPCORE_HAVE_AMX 1
#include <cpuid.h>
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#define MLPCORE_TARGET_AMX __attribute__((target("avx512f,avx512bw,avx512vnni,amx-tile,amx-int8")))
#else
#define MLPCORE_HAVE_AMX 0
#endif

namespace mlpcore::quantized::detail {

#if MLPCORE_HAVE_AMX
namespace {

constexpr long ARCH_GET_XCOMP_PERM = 0x1022;
constexpr long ARCH_REQ_XCOMP_PERM = 0x1023;
constexpr long XFEATURE_XTILEDATA = 18;

bool ask_for_tiles() {
  unsigned a, b, c, d;
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
  const bool amx_tile = d & (1u << 24), amx_int8 = d & (1u << 25);
  const bool vnni = (b & (1u << 16)) && (b & (1u << 30)) && (c & (1u << 11));  // F, BW, VNNI
  if (!amx_tile || !amx_int8 || !vnni) return false;
  if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & (1u << 27))) return false;  // OSXSAVE
  unsigned lo, hi;
  __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
  if ((lo & (3u << 17)) != (3u << 17)) return false;  // XCR0: XTILECFG and XTILEDATA
  // Linux (>= 5.16) hands out the 8 KiB tile state only on request, for the whole process;
  // a refusal (older kernel, seccomp, a sandbox) leaves the other kernels in charge.
  if (syscall(SYS_arch_prctl, ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA) != 0) return false;
  unsigned long granted = 0;
  if (syscall(SYS_arch_prctl, ARCH_GET_XCOMP_PERM, &granted) != 0) return false;
  return granted & (1ul << XFEATURE_XTILEDATA);
}

struct alignas(64) TileConfig {
  std::uint8_t palette = 1, start_row = 0, reserved[14] = {};
  std::uint16_t colsb[16] = {};
  std::uint8_t rows[16] = {};
};

MLPCORE_TARGET_AMX void configure_tiles() {
  TileConfig cfg;
  for (int t = 0; t < 8; ++t) {
    cfg.colsb[t] = 64;
    cfg.rows[t] = 16;
  }
  _tile_loadconfig(&cfg);
}

// One 16 x 16 int32 tile c (row stride 16) to its place: rows row0 .. row0 + rows - 1,
// columns col .. col + 15. The float form is the other kernels' epilogue, operation for
// operation (sub, convert, multiply, add), so every kernel writes the same bits.
MLPCORE_TARGET_AMX inline void emit(const Out& o, const std::int32_t* c, int row0, int rows,
                                    std::size_t col) {
  if (o.acc) {
    for (int r = 0; r < rows; ++r)
      _mm512_storeu_si512(o.acc + std::size_t(row0 + r) * o.ld + col,
                          _mm512_load_si512(c + r * 16));
    return;
  }
  const __m512i z = _mm512_loadu_si512(o.zcol + col);
  const __m512 s = _mm512_loadu_ps(o.scale + col), b = _mm512_loadu_ps(o.bias + col);
  if (o.q) {
    // quantize_rows_avx512's steps after ReLU's select (z > 0 ? z : 0, as activations.cpp)
    const __m512 inv = _mm512_set1_ps(o.inv_s), lo = _mm512_set1_ps(float(-o.zp)),
                 hi = _mm512_set1_ps(float(127 - o.zp));
    const __m512i zq = _mm512_set1_epi32(o.zp);
    const int live = std::max(0, std::min(16, o.n - int(col)));
    const __mmask16 keep = __mmask16((1u << live) - 1u);
    for (int r = 0; r < rows; ++r) {
      __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(c + r * 16), z));
      f = _mm512_mul_ps(f, s);
      f = _mm512_add_ps(f, b);
      if (o.relu)
        f = _mm512_maskz_mov_ps(_mm512_cmp_ps_mask(f, _mm512_setzero_ps(), _CMP_GT_OQ), f);
      const __m512 t = _mm512_min_ps(_mm512_max_ps(_mm512_mul_ps(f, inv), lo), hi);
      const __m512i v = _mm512_maskz_add_epi32(keep, _mm512_cvtps_epi32(t), zq);
      _mm_storeu_si128(reinterpret_cast<__m128i*>(o.q + std::size_t(row0 + r) * o.ldq + col),
                       _mm512_cvtepi32_epi8(v));
    }
    return;
  }
  for (int r = 0; r < rows; ++r) {
    __m512 f = _mm512_cvtepi32_ps(_mm512_sub_epi32(_mm512_load_si512(c + r * 16), z));
    f = _mm512_mul_ps(f, s);
    _mm512_storeu_ps(o.y + std::size_t(row0 + r) * o.ld + col, _mm512_add_ps(f, b));
  }
}

// Up to 2 row tiles (a0, a1: 16 rows each at stride lda; rows0, rows1 of them kept) x up to
// 2 panels (b, b + ps), over kb_n blocks of 64 k.
template <bool TWO_ROWS, bool TWO_PANELS>
MLPCORE_TARGET_AMX void block_amx(const Out& o, const std::uint8_t* a0, const std::uint8_t* a1,
                                  int lda, const std::int8_t* b, std::size_t ps, int kb_n, int row0,
                                  int rows0, int rows1, int panel) {
  alignas(64) std::int32_t c[4][256];
  _tile_zero(0);
  if (TWO_PANELS) _tile_zero(1);
  if (TWO_ROWS) _tile_zero(2);
  if (TWO_ROWS && TWO_PANELS) _tile_zero(3);
  // Each load just before its first use, so that a product can start as soon as its two
  // tiles are in (on the shared machine not measurably different from the loads first).
  for (int kb = 0; kb < kb_n; ++kb) {
    _tile_loadd(6, b + std::size_t(kb) * 1024, 64);
    _tile_loadd(4, a0 + std::size_t(kb) * 64, lda);
    if (TWO_PANELS) _tile_loadd(7, b + ps + std::size_t(kb) * 1024, 64);
    _tile_dpbusd(0, 4, 6);
    if (TWO_ROWS) _tile_loadd(5, a1 + std::size_t(kb) * 64, lda);
    if (TWO_PANELS) _tile_dpbusd(1, 4, 7);
    if (TWO_ROWS) _tile_dpbusd(2, 5, 6);
    if (TWO_ROWS && TWO_PANELS) _tile_dpbusd(3, 5, 7);
  }
  _tile_stored(0, c[0], 64);
  if (TWO_PANELS) _tile_stored(1, c[1], 64);
  if (TWO_ROWS) _tile_stored(2, c[2], 64);
  if (TWO_ROWS && TWO_PANELS) _tile_stored(3, c[3], 64);
  const std::size_t col = std::size_t(panel) * 16;
  emit(o, c[0], row0, rows0, col);
  if (TWO_PANELS) emit(o, c[1], row0, rows0, col + 16);
  if (TWO_ROWS) emit(o, c[2], row0 + 16, rows1, col);
  if (TWO_ROWS && TWO_PANELS) emit(o, c[3], row0 + 16, rows1, col + 16);
}

// The last M % 16 rows, copied into 16 rows of their own so a tile load never reads past
// the caller's buffer (the rows beyond the copy hold zeros or stale bytes; their sums are
// not written).
thread_local std::vector<std::uint8_t> tl_tail;

}  // namespace

bool amx_usable() {
  static const bool usable = ask_for_tiles();
  return usable;
}

MLPCORE_TARGET_AMX void gemm_amx(const Out& o, const std::uint8_t* a, int lda,
                                 const PackedWeights& w, int M, int p0, int p1) {
  configure_tiles();
  const std::size_t ps = std::size_t(w.K4p) * 64;
  const int kb_n = w.K4p / 16, full = M / 16 * 16, n_tiles = (M + 15) / 16;
  const std::uint8_t* tail = nullptr;
  if (full < M) {
    if (tl_tail.size() < std::size_t(16) * lda) tl_tail.assign(std::size_t(16) * lda, 0);
    std::memcpy(tl_tail.data(), a + std::size_t(full) * lda, std::size_t(M - full) * lda);
    tail = tl_tail.data();
  }
  auto tile = [&](int t) { return t * 16 < full ? a + std::size_t(t) * 16 * lda : tail; };
  auto rows = [&](int t) { return std::min(16, M - t * 16); };
  // Panel pairs outer, row tiles inner: the pair's weights (2 x K4p x 64 bytes, 32 KiB at
  // K = 1024) stay in L1 while the block's rows pass over them.
  for (int j = p0; j < p1; j += 2) {
    const std::int8_t* b = w.data.data() + std::size_t(j) * ps;
    const bool two = j + 1 < p1;
    for (int t = 0; t < n_tiles; t += 2) {
      const int r0 = rows(t);
      if (t + 1 < n_tiles) {
        const int r1 = rows(t + 1);
        if (two)
          block_amx<true, true>(o, tile(t), tile(t + 1), lda, b, ps, kb_n, t * 16, r0, r1, j);
        else
          block_amx<true, false>(o, tile(t), tile(t + 1), lda, b, ps, kb_n, t * 16, r0, r1, j);
      } else if (two) {
        block_amx<false, true>(o, tile(t), nullptr, lda, b, ps, kb_n, t * 16, r0, 0, j);
      } else {
        block_amx<false, false>(o, tile(t), nullptr, lda, b, ps, kb_n, t * 16, r0, 0, j);
      }
    }
  }
}

#else  // no AMX in this build

bool amx_usable() {
  return false;
}

void gemm_amx(const Out&, const std::uint8_t*, int, const PackedWeights&, int, int, int) {}

#endif

}  // namespace mlpcore::quantized::detail
