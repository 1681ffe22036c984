#include "mlpcore/activations.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "mlpcore/registry.hpp"

namespace mlpcore {

namespace {
struct Entry {
  const char* name;
  Activation kind;
  bool differentiable;
};
constexpr Entry REGISTRY[] = {
    {"identity", Activation::Identity, true}, {"step", Activation::Step, false},
    {"sign", Activation::Sign, false},         {"sigmoid", Activation::Sigmoid, true},
    {"tanh", Activation::Tanh, true},         {"relu", Activation::Relu, true},
};
}  // namespace

Activation activation_from_name(const std::string& name) {
  return entry_by_name(REGISTRY, name, "activation", "activations").kind;
}

const char* activation_name(Activation a) { return entry_by_kind(REGISTRY, a).name; }
bool activation_differentiable(Activation a) { return entry_by_kind(REGISTRY, a).differentiable; }

template <typename T>
T sigmoid(T z) {
  const T e = std::exp(-std::abs(z));  // never exp of a positive number
  return z >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <typename T>
void activation_forward(Activation a, T* h, const T* z, std::size_t n) {
  switch (a) {
    case Activation::Identity:
      for (std::size_t i = 0; i < n; ++i) h[i] = z[i];
      break;
    case Activation::Step:
      for (std::size_t i = 0; i < n; ++i) h[i] = z[i] >= 0 ? T(1) : T(0);
      break;
    case Activation::Sign:
      for (std::size_t i = 0; i < n; ++i) h[i] = z[i] >= 0 ? T(1) : T(-1);
      break;
    case Activation::Sigmoid:
      for (std::size_t i = 0; i < n; ++i) h[i] = sigmoid(z[i]);
      break;
    case Activation::Tanh:
      for (std::size_t i = 0; i < n; ++i) h[i] = std::tanh(z[i]);
      break;
    case Activation::Relu:
      for (std::size_t i = 0; i < n; ++i) h[i] = z[i] > 0 ? z[i] : T(0);
      break;
  }
}

// Backprop runs in place (dz == dh). The loops read and write one delta pointer and read
// h, which never aliases it (h is the layer's output): so they vectorise.
template <typename T>
void activation_backward(Activation a, T* dz, const T* dh, const T* __restrict h, std::size_t n) {
  if (!activation_differentiable(a))
    throw std::invalid_argument(std::string("activation '") + activation_name(a) +
                                "' has zero derivative almost everywhere: no gradient can "
                                "pass through it");
  if (dz != dh) std::copy(dh, dh + n, dz);
  switch (a) {
    case Activation::Sigmoid:
      for (std::size_t i = 0; i < n; ++i) dz[i] *= h[i] * (T(1) - h[i]);
      break;
    case Activation::Tanh:
      for (std::size_t i = 0; i < n; ++i) dz[i] *= T(1) - h[i] * h[i];
      break;
    case Activation::Relu:  // a select, not dh * [h > 0]: it vectorises (no -0.0 either)
      for (std::size_t i = 0; i < n; ++i) dz[i] = h[i] > 0 ? dz[i] : T(0);
      break;
    default:  // identity: dz = dh
      break;
  }
}

#define MLPCORE_INSTANTIATE(T)                                                         \
  template T sigmoid<T>(T);                                                            \
  template void activation_forward<T>(Activation, T*, const T*, std::size_t);          \
  template void activation_backward<T>(Activation, T*, const T*, const T*, std::size_t);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
