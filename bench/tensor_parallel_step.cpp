// A measurement, not part of the library: how fast one SGD step of a small ReLU/softmax MLP
// can run on two cores when the two threads split every layer by neurons (each thread owns a
// fixed half of the hidden units and their weights, which never leave its core) instead of
// splitting the batch (data parallel: each core reads every weight the other updated, every
// step; bench/README.md finding 12 measures that bound).
//
// Plan for widths I-H-...-O: layer 0 is cut by its output columns (input X is read by both,
// nobody writes it), layer 1 by its input rows (each thread's partial sums of the full output,
// summed in a fixed order after one exchange), later layers are small and run on both threads
// on private replicas of their weights (same inputs, same code: bitwise the same values).
// Backward then needs no exchange at all: every weight gradient is a product of a thread's own
// activations and deltas. One exchange per step: B x H1 floats each way.
//
// Ways of running the same steps: "whole" (the engine's order: one product per layer);
// "split whole" (whole, with layer 1's product in the pieces' two halves and order);
// "2 pieces, 1 thread" (the pieces one after another); "2 pieces, 2 threads" (two threads
// pinned to two CPUs, spinning through the epoch, one flag per step: the best case on an
// idle machine); and two independent nets at once, one per CPU (what concurrency alone costs).
// The pieced ways must give bitwise the same weights; the split whole step gives them too
// when every element of a product is computed the same way whatever the cut (the
// register-tiled kernels; OpenBLAS picks kernels by size); the plain whole step differs by
// rounding. Output: us per step (medians of 9 rounds of 20 epochs), the ratios, the bit checks.
//
// Then, per config, what the cut costs one thread product by product: each product of the
// step called whole against the pieces' two calls (the two column or row halves, or layer 1's
// two depth halves), medians of 31 calls.
//
// Build and run, products by the bundled OpenBLAS (of the build requirement scipy-openblas32):
//   L=$(python -c "import scipy_openblas32 as s; print(s.get_lib_dir())")
//   I=$(python -c "import scipy_openblas32 as s; print(s.get_include_dir())")
//   g++ -O3 -march=native -std=c++17 -I$I bench/tensor_parallel_step.cpp -L$L -lscipy_openblas
//       -Wl,-rpath,$L -lpthread -o /tmp/tps && /tmp/tps      (one line)
// Arguments: configs as WIDTHS:BATCH (default 64-128-10:64 32-64-64-2:32 64-128-10:128
// 32-64-64-2:64), --rounds R (9), --epochs E (20 per round), e.g.
//   /tmp/tps --rounds 5 --epochs 3 784-256-128-10:128 784-1024-1024-10:256
// Products by the register-tiled kernels of commit acd31e6 (branch smallnet-fused): check it
// out in a worktree D, add -DSMALL_GEMM -I$D/cpp/include $D/cpp/src/small_gemm.cpp.
#include <cblas.h>
#ifdef SMALL_GEMM
#include "mlpcore/small_gemm.hpp"
#endif
#include <pthread.h>
#include <sched.h>
#include <xmmintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "cpu_description.hpp"

namespace {

// 64-byte aligned storage, so that the two pieces' column blocks of a weight matrix share no
// cache line when their width is a multiple of 16 floats.
template <typename T>
struct Aligned {
  using value_type = T;
  Aligned() = default;
  template <typename U>
  Aligned(const Aligned<U>&) {}
  T* allocate(size_t n) {
    return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t(64)));
  }
  void deallocate(T* p, size_t) { ::operator delete(p, std::align_val_t(64)); }
  bool operator==(const Aligned&) const { return true; }
  bool operator!=(const Aligned&) const { return false; }
};
using Vec = std::vector<float, Aligned<float>>;

// Flush subnormals to zero, as the engine does (FTZ + DAZ).
void flush_denormals() {
  _mm_setcsr(_mm_getcsr() | 0x8040);
}
using clk = std::chrono::steady_clock;

#ifdef SMALL_GEMM
constexpr bool SMALL = true;
#else
constexpr bool SMALL = false;
#endif

int rounds = 9, epochs_per_round = 20;  // --rounds, --epochs

// TPS_NO_EXCHANGE=1: each piece sums its own partial twice instead of reading the other's
// (wrong results, the same work): what reading the other core's lines costs
const bool no_exchange = std::getenv("TPS_NO_EXCHANGE") != nullptr;

