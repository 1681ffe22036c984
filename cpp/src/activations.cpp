#include "mlpcore/activations.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>

#include "mlpcore/registry.hpp"
#include "mlpcore/simd.hpp"
#include "mlpcore/vexp.hpp"

namespace mlpcore {

namespace {
constexpr ActivationInfo REGISTRY[] = {
    {"identity", Activation::Identity, true, 0, nullptr},
    {"step", Activation::Step, false, 0, nullptr},
    {"sign", Activation::Sign, false, 0, nullptr},
    {"sigmoid", Activation::Sigmoid, true, 0, nullptr},
    {"tanh", Activation::Tanh, true, 0, nullptr},
    {"relu", Activation::Relu, true, 0, nullptr},
    {"leaky_relu", Activation::LeakyRelu, true, 1, "negative_slope"},
    {"gelu", Activation::Gelu, true, 0, nullptr},
};
}  // namespace

const ActivationInfo& activation_info(const std::string& name) {
  return entry_by_name(REGISTRY, name, "activation", "activations");
}
const ActivationInfo& activation_info(Activation a) { return entry_by_kind(REGISTRY, a); }

std::string activation_names() {
  std::string s;
  for (const ActivationInfo& e : REGISTRY) s += (s.empty() ? "" : ", ") + std::string(e.name);
  return s;
}

template <typename T>
T sigmoid(T z) {
  const T e = exp_nonpositive(-std::abs(z));  // never exp of a positive number
  return z >= 0 ? T(1) / (T(1) + e) : e / (T(1) + e);
}

template <typename T>
MLPCORE_SIMD_CLONES
void activation_forward(Activation a, T* h, const T* z, std::size_t n, double param) {
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
    case Activation::LeakyRelu: {
      const T slope = T(param);
      for (std::size_t i = 0; i < n; ++i) h[i] = z[i] > 0 ? z[i] : slope * z[i];
      break;
    }
    case Activation::Gelu: {  // exact: z Phi(z) = z/2 (1 + erf(z / sqrt 2))
      const T r = T(0.70710678118654752440);
      for (std::size_t i = 0; i < n; ++i) h[i] = T(0.5) * z[i] * (T(1) + std::erf(z[i] * r));
      break;
    }
  }
}

// Backprop runs in place: dz (n,) *= f'(z). The loops read and write one delta pointer and
// read z and h, which never alias it (they are layer outputs): so they vectorise.
template <typename T>
MLPCORE_SIMD_CLONES
static void backward_in_place(Activation a, T* dz, const T* __restrict z, const T* __restrict h,
                              std::size_t n, double param) {
  switch (a) {
    case Activation::Sigmoid:
      for (std::size_t i = 0; i < n; ++i) dz[i] *= h[i] * (T(1) - h[i]);
      break;
    case Activation::Tanh:
      for (std::size_t i = 0; i < n; ++i) dz[i] *= T(1) - h[i] * h[i];
      break;
    case Activation::Relu:  // a select, not dh * [z > 0]: it vectorises (no -0.0 either)
      for (std::size_t i = 0; i < n; ++i) dz[i] = z[i] > 0 ? dz[i] : T(0);
      break;
    case Activation::LeakyRelu: {
      const T slope = T(param);
      for (std::size_t i = 0; i < n; ++i) dz[i] = z[i] > 0 ? dz[i] : slope * dz[i];
      break;
    }
    case Activation::Gelu: {  // Phi(z) + z phi(z)
      const T r = T(0.70710678118654752440), c = T(0.39894228040143267794);  // 1/sqrt(2 pi)
      for (std::size_t i = 0; i < n; ++i) {
        const T x = z[i];
        dz[i] *= T(0.5) * (T(1) + std::erf(x * r)) + x * c * std::exp(T(-0.5) * x * x);
      }
      break;
    }
    default:  // identity: dz = dh
      break;
  }
}

template <typename T>
void activation_backward(Activation a, T* dz, const T* dh, const T* z, const T* h,
                         std::size_t n, double param) {
  // the throw stays outside the cloned loops (simd.hpp: a cloned function must not throw)
  if (!activation_info(a).differentiable)
    throw std::invalid_argument(std::string("activation '") + activation_info(a).name +
                                "' has zero derivative almost everywhere: no gradient can "
                                "pass through it");
  if (dz != dh) std::copy(dh, dh + n, dz);
  backward_in_place(a, dz, z, h, n, param);
}

#define MLPCORE_INSTANTIATE(T)                                                              \
  template T sigmoid<T>(T);                                                                 \
  template void activation_forward<T>(Activation, T*, const T*, std::size_t, double);       \
  template void activation_backward<T>(Activation, T*, const T*, const T*, const T*,        \
                                       std::size_t, double);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
