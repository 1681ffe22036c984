#include "mlpcore/layers.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <stdexcept>
#include <string>

#include "mlpcore/blas.hpp"
#include "mlpcore/rng.hpp"
#include "mlpcore/simd.hpp"

namespace mlpcore {

using std::size_t;

// ---- dense -----------------------------------------------------------------------------
// z (B, O) = b (O,) in every row: b into the first row, then copies that double the filled
// rows (log2 B calls of memcpy instead of one per row, which cost 2 ns each for short rows)
template <typename T>
static void broadcast_rows(T* z, const T* b, int B, int O) {
  std::copy(b, b + O, z);
  for (size_t done = 1; done < size_t(B); done *= 2)
    std::copy(z, z + std::min(done, size_t(B) - done) * O, z + done * O);
}

// db (O,) += the column sums of dz (B, O), row by row (contiguous: vectorises)
template <typename T>
MLPCORE_SIMD_CLONES static void add_column_sums(T* __restrict db, const T* __restrict dz, int B,
                                                int O) {
  for (int r = 0; r < B; ++r) {
    const T* row = dz + size_t(r) * O;
    for (int o = 0; o < O; ++o) db[o] += row[o];
  }
}

template <typename T>
void dense_forward(T* z, const T* x, const T* w, const T* b, int B, int I, int O, int ldw) {
  // z (B, O) = b broadcast over rows, then z += x (B, I) @ w (I, O); without b, z = x @ w
  if (!ldw) ldw = O;
  if (b) broadcast_rows(z, b, B, O);
  const T beta = b ? T(1) : T(0);
  if (B == 1)  // one row: z^T += w^T x^T, a gemv (OpenBLAS's gemm is slow for M = 1)
    gemv(Trans::Yes, I, O, T(1), w, ldw, x, beta, z);
  else
    gemm(Trans::No, Trans::No, B, O, I, T(1), x, I, w, ldw, beta, z, O);
}

template <typename T>
void dense_backward(T* dx, T* dw, T* db, const T* dz, const T* x, const T* w, int B, int I, int O,
                    int ldw) {
  if (!ldw) ldw = O;
  gemm(Trans::Yes, Trans::No, I, O, B, T(1), x, I, dz, O, T(1), dw, ldw);  // dw += x^T dz
  if (db) add_column_sums(db, dz, B, O);                                   // db += sum_rows dz
  // dx = dz w^T (a small one runs on a copy of w^T where that is faster: blas.cpp)
  if (dx) gemm(Trans::No, Trans::Yes, B, I, O, T(1), dz, O, w, ldw, T(0), dx, I);
}

template <typename T>
void dense_backward_sgd(T* dx, T* w, T* b, T* sums, const T* dz, const T* x, int B, int I, int O,
                        double lr, double decay, int ldw) {
  if (!ldw) ldw = O;
  if (dx) gemm(Trans::No, Trans::Yes, B, I, O, T(1), dz, O, w, ldw, T(0), dx, I);  // old w
  gemm(Trans::Yes, Trans::No, I, O, B, T(-lr), x, I, dz, O, T(1 - lr * decay), w, ldw);
  if (!b) return;
  std::fill(sums, sums + O, T(0));
  add_column_sums(sums, dz, B, O);
  const T step = T(lr);
  for (int o = 0; o < O; ++o) b[o] -= step * sums[o];
}

// ---- batch normalisation ---------------------------------------------------------------
// batchnorm_forward's loops, for B >= 2 in training (checked by the caller: a cloned function
// must not throw, simd.hpp)
template <typename T>
MLPCORE_SIMD_CLONES static void batchnorm_forward_loops(T* y, T* xhat, T* inv_std, T* running_mean,
                                                        T* running_var, const T* x, const T* gamma,
                                                        const T* beta, int B, int F, bool training,
                                                        double momentum, double eps,
                                                        bool update_running) {
  if (training) {
    T* mean = inv_std;  // (F,) mean first, overwritten by inv_std below
    std::fill(mean, mean + F, T(0));
    for (int r = 0; r < B; ++r)
      for (int f = 0; f < F; ++f) mean[f] += x[size_t(r) * F + f];
    for (int f = 0; f < F; ++f) mean[f] /= T(B);
    if (update_running) {
      const T m = T(momentum), keep = T(1 - momentum);
      for (int f = 0; f < F; ++f) running_mean[f] = keep * running_mean[f] + m * mean[f];
    }
    // centred values into xhat, then the biased variance into y's first row as scratch
    T* var = y;  // (F,) scratch: y is written only after var is consumed
    std::fill(var, var + F, T(0));
    for (int r = 0; r < B; ++r)
      for (int f = 0; f < F; ++f) {
        const T c = x[size_t(r) * F + f] - mean[f];
        xhat[size_t(r) * F + f] = c;
        var[f] += c * c;
      }
    const T unbias = T(double(B) / double(B - 1));
    for (int f = 0; f < F; ++f) {
      var[f] /= T(B);
      if (update_running) {
        running_var[f] = T(1 - momentum) * running_var[f] + T(momentum) * (var[f] * unbias);
      }
      inv_std[f] = T(1) / std::sqrt(var[f] + T(eps));
    }
  } else {
    for (int f = 0; f < F; ++f) inv_std[f] = T(1) / std::sqrt(running_var[f] + T(eps));
    for (int r = 0; r < B; ++r)
      for (int f = 0; f < F; ++f) xhat[size_t(r) * F + f] = x[size_t(r) * F + f] - running_mean[f];
  }
  for (int r = 0; r < B; ++r)
    for (int f = 0; f < F; ++f) {
      const size_t i = size_t(r) * F + f;
      xhat[i] *= inv_std[f];
      y[i] = gamma[f] * xhat[i] + beta[f];
    }
}

template <typename T>
void batchnorm_forward(T* y, T* xhat, T* inv_std, T* running_mean, T* running_var, const T* x,
                       const T* gamma, const T* beta, int B, int F, bool training, double momentum,
                       double eps, bool update_running) {
  if (training && B < 2)
    throw std::invalid_argument(
        "BatchNorm in training mode needs at least 2 samples in a "
        "batch (got " +
        std::to_string(B) + "): one sample has no variance");
  batchnorm_forward_loops(y, xhat, inv_std, running_mean, running_var, x, gamma, beta, B, F,
                          training, momentum, eps, update_running);
}

template <typename T>
MLPCORE_SIMD_CLONES void batchnorm_backward(T* dx, T* dgamma, T* dbeta, T* sums, const T* dy,
                                            const T* xhat, const T* inv_std, const T* gamma, int B,
                                            int F, bool training) {
  // Row by row (contiguous, vectorisable): s = sum(dy) and sx = sum(dy xhat) per feature.
  T* s = sums;
  T* sx = sums + F;
  std::fill(sums, sums + 2 * size_t(F), T(0));
  for (int r = 0; r < B; ++r) {
    const T* dyr = dy + size_t(r) * F;
    const T* xr = xhat + size_t(r) * F;
    for (int f = 0; f < F; ++f) {
      s[f] += dyr[f];
      sx[f] += dyr[f] * xr[f];
    }
  }
  for (int f = 0; f < F; ++f) {
    dbeta[f] += s[f];
    dgamma[f] += sx[f];
  }
  // Then dx from dy in place (dx usually is dy): one delta pointer, so the loops vectorise.
  if (dx != dy) std::copy(dy, dy + size_t(B) * F, dx);
  const T n = T(B);
  for (int r = 0; r < B; ++r) {
    T* __restrict d = dx + size_t(r) * F;
    const T* xr = xhat + size_t(r) * F;
    if (training) {
      for (int f = 0; f < F; ++f)
        d[f] = (gamma[f] * inv_std[f] / n) * (n * d[f] - s[f] - xr[f] * sx[f]);
    } else {
      for (int f = 0; f < F; ++f) d[f] = d[f] * (gamma[f] * inv_std[f]);
    }
  }
}

// ---- layer normalisation ---------------------------------------------------------------
// Row by row: the mean, then the centred values into xhat and their mean square (two passes,
// as torch: no cancellation from E[x^2] - E[x]^2), then scale and shift.
template <typename T>
MLPCORE_SIMD_CLONES void layernorm_forward(T* y, T* xhat, T* inv_std, const T* x, const T* gamma,
                                           const T* beta, int B, int F, double eps) {
  const T n = T(F), e = T(eps);
  for (int r = 0; r < B; ++r) {
    const T* xr = x + size_t(r) * F;
    T* __restrict cr = xhat + size_t(r) * F;
    T* __restrict yr = y + size_t(r) * F;
    T mean = 0;
    for (int f = 0; f < F; ++f) mean += xr[f];
    mean /= n;
    T var = 0;
    for (int f = 0; f < F; ++f) {
      const T c = xr[f] - mean;
      cr[f] = c;
      var += c * c;
    }
    var /= n;
    const T is = T(1) / std::sqrt(var + e);
    inv_std[r] = is;
    for (int f = 0; f < F; ++f) {
      cr[f] *= is;
      yr[f] = gamma[f] * cr[f] + beta[f];
    }
  }
}

template <typename T>
MLPCORE_SIMD_CLONES void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* xhat,
                                            const T* inv_std, const T* gamma, int B, int F) {
  const T n = T(F);
  for (int r = 0; r < B; ++r) {
    const T* dyr = dy + size_t(r) * F;
    const T* xr = xhat + size_t(r) * F;
    T s = 0, sx = 0;  // sum(g), sum(g xhat) over the row, g = gamma dy
    for (int f = 0; f < F; ++f) {
      const T g = gamma[f] * dyr[f];
      s += g;
      sx += g * xr[f];
      dbeta[f] += dyr[f];
      dgamma[f] += dyr[f] * xr[f];
    }
    // dx from dy in place when they alias: dy's row is read above, each element once below
    T* d = dx + size_t(r) * F;
    const T scale = inv_std[r] / n;
    for (int f = 0; f < F; ++f) d[f] = scale * (n * (gamma[f] * dyr[f]) - s - xr[f] * sx);
  }
}