// C (M, N) = A (M, K) @ W (K, N), all row-major
void fwd(float* C, int ldc, const float* A, int lda, const float* W, int ldw, int M, int N, int K) {
#ifdef SMALL_GEMM
  mlpcore::small_gemm<float>(C, ldc, A, lda, 1, W, ldw, M, N, K, nullptr);
#else
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1.f, A, lda, W, ldw, 0.f, C,
                    ldc);
#endif
}

// C (M, K) = D (M, N) @ W^T, W (K, N); the register-tiled kernels read WT = W^T (N, K) instead
void delta(float* C, int ldc, const float* D, int ldd, const float* W, int ldw, const float* WT,
           int ldwt, int M, int N, int K) {
#ifdef SMALL_GEMM
  (void)W, (void)ldw;
  mlpcore::small_gemm<float>(C, ldc, D, ldd, 1, WT, ldwt, M, K, N, nullptr);
#else
  (void)WT, (void)ldwt;
  scipy_cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, K, N, 1.f, D, ldd, W, ldw, 0.f, C,
                    ldc);
#endif
}

// W (M, N) -= lr * A^T D, A (K, M), D (K, N); WT = W^T (N, M) gets the same step when given
// (the same products and roundings, so it stays bitwise W's transpose)
void sgd(float* W, int ldw, float* WT, int ldwt, const float* A, int lda, const float* D, int ldd,
         int M, int N, int K, float lr) {
#ifdef SMALL_GEMM
  mlpcore::small_gemm_sgd<float>(W, ldw, A, 1, lda, D, ldd, M, N, K, 1.f, lr);
  if (WT) mlpcore::small_gemm_sgd<float>(WT, ldwt, D, 1, ldd, A, lda, N, M, K, 1.f, lr);
#else
  (void)WT, (void)ldwt;
  scipy_cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, M, N, K, -lr, A, lda, D, ldd, 1.f, W,
                    ldw);
#endif
}

template <class V>
V transposed(const V& w, int rows, int cols) {
  V t(w.size());
  for (int i = 0; i < rows; ++i)
    for (int j = 0; j < cols; ++j)
      t[size_t(j) * size_t(rows) + size_t(i)] = w[size_t(i) * size_t(cols) + size_t(j)];
  return t;
}

// The net and its data. W[l] is (in, out) row-major, as in the engine.
struct Net {
  std::vector<int> w;  // widths
  std::vector<Vec> W, b;
};

Net make_net(const std::vector<int>& widths, unsigned seed) {
  Net n{widths, {}, {}};
  std::mt19937 g(seed);
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    std::normal_distribution<float> d(0.f, std::sqrt(2.f / float(widths[l])));
    Vec W(size_t(widths[l]) * size_t(widths[l + 1]));
    for (auto& v : W) v = d(g);
    n.W.push_back(W);
    n.b.push_back(Vec(size_t(widths[l + 1]), 0.f));
  }
  return n;
}

// softmax cross-entropy delta (P - Y) / B in place on Z (B, O), labels y
void softmax_delta(float* Z, const int* y, int B, int O) {
  for (int r = 0; r < B; ++r) {
    float* z = Z + size_t(r) * size_t(O);
    float m = z[0];
    for (int j = 1; j < O; ++j) m = std::max(m, z[j]);
    float s = 0;
    for (int j = 0; j < O; ++j) s += (z[j] = std::exp(z[j] - m));
    const float inv = 1.f / s / float(B);
    for (int j = 0; j < O; ++j) z[j] *= inv;
    z[y[r]] -= 1.f / float(B);
  }
}

void add_bias_relu(float* __restrict Z, float* __restrict A, const float* __restrict b, int B,
                   int N, int ld) {
  for (int r = 0; r < B; ++r) {
    float* __restrict z = Z + size_t(r) * size_t(ld);
    float* __restrict a = A + size_t(r) * size_t(N);
    for (int j = 0; j < N; ++j) {
      const float v = z[j] + b[j];
      z[j] = v;
      a[j] = v > 0 ? v : 0;
    }
  }
}

