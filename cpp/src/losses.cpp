#include "mlpcore/losses.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
#include <stdexcept>

#include "mlpcore/activations.hpp"
#include "mlpcore/registry.hpp"
#include "mlpcore/simd.hpp"
#include "mlpcore/vexp.hpp"

namespace mlpcore {

namespace {
struct Entry {
  const char* name;
  Loss kind;
};
constexpr Entry REGISTRY[] = {
    {"softmax_cross_entropy", Loss::SoftmaxCrossEntropy},
    {"binary_cross_entropy", Loss::BinaryCrossEntropy},
    {"mse", Loss::Mse},
    {"poisson", Loss::Poisson},
    {"hinge", Loss::Hinge},
    {"squared_hinge", Loss::SquaredHinge},
};

constexpr bool registry_in_enum_order() {
  for (std::size_t i = 0; i < std::size(REGISTRY); ++i)
    if (REGISTRY[i].kind != Loss(i)) return false;
  return true;
}
static_assert(std::size(REGISTRY) == std::size_t(Loss::Count),
              "the loss registry needs one entry per Loss value");
static_assert(registry_in_enum_order(), "the loss registry is in Loss's order");

// The hinge losses' label: 0 is read as -1, so {0, 1} labels work as {-1, 1} (Keras).
template <typename T>
inline T hinge_label(T y) {
  return y == T(0) ? T(-1) : y;
}

// h (B, K) = softmax of each row of z (B, K); when lse is not null, lse (B,) = each row's
// log-sum-exp. Three passes laid out for vectors: each row shifted by its max (z - max <= 0),
// one flat exp over all B * K elements, then each row divided by its sum.
template <typename T>
MLPCORE_SIMD_CLONES void softmax_rows(T* __restrict h, T* __restrict lse, const T* __restrict z,
                                      int B, int K) {
  for (int i = 0; i < B; ++i) {
    const T* zi = z + std::size_t(i) * K;
    T* hi = h + std::size_t(i) * K;
    T m = zi[0];
    for (int k = 1; k < K; ++k) m = zi[k] > m ? zi[k] : m;
    for (int k = 0; k < K; ++k) hi[k] = zi[k] - m;
    if (lse) lse[i] = m;
  }
  const std::size_t n = std::size_t(B) * K;
  for (std::size_t j = 0; j < n; ++j) h[j] = exp_nonpositive(h[j]);
  for (int i = 0; i < B; ++i) {
    T* hi = h + std::size_t(i) * K;
    T s = 0;
    for (int k = 0; k < K; ++k) s += hi[k];
    for (int k = 0; k < K; ++k) hi[k] /= s;
    if (lse) lse[i] += std::log(s);
  }
}
}  // namespace

Loss loss_from_name(const std::string& name) {
  return entry_by_name(REGISTRY, name, "loss", "losses").kind;
}

const char* loss_name(Loss l) {
  return entry_by_kind(REGISTRY, l).name;
}

template <typename T>
void output_activation(Loss l, T* h, const T* z, int B, int K) {
  const std::size_t n = static_cast<std::size_t>(B) * K;
  switch (l) {
    case Loss::SoftmaxCrossEntropy:
      softmax_rows(h, static_cast<T*>(nullptr), z, B, K);
      break;
    case Loss::BinaryCrossEntropy:
      activation_forward(Activation::Sigmoid, h, z, n, 0.0);
      break;
    case Loss::Mse:
    case Loss::Hinge:
    case Loss::SquaredHinge:
      activation_forward(Activation::Identity, h, z, n, 0.0);
      break;
    case Loss::Poisson:
      for (std::size_t i = 0; i < n; ++i) h[i] = std::exp(z[i]);
      break;
    case Loss::Count:  // not a loss
      break;
  }
}

template <typename T>
double loss_forward(Loss l, T* h, const T* z, const T* y, const T* w, int B, int K) {
  constexpr int CHUNK = 256;  // softmax rows go through softmax_rows this many at a time
  T lse[CHUNK];               // (CHUNK,) the log-sum-exp of the chunk's rows
  double total = 0;
  for (int i = 0; i < B; ++i) {
    const T* zi = z + std::size_t(i) * K;
    const T* yi = y + std::size_t(i) * K;
    T* hi = h + std::size_t(i) * K;
    T row = 0;  // this sample's loss, summed over the outputs
    switch (l) {
      case Loss::SoftmaxCrossEntropy: {
        if (i % CHUNK == 0) softmax_rows(hi, lse, zi, std::min(CHUNK, B - i), K);
        T ysum = 0, yz = 0;
        for (int k = 0; k < K; ++k) {
          ysum += yi[k];
          yz += yi[k] * zi[k];
        }
        row = lse[i % CHUNK] * ysum - yz;
        break;
      }
      case Loss::BinaryCrossEntropy:
        for (int k = 0; k < K; ++k) {
          const T zk = zi[k];
          row += std::max(zk, T(0)) - zk * yi[k] + std::log1p(std::exp(-std::abs(zk)));
          hi[k] = sigmoid(zk);
        }
        break;
      case Loss::Mse:
        for (int k = 0; k < K; ++k) {
          const T d = zi[k] - yi[k];
          row += T(0.5) * (d * d);
          hi[k] = zi[k];
        }
        break;
      case Loss::Poisson:
        for (int k = 0; k < K; ++k) {
          const T yk = yi[k];
          hi[k] = std::exp(zi[k]);
          row += hi[k] - yk * zi[k] + (yk > 0 ? yk * std::log(yk) - yk : T(0));
        }
        break;
      case Loss::Hinge:
      case Loss::SquaredHinge: {
        const bool squared = l == Loss::SquaredHinge;
        for (int k = 0; k < K; ++k) {
          const T m = std::max(T(1) - hinge_label(yi[k]) * zi[k], T(0));
          row += squared ? m * m : m;
          hi[k] = zi[k];
        }
        row /= T(K);  // the mean over outputs, as Keras
        break;
      }
      case Loss::Count:
        break;
    }
    total += w ? static_cast<double>(w[i]) * static_cast<double>(row) : static_cast<double>(row);
  }
  return total / weight_sum(w, B);
}

template <typename T>
double weight_sum(const T* w, int B) {
  if (!w) return double(B);
  double s = 0;
  for (int i = 0; i < B; ++i) s += double(w[i]);
  return s;
}

// dz (B, K) = the hinge losses' derivative in z (= h) times the row scale: per element
// -t [t z < 1] / K (hinge) or -2 t max(0, 1 - t z) / K (squared_hinge), t = hinge_label(y)
template <typename T>
MLPCORE_SIMD_CLONES static void hinge_backward(T* __restrict dz, const T* __restrict h,
                                               const T* __restrict y, const T* w, int B, int K,
                                               bool squared) {
  const double total = weight_sum(w, B);
  for (int i = 0; i < B; ++i) {
    const T scale = T((w ? double(w[i]) : 1.0) / (total * double(K)));
    const std::size_t o = std::size_t(i) * K;
    for (int k = 0; k < K; ++k) {
      const T t = hinge_label(y[o + k]);
      const T m = T(1) - t * h[o + k];
      const T g = squared ? (m > 0 ? T(-2) * t * m : T(0)) : (m > 0 ? -t : T(0));
      dz[o + k] = g * scale;
    }
  }
}

template <typename T>
MLPCORE_SIMD_CLONES static void error_backward(T* dz, const T* h, const T* y, const T* w, int B,
                                               int K) {
  if (!w) {
    const std::size_t n = static_cast<std::size_t>(B) * K;
    const T batch = T(B);
    for (std::size_t i = 0; i < n; ++i) dz[i] = (h[i] - y[i]) / batch;
    return;
  }
  const double total = weight_sum(w, B);
  for (int i = 0; i < B; ++i) {
    const T scale = T(double(w[i]) / total);
    const std::size_t o = std::size_t(i) * K;
    for (int k = 0; k < K; ++k) dz[o + k] = (h[o + k] - y[o + k]) * scale;
  }
}

template <typename T>
void loss_backward(Loss l, T* dz, const T* h, const T* y, const T* w, int B, int K) {
  switch (l) {
    case Loss::SoftmaxCrossEntropy:
    case Loss::BinaryCrossEntropy:
    case Loss::Mse:
    case Loss::Poisson:
      error_backward(dz, h, y, w, B, K);
      break;
    case Loss::Hinge:
    case Loss::SquaredHinge:
      hinge_backward(dz, h, y, w, B, K, l == Loss::SquaredHinge);
      break;
    case Loss::Count:
      break;
  }
}

#define MLPCORE_INSTANTIATE(T)                                                       \
  template void output_activation<T>(Loss, T*, const T*, int, int);                  \
  template double loss_forward<T>(Loss, T*, const T*, const T*, const T*, int, int); \
  template void loss_backward<T>(Loss, T*, const T*, const T*, const T*, int, int);  \
  template double weight_sum<T>(const T*, int);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
