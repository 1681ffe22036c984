// A measurement, not part of the library: OpenBLAS's products of the small nets' shapes on
// operands that start a 64-byte line, and on operands 16 bytes past one (where the 16-byte
// aligned std::vector buffers of before could put them), one thread, us per product (medians
// of 41 rounds of 50 calls). bench/README.md, finding 17.
//
// Build and run (one line; the bundled OpenBLAS of the build requirement scipy-openblas32):
//   L=$(python -c "import scipy_openblas32 as s; print(s.get_lib_dir())")
//   I=$(python -c "import scipy_openblas32 as s; print(s.get_include_dir())")
//   g++ -O2 -std=c++17 -I$I bench/aligned_operands.cpp -L$L -lscipy_openblas -Wl,-rpath,$L
//       -o /tmp/aligned_operands && taskset -c 1 /tmp/aligned_operands
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <vector>
#include <cblas.h>

#include "cpu_description.hpp"
using clk = std::chrono::steady_clock;
double us(int M, int N, int K, bool ta, bool tb, const float* A, const float* B, float* C,
          float beta) {
  std::vector<double> t;
  for (int r = 0; r < 41; ++r) {
    auto t0 = clk::now();
    for (int i = 0; i < 50; ++i)
      scipy_cblas_sgemm(CblasRowMajor, ta ? CblasTrans : CblasNoTrans,
                        tb ? CblasTrans : CblasNoTrans, M, N, K, 1.f, A, ta ? M : K, B, tb ? K : N,
                        beta, C, N);
    t.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count() / 50);
  }
  std::sort(t.begin(), t.end());
  return t[20];
}
int main() {
  scipy_openblas_set_num_threads(1);
  std::printf("%s; OpenBLAS core %s, 1 thread\n", cpu_description().c_str(),
              scipy_openblas_get_corename());
  float* base = static_cast<float*>(std::aligned_alloc(64, 1 << 24));
  for (int i = 0; i < (1 << 22); ++i) base[i] = 0.001f * (i % 97);
  struct S {
    const char* n;
    int M, N, K;
    bool ta, tb;
    float beta;
  } ss[] = {{"fwd 64x128x64", 64, 128, 64, false, false, 1},
            {"dW 64x128x64 (x^T dz)", 64, 128, 64, true, false, 1},
            {"fwd 64x10x128", 64, 10, 128, false, false, 1},
            {"fwd 32x64x32", 32, 64, 32, false, false, 1},
            {"fwd 32x64x64", 32, 64, 64, false, false, 1},
            {"dW 64x64x32", 64, 64, 32, true, false, 1}};
  for (auto s : ss) {
    for (int off : {0, 4}) {  // floats: 0 or 16 bytes past a line
      float* A = base + off;
      float* B = base + (1 << 20) + off;
      float* C = base + (2 << 20) + off;
      std::printf("%-24s offset %2d bytes: %.3f us\n", s.n, off * 4,
                  us(s.M, s.N, s.K, s.ta, s.tb, A, B, C, s.beta));
    }
  }
}
