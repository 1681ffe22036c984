#include "mlpcore/losses.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "mlpcore/activations.hpp"
#include "mlpcore/registry.hpp"

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
};

// One row: h (K,) = softmax(z (K,)); returns log-sum-exp of z.
template <typename T>
T softmax_row(T* h, const T* z, int K) {
  const T m = *std::max_element(z, z + K);
  T s = 0;
  for (int k = 0; k < K; ++k) {
    h[k] = std::exp(z[k] - m);
    s += h[k];
  }
  for (int k = 0; k < K; ++k) h[k] /= s;
  return m + std::log(s);
}
}  // namespace

Loss loss_from_name(const std::string& name) {
  return entry_by_name(REGISTRY, name, "loss", "losses").kind;
}

const char* loss_name(Loss l) { return entry_by_kind(REGISTRY, l).name; }

template <typename T>
void output_activation(Loss l, T* h, const T* z, int B, int K) {
  const std::size_t n = static_cast<std::size_t>(B) * K;
  switch (l) {
    case Loss::SoftmaxCrossEntropy:
      for (int i = 0; i < B; ++i) softmax_row(h + std::size_t(i) * K, z + std::size_t(i) * K, K);
      break;
    case Loss::BinaryCrossEntropy:
      activation_forward(Activation::Sigmoid, h, z, n, 0.0);
      break;
    case Loss::Mse:
      activation_forward(Activation::Identity, h, z, n, 0.0);
      break;
  }
}

template <typename T>
double loss_forward(Loss l, T* h, const T* z, const T* y, int B, int K) {
  double total = 0;
  for (int i = 0; i < B; ++i) {
    const T* zi = z + std::size_t(i) * K;
    const T* yi = y + std::size_t(i) * K;
    T* hi = h + std::size_t(i) * K;
    T row = 0;  // this sample's loss, summed over the outputs
    switch (l) {
      case Loss::SoftmaxCrossEntropy: {
        const T lse = softmax_row(hi, zi, K);
        T ysum = 0, yz = 0;
        for (int k = 0; k < K; ++k) {
          ysum += yi[k];
          yz += yi[k] * zi[k];
        }
        row = lse * ysum - yz;
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
    }
    total += static_cast<double>(row);
  }
  return total / B;
}

template <typename T>
void loss_backward(T* dz, const T* h, const T* y, int B, int K) {
  const std::size_t n = static_cast<std::size_t>(B) * K;
  const T batch = T(B);
  for (std::size_t i = 0; i < n; ++i) dz[i] = (h[i] - y[i]) / batch;
}

#define MLPCORE_INSTANTIATE(T)                                                  \
  template void output_activation<T>(Loss, T*, const T*, int, int);             \
  template double loss_forward<T>(Loss, T*, const T*, const T*, int, int);      \
  template void loss_backward<T>(T*, const T*, const T*, int, int);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