// ---- inverted dropout ------------------------------------------------------------------
// The mask loop vectorises where the CPU has 64-bit vector multiplies (AVX-512's clone).
template <typename T>
MLPCORE_SIMD_CLONES static void draw_mask(T* __restrict mask, T* y, const T* x, std::int64_t n,
                                          std::uint64_t k, std::uint64_t threshold, T scale) {
  for (std::int64_t i = 0; i < n; ++i) {
    const T m = (rng::bits(k, std::uint64_t(i)) >> 11) >= threshold ? scale : T(0);
    mask[i] = m;
    y[i] = x[i] * m;
  }
}

template <typename T>
bool dropout_forward(T* y, T* mask, const T* x, std::int64_t n, double p, std::uint64_t seed,
                     std::uint64_t step, std::uint64_t layer, bool training) {
  if (!training || p == 0) {
    if (y != x) std::copy(x, x + n, y);
    return false;
  }
  draw_mask(mask, y, x, n, rng::key(seed, rng::STREAM_DROPOUT, step, layer), rng::keep_threshold(p),
            static_cast<T>(1.0 / (1.0 - p)));
  return true;
}

template <typename T>
MLPCORE_SIMD_CLONES void dropout_backward(T* dx, const T* dy, const T* __restrict mask,
                                          std::int64_t n) {
  if (dx != dy) std::copy(dy, dy + n, dx);
  if (!mask) return;
  for (std::int64_t i = 0; i < n; ++i) dx[i] *= mask[i];  // in place: vectorises
}

#define MLPCORE_INSTANTIATE(T)                                                                     \
  template void dense_forward<T>(T*, const T*, const T*, const T*, int, int, int, int);            \
  template void dense_backward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, int, int);   \
  template void dense_backward_sgd<T>(T*, T*, T*, T*, const T*, const T*, int, int, int, double,   \
                                      double, int);                                                \
  template void batchnorm_forward<T>(T*, T*, T*, T*, T*, const T*, const T*, const T*, int, int,   \
                                     bool, double, double, bool);                                  \
  template void batchnorm_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*, int, \
                                      int, bool);                                                  \
  template void layernorm_forward<T>(T*, T*, T*, const T*, const T*, const T*, int, int, double);  \
  template void layernorm_backward<T>(T*, T*, T*, const T*, const T*, const T*, const T*, int,     \
                                      int);                                                        \
  template bool dropout_forward<T>(T*, T*, const T*, std::int64_t, double, std::uint64_t,          \
                                   std::uint64_t, std::uint64_t, bool);                            \
  template void dropout_backward<T>(T*, const T*, const T*, std::int64_t);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