// b -= lr * column sums of D (B, N) with leading dimension ld (row by row: vector loads)
void bias_step(float* __restrict b, const float* __restrict D, int B, int N, int ld, float lr) {
  float s[4096];
  std::fill_n(s, N, 0.f);
  for (int r = 0; r < B; ++r) {
    const float* __restrict d = D + size_t(r) * size_t(ld);
    for (int j = 0; j < N; ++j) s[j] += d[j];
  }
  for (int j = 0; j < N; ++j) b[j] -= lr * s[j];
}

// d = z > 0 ? d : 0 over n elements
void relu_mask(float* __restrict d, const float* __restrict z, size_t n) {
  for (size_t i = 0; i < n; ++i) d[i] = z[i] > 0 ? d[i] : 0;
}

// One step of today's engine order: forward, delta, then per layer from the top: the next
// delta with the old weights, then the weights' SGD update fused into the gradient product.
struct Whole {
  Net& n;
  int B;
  std::vector<Vec> Z, A, D, WT;  // WT[l]: W[l]'s transpose (register-tiled kernels only)
  bool ksplit;                   // layer 1's forward product in the pieces' two halves and order
  Whole(Net& net, int batch, bool split = false) : n(net), B(batch), ksplit(split) {
    for (size_t l = 0; l + 1 < n.w.size(); ++l)
      WT.push_back(SMALL ? transposed(n.W[l], n.w[l], n.w[l + 1]) : Vec());
    for (size_t l = 1; l < n.w.size(); ++l) {
      Z.emplace_back(size_t(B) * size_t(n.w[l]));
      A.emplace_back(size_t(B) * size_t(n.w[l]));
      D.emplace_back(size_t(B) * size_t(n.w[l]));
    }
  }
  void step(const float* X, const int* y, float lr) {
    const int L = int(n.W.size());
    const float* in = X;
    for (int l = 0; l < L; ++l) {
      const int K = n.w[size_t(l)], N = n.w[size_t(l) + 1];
      if (l == 1 && ksplit) {  // the pieces' order: (A0[:, :h] W1[:h] + b1) + A0[:, h:] W1[h:]
        const int h = K / 2;
        float* __restrict z = Z[1].data();
        float* __restrict q = D[1].data();  // free until the backward pass
        fwd(z, N, in, K, n.W[1].data(), N, B, N, h);
        for (int r = 0; r < B; ++r)
          for (int j = 0; j < N; ++j) z[size_t(r * N + j)] += n.b[1][size_t(j)];
        fwd(q, N, in + h, K, n.W[1].data() + size_t(h) * size_t(N), N, B, N, h);
        for (size_t i = 0; i < size_t(B) * size_t(N); ++i) z[i] = z[i] + q[i];
        if (l + 1 < L) {
          float* __restrict a = A[1].data();
          for (size_t i = 0; i < size_t(B) * size_t(N); ++i) a[i] = z[i] > 0 ? z[i] : 0;
          in = a;
        }
        continue;
      }
      fwd(Z[size_t(l)].data(), N, in, K, n.W[size_t(l)].data(), N, B, N, K);
      if (l + 1 < L) {
        add_bias_relu(Z[size_t(l)].data(), A[size_t(l)].data(), n.b[size_t(l)].data(), B, N, N);
        in = A[size_t(l)].data();
      } else {
        for (int r = 0; r < B; ++r)
          for (int j = 0; j < N; ++j) Z[size_t(l)][size_t(r * N + j)] += n.b[size_t(l)][size_t(j)];
      }
    }
    float* dz = Z[size_t(L) - 1].data();
    softmax_delta(dz, y, B, n.w.back());
    for (int l = L - 1; l >= 0; --l) {
      const int K = n.w[size_t(l)], N = n.w[size_t(l) + 1];
      const float* a_in = l ? A[size_t(l) - 1].data() : X;
      float* dprev = nullptr;
      if (l) {
        dprev = D[size_t(l) - 1].data();
        delta(dprev, K, dz, N, n.W[size_t(l)].data(), N, WT[size_t(l)].data(), K, B, N, K);
        relu_mask(dprev, Z[size_t(l) - 1].data(), size_t(B) * size_t(K));
      }
      sgd(n.W[size_t(l)].data(), N, l && SMALL ? WT[size_t(l)].data() : nullptr, K, a_in, K, dz, N,
          K, N, B, lr);
      bias_step(n.b[size_t(l)].data(), dz, B, N, N, lr);
      dz = dprev;
    }
  }
};

