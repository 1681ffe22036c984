// Shared between the int8 translation units (quantized.cpp and quantized_amx.cpp): where a
// kernel writes its tile, and the AMX entry points. Not part of the public contract.
#pragma once
#include <cstdint>

#include "mlpcore/quantized.hpp"

namespace mlpcore::quantized::detail {

// Where a tile goes: int32 accumulators (acc != null), or float z = float(acc - zcol) *
// scale + bias (every vector padded to 16 * n_panels) into y, or (q != null, AMX only) z
// through an optional ReLU straight into the next layer's quantized input q (M, ldq):
// nearbyint(clamp(h * inv_s, -zp, 127 - zp)) + zp for columns < n, 0 beyond, the same
// operations as the separate passes (apply_steps, quantize_rows), so the same bytes.
struct Out {
  std::int32_t* acc = nullptr;
  float* y = nullptr;
  int ld = 0;
  const std::int32_t* zcol = nullptr;  // zp * colsum
  const float* scale = nullptr;
  const float* bias = nullptr;
  std::uint8_t* q = nullptr;
  int ldq = 0, n = 0, zp = 0;
  float inv_s = 1.0f;
  bool relu = false;
};

// Whether the CPU has AMX-TILE and AMX-INT8 (and AVX-512 VNNI for the epilogue) and Linux
// granted this process the tile data state; asked once (quantized_amx.cpp).
bool amx_usable();

// The AMX kernel: columns of panels [p0, p1) for the M rows of a (M, lda), lda a multiple of
// 64 with zeros from K to lda (padded_k). Runs on the calling thread; amx_usable() must hold.
void gemm_amx(const Out& o, const std::uint8_t* a, int lda, const PackedWeights& w, int M, int p0,
              int p1);

}  // namespace mlpcore::quantized::detail
