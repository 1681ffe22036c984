// A measurement, not part of the library: the row-major (NoTrans, Trans) product
// C (M, N) = A (M, K) B^T, B (N, K) -- the dense layer's delta product dx = dz W^T -- as
// OpenBLAS runs it called with those flags, against a copy of B^T (the library's transpose)
// and (NoTrans, NoTrans), and against the library's gemm (cpp/src/blas.cpp), which does the
// copy where its rule says so. One thread, float32 and
// float64, every (M, N, K) of a grid below the pool's split threshold (4 MFLOP); prints us per
// product (medians of 7 rounds), the time of the copy alone, whether the rule copies, the
// ratio flags / (copy + NN) (> 1: the copy pays), whether the library's bits equal the flags
// call's, and that ratio's range where the rule copies and where it does not.
//
// Build and run (one line; the bundled OpenBLAS of the build requirement scipy-openblas32):
//   L=$(python -c "import scipy_openblas32 as s; print(s.get_lib_dir())")
//   I=$(python -c "import scipy_openblas32 as s; print(s.get_include_dir())")
//   g++ -O2 -std=c++17 -Icpp/include -I$I bench/small_products.cpp cpp/src/blas.cpp
//       cpp/src/parallel.cpp cpp/src/fp_mode.cpp cpp/src/transpose.cpp -L$L -lscipy_openblas
//       -Wl,-rpath,$L -lpthread -o /tmp/small_products && taskset -c 1 /tmp/small_products
// OPENBLAS_CORETYPE=Haswell (for instance) runs another core's kernels on the same CPU.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "mlpcore/blas.hpp"
#include "mlpcore/transpose.hpp"

#include "cpu_description.hpp"

using clk = std::chrono::steady_clock;
using mlpcore::Trans;

template <class F>
double median_us(F f, int reps) {
  std::vector<double> v;
  for (int r = 0; r < 7; ++r) {
    const auto t0 = clk::now();
    for (int i = 0; i < reps; ++i) f();
    v.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count() / reps);
  }
  std::sort(v.begin(), v.end());
  return v[3];
}

void flags_call(int M, int N, int K, const float* a, const float* b, float* c) {
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.f, a, K, b, K, 0.f, c, N);
}
void flags_call(int M, int N, int K, const double* a, const double* b, double* c) {
  scipy_cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1., a, K, b, K, 0., c, N);
}
template <class T>
void copy(T* bt, const T* b, int N, int K) {
  mlpcore::transpose(bt, N, b, K, N, K);
}
void copied_call(int M, int N, int K, const float* a, const float* b, float* bt, float* c) {
  copy(bt, b, N, K);
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, a, K, bt, N, 0.f, c,
                    N);
}
void copied_call(int M, int N, int K, const double* a, const double* b, double* bt, double* c) {
  copy(bt, b, N, K);
  scipy_cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1., a, K, bt, N, 0., c, N);
}
void library_call(int M, int N, int K, const float* a, const float* b, float* c) {
  mlpcore::gemm<float>(Trans::No, Trans::Yes, M, N, K, 1.f, a, K, b, K, 0.f, c, N);
}
void library_call(int M, int N, int K, const double* a, const double* b, double* c) {
  mlpcore::gemm<double>(Trans::No, Trans::Yes, M, N, K, 1., a, K, b, K, 0., c, N);
}

template <class T>
T* aligned64(T* p) {
  return reinterpret_cast<T*>((reinterpret_cast<std::uintptr_t>(p) + 63) / 64 * 64);
}

template <class T>
void grid(const char* name) {
  std::mt19937 g(1);
  std::normal_distribution<double> n;
  // ratio range flags / (copy + NN): [0] where the rule copies, [1] where it does not
  double lo[2] = {1e9, 1e9}, hi[2] = {0, 0};
  std::printf(
      "%s       M     N     K | flags us  copy+NN us  library us  copy us | rule copies"
      "  flags/(copy+NN)  library bits vs flags\n",
      name);
  for (int M : {16, 32, 64, 128, 256})
    for (int N : {16, 64, 128, 256})
      for (int K : {2, 10, 64, 128, 256}) {
        const double flops = 2.0 * M * N * K;
        if (flops >= 4e6) continue;
        std::vector<T> a(std::size_t(M) * K), b(std::size_t(N) * K), bt_space(b.size() + 64);
        T* bt = aligned64(
            bt_space.data());  // as the library's buffer: alignment changed times by up to 1.4x
        std::vector<T> c1(std::size_t(M) * N), c2(c1.size());
        for (auto& x : a) x = T(n(g));
        for (auto& x : b) x = T(n(g));
        const int reps = std::max(50, int(2e8 / (flops + 1e4)));
        const auto time = [&](auto f) { return median_us(f, reps); };
        const double t_flags = time([&] { flags_call(M, N, K, a.data(), b.data(), c1.data()); });
        const double t_copied =
            time([&] { copied_call(M, N, K, a.data(), b.data(), bt, c2.data()); });
        const double t_lib = time([&] { library_call(M, N, K, a.data(), b.data(), c2.data()); });
        const double t_copy = time([&] { copy(bt, b.data(), N, K); });
        const bool copies = mlpcore::gemm_copies_transposed_b<T>(Trans::No, Trans::Yes, M, N, K);
        const double ratio = t_flags / t_copied;
        const int side = copies ? 0 : 1;
        lo[side] = std::min(lo[side], ratio);
        hi[side] = std::max(hi[side], ratio);
        std::printf("%s %7d %5d %5d | %8.2f %11.2f %11.2f %8.2f | %11s %16.2f  %s\n", name, M, N, K,
                    t_flags, t_copied, t_lib, t_copy, copies ? "yes" : "no", ratio,
                    c1 == c2 ? "same" : "differ");
      }
  for (int side = 0; side < 2; ++side) {
    const char* where = side == 0 ? "where the rule copies" : "where it does not";
    if (lo[side] > hi[side])
      std::printf("%s flags/(copy+NN) %s: no shape\n", name, where);
    else
      std::printf("%s flags/(copy+NN) %s: %.2f-%.2f\n", name, where, lo[side], hi[side]);
  }
}

int main() {
  std::printf("%s; OpenBLAS core %s, 1 thread\n", cpu_description().c_str(),
              scipy_openblas_get_corename());
  scipy_openblas_set_num_threads(1);
  grid<float>("f32");
  grid<double>("f64");
}