// The same step cut into two pieces by neurons (see the top of the file).
struct Pieces {
  Net& n;
  int B, I, H0, H1, h;  // h = H0 / 2, each piece's share of layer 0's outputs
  int L;
  // per piece
  Vec Z0[2], A0[2], D0[2], Z1f[2], A1f[2], D1f[2];
  std::vector<Vec> Zr[2], Ar[2], Dr[2];   // replicated layers 2.. (private)
  std::vector<Vec> Wr[2], br[2], WrT[2];  // their private weight replicas (and transposes)
  Vec W1T[2];      // each piece's rows of W1, transposed (H1, h) (register-tiled kernels only)
  Vec part[2][2];  // [parity][piece] partial sums of layer 1 (B, H1)
  alignas(64) std::atomic<long> done[2][16];  // [piece][0]: steps whose partial is written

  Pieces(Net& net, int batch) : n(net), B(batch) {
    L = int(n.W.size());
    I = n.w[0], H0 = n.w[1], H1 = n.w[2], h = H0 / 2;
    for (int p = 0; p < 2; ++p) {
      Z0[p].resize(size_t(B) * size_t(h));
      A0[p].resize(size_t(B) * size_t(h));
      D0[p].resize(size_t(B) * size_t(h));
      Z1f[p].resize(size_t(B) * size_t(H1));
      A1f[p].resize(size_t(B) * size_t(H1));
      D1f[p].resize(size_t(B) * size_t(H1));
      for (int l = 2; l < L; ++l) {
        Zr[p].emplace_back(size_t(B) * size_t(n.w[size_t(l) + 1]));
        Ar[p].emplace_back(size_t(B) * size_t(n.w[size_t(l) + 1]));
        Dr[p].emplace_back(size_t(B) * size_t(n.w[size_t(l)]));
        Wr[p].push_back(n.W[size_t(l)]);
        WrT[p].push_back(SMALL ? transposed(n.W[size_t(l)], n.w[size_t(l)], n.w[size_t(l) + 1])
                               : Vec());
        br[p].push_back(n.b[size_t(l)]);
      }
      if (SMALL) {
        Vec rows(n.W[1].begin() + p * h * H1, n.W[1].begin() + (p + 1) * h * H1);
        W1T[p] = transposed(rows, h, H1);
      }
      part[0][p].resize(size_t(B) * size_t(H1));
      part[1][p].resize(size_t(B) * size_t(H1));
      done[p][0].store(0);
    }
  }
  // Forward to layer 1's partial sums.
  void phase_a(int p, const float* X, long s) {
    // columns [p h, (p+1) h) of W0 (I, H0), updated in place (a contiguous copy per piece
    // measured no faster)
    float* W0 = n.W[0].data() + p * h;
    fwd(Z0[p].data(), h, X, I, W0, H0, B, h, I);
    add_bias_relu(Z0[p].data(), A0[p].data(), n.b[0].data() + p * h, B, h, h);
    const float* W1 = n.W[1].data() + size_t(p) * size_t(h) * size_t(H1);  // rows of (H0, H1)
    float* q = part[s & 1][p].data();
    fwd(q, H1, A0[p].data(), h, W1, H1, B, H1, h);
    if (p == 0)  // layer 1's bias belongs to piece 0, which alone reads and updates it
      for (int r = 0; r < B; ++r)
        for (int j = 0; j < H1; ++j) q[size_t(r) * size_t(H1) + size_t(j)] += n.b[1][size_t(j)];
  }
  // Everything after the exchange: only this piece's weights and private buffers are written.
  void phase_b(int p, const float* X, const int* y, float lr, long s) {
    const float *q0 = part[s & 1][0].data(), *q1 = part[s & 1][1].data();
    if (no_exchange) q0 = q1 = part[s & 1][p].data();  // timing only: wrong sums
    float* __restrict z1 = Z1f[p].data();
    for (size_t i = 0; i < size_t(B) * size_t(H1); ++i) z1[i] = q0[i] + q1[i];
    float* dz1 = D1f[p].data();  // delta of layer 1's output
    if (L == 2) {
      std::memcpy(dz1, z1, sizeof(float) * size_t(B) * size_t(H1));
      softmax_delta(dz1, y, B, H1);
    } else {
      float* __restrict a1 = A1f[p].data();
      for (size_t i = 0; i < size_t(B) * size_t(H1); ++i) a1[i] = z1[i] > 0 ? z1[i] : 0;
      const float* in = a1;
      for (int l = 2; l < L; ++l) {
        const int K = n.w[size_t(l)], N = n.w[size_t(l) + 1];
        float* z = Zr[p][size_t(l) - 2].data();
        fwd(z, N, in, K, Wr[p][size_t(l) - 2].data(), N, B, N, K);
        if (l + 1 < L) {
          add_bias_relu(z, Ar[p][size_t(l) - 2].data(), br[p][size_t(l) - 2].data(), B, N, N);
          in = Ar[p][size_t(l) - 2].data();
        } else {
          for (int r = 0; r < B; ++r)
            for (int j = 0; j < N; ++j) z[size_t(r * N + j)] += br[p][size_t(l) - 2][size_t(j)];
        }
      }
      float* dz = Zr[p][size_t(L) - 3].data();
      softmax_delta(dz, y, B, n.w.back());
      for (int l = L - 1; l >= 2; --l) {
        const int K = n.w[size_t(l)], N = n.w[size_t(l) + 1];
        const float* a_in = l > 2 ? Ar[p][size_t(l) - 3].data() : a1;
        float* dprev = l > 2 ? Dr[p][size_t(l) - 3].data() : dz1;
        const float* zp = l > 2 ? Zr[p][size_t(l) - 3].data() : z1;
        delta(dprev, K, dz, N, Wr[p][size_t(l) - 2].data(), N, WrT[p][size_t(l) - 2].data(), K, B,
              N, K);
        relu_mask(dprev, zp, size_t(B) * size_t(K));
        sgd(Wr[p][size_t(l) - 2].data(), N, SMALL ? WrT[p][size_t(l) - 2].data() : nullptr, K, a_in,
            K, dz, N, K, N, B, lr);
        bias_step(br[p][size_t(l) - 2].data(), dz, B, N, N, lr);
        dz = dprev;
      }
    }
    // layer 1, cut by input rows: delta of this piece's layer-0 outputs, then its rows' step
    float* W1 = n.W[1].data() + size_t(p) * size_t(h) * size_t(H1);
    float* d0 = D0[p].data();
    delta(d0, h, dz1, H1, W1, H1, W1T[p].data(), h, B, H1, h);
    relu_mask(d0, Z0[p].data(), size_t(B) * size_t(h));
    sgd(W1, H1, SMALL ? W1T[p].data() : nullptr, h, A0[p].data(), h, dz1, H1, h, H1, B, lr);
    if (p == 0) bias_step(n.b[1].data(), dz1, B, H1, H1, lr);
    // layer 0, cut by output columns
    sgd(n.W[0].data() + p * h, H0, nullptr, 0, X, I, d0, h, I, h, B, lr);
    bias_step(n.b[0].data() + p * h, d0, B, h, h, lr);
  }
  void finish() {  // piece 0's replicas are the model's layers 2..
    for (int l = 2; l < L; ++l) {
      n.W[size_t(l)] = Wr[0][size_t(l) - 2];
      n.b[size_t(l)] = br[0][size_t(l) - 2];
    }
  }
};

