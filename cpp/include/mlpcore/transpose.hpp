// A matrix transposed into another buffer: a pure copy, so every kernel gives the same bits.
#pragma once

namespace mlpcore {

// dst (cols, rows) = src (rows, cols)^T; both row-major, with leading dimensions lds >= cols
// and ldd >= rows. AVX2 blocks (8x8 float, 4x4 double) where the CPU has AVX2 (checked at run
// time), plain loops elsewhere and for the edges.
void transpose(float* dst, int ldd, const float* src, int lds, int rows, int cols);
void transpose(double* dst, int ldd, const double* src, int lds, int rows, int cols);

}  // namespace mlpcore