void pin(int cpu) {
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(cpu, &one);
  pthread_setaffinity_np(pthread_self(), sizeof one, &one);
}

struct Data {
  int n, I;
  Vec X;
  std::vector<int> y;
};

double run_whole(Net& net, const Data& d, int B, int epochs, bool ksplit = false) {
  Whole w(net, B, ksplit);
  const int steps = d.n / B;
  const auto t0 = clk::now();
  for (int e = 0; e < epochs; ++e)
    for (int s = 0; s < steps; ++s)
      w.step(d.X.data() + size_t(s) * size_t(B) * size_t(d.I), d.y.data() + s * B, 0.01f);
  return std::chrono::duration<double, std::micro>(clk::now() - t0).count() / (epochs * steps);
}

double phases[2][3];
double sequential[2];  // the last 1-thread pieced run: us per step in both phases a, both b  // the
                       // last 2-thread run: per piece us per step in phase a, waiting, b

double run_pieces(Net& net, const Data& d, int B, int epochs, int threads) {
  Pieces P(net, B);
  const int steps = d.n / B;
  const auto X = [&](long s) { return d.X.data() + size_t(s % steps) * size_t(B) * size_t(d.I); };
  const auto Y = [&](long s) { return d.y.data() + (s % steps) * B; };
  const long total = long(epochs) * steps;
  const auto t0 = clk::now();
  if (threads == 1) {
    double a = 0, b = 0;
    for (long s = 0; s < total; ++s) {
      const auto t0 = clk::now();
      P.phase_a(0, X(s), s);
      P.phase_a(1, X(s), s);
      const auto t1 = clk::now();
      P.phase_b(0, X(s), Y(s), 0.01f, s);
      P.phase_b(1, X(s), Y(s), 0.01f, s);
      const auto t2 = clk::now();
      a += std::chrono::duration<double, std::micro>(t1 - t0).count();
      b += std::chrono::duration<double, std::micro>(t2 - t1).count();
    }
    sequential[0] = a / double(total), sequential[1] = b / double(total);
  } else {
    auto body = [&](int p) {
      double a = 0, w = 0, b = 0;
      for (long s = 0; s < total; ++s) {
        const auto t0 = clk::now();
        P.phase_a(p, X(s), s);
        P.done[p][0].store(s + 1, std::memory_order_release);
        const auto t1 = clk::now();
        while (P.done[1 - p][0].load(std::memory_order_acquire) < s + 1) {
        }
        const auto t2 = clk::now();
        P.phase_b(p, X(s), Y(s), 0.01f, s);
        const auto t3 = clk::now();
        a += std::chrono::duration<double, std::micro>(t1 - t0).count();
        w += std::chrono::duration<double, std::micro>(t2 - t1).count();
        b += std::chrono::duration<double, std::micro>(t3 - t2).count();
      }
      phases[p][0] = a / double(total), phases[p][1] = w / double(total);
      phases[p][2] = b / double(total);
    };
    std::thread other([&] {
      flush_denormals();
      pin(1);
      body(1);
    });
    pin(0);
    body(0);
    other.join();
  }
  const double us = std::chrono::duration<double, std::micro>(clk::now() - t0).count() / total;
  P.finish();
  return us;
}

// Two independent nets trained at once, one per CPU, nothing shared but the (read-only) data:
// what running concurrently costs each core by itself. Returns us per step of one net.
double run_two_wholes(Net& a, Net& b, const Data& d, int B, int epochs) {
  double ta = 0;
  std::thread other([&] {
    flush_denormals();
    pin(1);
    run_whole(b, d, B, epochs);
  });
  pin(0);
  ta = run_whole(a, d, B, epochs);
  other.join();
  return ta;
}

float max_diff(const Net& a, const Net& b) {
  float m = 0;
  for (size_t l = 0; l < a.W.size(); ++l) {
    for (size_t i = 0; i < a.W[l].size(); ++i) m = std::max(m, std::fabs(a.W[l][i] - b.W[l][i]));
    for (size_t i = 0; i < a.b[l].size(); ++i) m = std::max(m, std::fabs(a.b[l][i] - b.b[l][i]));
  }
  return m;
}

bool same_bits(const Net& a, const Net& b) {
  for (size_t l = 0; l < a.W.size(); ++l)
    if (std::memcmp(a.W[l].data(), b.W[l].data(), a.W[l].size() * 4) ||
        std::memcmp(a.b[l].data(), b.b[l].data(), a.b[l].size() * 4))
      return false;
  return true;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

void config(const std::vector<int>& widths, int B) {
  const int n = 4096;
  Data d{n, widths[0], Vec(size_t(n) * size_t(widths[0])), std::vector<int>(size_t(n))};
  std::mt19937 g(7);
  std::normal_distribution<float> nd;
  for (auto& v : d.X) v = nd(g);
  for (int i = 0; i < n; ++i) {  // a learnable rule: the class is the argmax of a few inputs
    int best = 0;
    for (int j = 1; j < widths.back(); ++j)
      if (d.X[size_t(i) * size_t(widths[0]) + size_t(j)] >
          d.X[size_t(i) * size_t(widths[0]) + size_t(best)])
        best = j;
    d.y[size_t(i)] = best;
  }
  // correctness: the same 3 epochs three ways
  Net a = make_net(widths, 1), b = a, c = a;
  Net k = a;
  run_whole(a, d, B, 3);
  run_whole(k, d, B, 3, true);
  run_pieces(b, d, B, 3, 1);
  run_pieces(c, d, B, 3, 2);
  // speed: alternate the three ways, 9 rounds of 20 epochs, medians of us per step
  std::vector<double> tw, t1, t2, tt, tk;
  const int E = epochs_per_round;
  for (int r = 0; r < rounds; ++r) {
    Net x = make_net(widths, 2), y = x, z = x, u = x, v = x, q = x;
    tk.push_back(run_whole(q, d, B, E, true));
    tt.push_back(run_two_wholes(u, v, d, B, E));
    tw.push_back(run_whole(x, d, B, E));
    t1.push_back(run_pieces(y, d, B, E, 1));
    t2.push_back(run_pieces(z, d, B, E, 2));
  }
  const double w = median(tw), p1 = median(t1), p2 = median(t2);
  std::printf(
      "%s b%d: us/step whole %.2f | 2 pieces 1 thread %.2f (%.2fx whole) | 2 pieces "
      "2 threads %.2f (%.2fx whole, %.2fx pieces on 1)\n",
      [&] {
        static char s[64];
        int k = 0;
        for (size_t i = 0; i < widths.size(); ++i)
          k += std::snprintf(s + k, sizeof s - size_t(k), i ? "-%d" : "%d", widths[i]);
        return s;
      }(),
      B, w, p1, w / p1, p2, w / p2, p1 / p2);
  std::printf(
      "  whole with layer 1's product in the pieces' two halves: %.2f us per step "
      "(%.2fx whole); bitwise equal to the pieces after 3 epochs: %s\n",
      median(tk), w / median(tk), same_bits(k, b) ? "yes" : "NO");
  std::printf("  two independent nets at once, one per CPU: %.2f us per step each (%.2fx alone)\n",
              median(tt), w / median(tt));
  std::printf("  last 1-thread pieced run, us per step: both phases a %.2f, both b %.2f\n",
              sequential[0], sequential[1]);
  std::printf(
      "  last 2-thread run, us per step: piece 0 phase a %.2f, wait %.2f, b %.2f; "
      "piece 1 %.2f, %.2f, %.2f\n",
      phases[0][0], phases[0][1], phases[0][2], phases[1][0], phases[1][1], phases[1][2]);
  std::printf(
      "  after 3 epochs: pieces on 1 and 2 threads bitwise equal: %s; "
      "max |pieces - whole| = %.3g\n",
      same_bits(b, c) ? "yes" : "NO", double(max_diff(a, b)));
}

// What the cut costs one thread: each product of layers 0 and 1 (the ones the pieces cut)
// called whole against the pieces' two calls, us per product (medians of 31). The SGD
// products step by a tiny rate (alpha 0 would let OpenBLAS skip the product).
void cut_products(const std::vector<int>& widths, int B) {
  const int I = widths[0], H0 = widths[1], H1 = widths[2], h = H0 / 2;
  Vec X(size_t(B) * size_t(I), 0.01f), W0(size_t(I) * size_t(H0), 0.02f),
      W1(size_t(H0) * size_t(H1), 0.02f), W1T(size_t(H1) * size_t(H0), 0.02f),
      A0(size_t(B) * size_t(H0), 0.01f), D1(size_t(B) * size_t(H1), 0.01f),
      D0(size_t(B) * size_t(H0), 0.01f), C(size_t(B) * size_t(std::max(H0, H1)) + 1),
      Q(size_t(B) * size_t(H1));
  const auto us = [](auto&& f) {
    std::vector<double> t;
    for (int r = 0; r < 31; ++r) {
      const auto t0 = clk::now();
      f();
      t.push_back(std::chrono::duration<double, std::micro>(clk::now() - t0).count());
    }
    std::sort(t.begin(), t.end());
    return t[15];
  };
  struct Row {
    const char* name;
    double whole, pieces;
  };
  std::vector<Row> rows;
  rows.push_back({"layer 0 forward X W0, column halves",
                  us([&] { fwd(C.data(), H0, X.data(), I, W0.data(), H0, B, H0, I); }), us([&] {
                    for (int p = 0; p < 2; ++p)
                      fwd(C.data() + p * h, H0, X.data(), I, W0.data() + p * h, H0, B, h, I);
                  })});
  rows.push_back({"layer 1 forward A0 W1, depth halves + sum",
                  us([&] { fwd(C.data(), H1, A0.data(), H0, W1.data(), H1, B, H1, H0); }), us([&] {
                    fwd(C.data(), H1, A0.data(), H0, W1.data(), H1, B, H1, h);
                    fwd(Q.data(), H1, A0.data() + h, H0, W1.data() + size_t(h) * size_t(H1), H1, B,
                        H1, h);
                    for (size_t i = 0; i < Q.size(); ++i) C[i] += Q[i];
                  })});
  rows.push_back({"layer 1 delta D1 W1^T, column halves", us([&] {
                    delta(C.data(), H0, D1.data(), H1, W1.data(), H1, W1T.data(), H0, B, H1, H0);
                  }),
                  us([&] {
                    for (int p = 0; p < 2; ++p)
                      delta(C.data() + p * h, H0, D1.data(), H1,
                            W1.data() + size_t(p) * size_t(h) * size_t(H1), H1, W1T.data() + p * h,
                            H0, B, H1, h);
                  })});
  rows.push_back({"layer 1 SGD W1 -= A0^T D1, row halves", us([&] {
                    sgd(W1.data(), H1, nullptr, 0, A0.data(), H0, D1.data(), H1, H0, H1, B, 1e-6f);
                  }),
                  us([&] {
                    for (int p = 0; p < 2; ++p)
                      sgd(W1.data() + size_t(p) * size_t(h) * size_t(H1), H1, nullptr, 0,
                          A0.data() + p * h, H0, D1.data(), H1, h, H1, B, 1e-6f);
                  })});
  rows.push_back({"layer 0 SGD W0 -= X^T D0, column halves", us([&] {
                    sgd(W0.data(), H0, nullptr, 0, X.data(), I, D0.data(), H0, I, H0, B, 1e-6f);
                  }),
                  us([&] {
                    for (int p = 0; p < 2; ++p)
                      sgd(W0.data() + p * h, H0, nullptr, 0, X.data(), I, D0.data() + p * h, H0, I,
                          h, B, 1e-6f);
                  })});
  double w = 0, c = 0;
  for (const Row& r : rows) {
    std::printf("  1 thread, %-42s whole %8.2f us, the pieces' calls %8.2f us (%.3fx)\n", r.name,
                r.whole, r.pieces, r.whole / r.pieces);
    w += r.whole, c += r.pieces;
  }
  std::printf("  1 thread, these products in all: whole %.2f us, cut %.2f us (%.3fx)\n", w, c,
              w / c);
}

}  // namespace

int main(int argc, char** argv) {
  scipy_openblas_set_num_threads(1);
  flush_denormals();
  std::vector<std::pair<std::vector<int>, int>> configs;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if ((a == "--rounds" || a == "--epochs") && i + 1 < argc) {
      (a == "--rounds" ? rounds : epochs_per_round) = std::max(1, std::atoi(argv[++i]));
      continue;
    }
    const size_t colon = std::min(a.find(':'), a.size());
    std::vector<int> widths;
    for (size_t k = 0; k < colon;) {
      const size_t dash = std::min(a.find('-', k), colon);
      widths.push_back(std::atoi(a.substr(k, dash - k).c_str()));
      k = dash + 1;
    }
    const int batch = colon < a.size() ? std::atoi(a.c_str() + colon + 1) : 0;
    if (widths.size() < 3 || batch < 2 || widths[1] % 32 ||
        *std::max_element(widths.begin(), widths.end()) > 4096 ||
        *std::min_element(widths.begin(), widths.end()) < 1) {
      std::fprintf(stderr,
                   "config %s: expected WIDTHS:BATCH with >= 3 widths, the first hidden width "
                   "a multiple of 32, every width 1 to 4096, batch >= 2, e.g. 64-128-10:64\n",
                   a.c_str());
      return 2;
    }
    configs.push_back({widths, batch});
  }
  if (configs.empty())
    configs = {
        {{64, 128, 10}, 64}, {{32, 64, 64, 2}, 32}, {{64, 128, 10}, 128}, {{32, 64, 64, 2}, 64}};
  std::printf(
      "# bench/tensor_parallel_step.cpp: %s; OpenBLAS core %s; products by %s; %d rounds "
      "of %d epochs\n",
      cpu_description().c_str(), scipy_openblas_get_corename(),
      SMALL ? "the register-tiled kernels" : "the bundled OpenBLAS", rounds, epochs_per_round);
  for (const auto& c : configs) {
    config(c.first, c.second);
    cut_products(c.first, c.second);
  }
  return 0;
}
