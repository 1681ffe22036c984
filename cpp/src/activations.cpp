#include "mlpcore/activations.hpp"

#include <algorithm>
#include <cmath>
#include <iterator>
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
    {"silu", Activation::Silu, true, 0, nullptr},
    {"elu", Activation::Elu, true, 1, "alpha"},
    {"softplus", Activation::Softplus, true, 0, nullptr},
};

// One entry per Activation value, at the index of its value: adding a value without its entry
// (or out of order) does not compile.
constexpr bool registry_in_enum_order() {
  for (std::size_t i = 0; i < std::size(REGISTRY); ++i)
    if (REGISTRY[i].kind != Activation(i)) return false;
  return true;
}
static_assert(std::size(REGISTRY) == std::size_t(Activation::Count),
              "the activation registry needs one entry per Activation value");
static_assert(registry_in_enum_order(), "the activation registry is in Activation's order");

// Softplus switches to the identity above this z (torch.nn.Softplus's threshold with beta = 1):
// there log1p(exp(z)) and z agree to float64 precision (the difference is exp(-z) < 2.1e-9).
constexpr double SOFTPLUS_THRESHOLD = 20.0;
}  // namespace

const ActivationInfo& activation_info(const std::string& name) {
  return entry_by_name(REGISTRY, name, "activation", "activations");
}
const ActivationInfo& activation_info(Activation a) {
  return entry_by_kind(REGISTRY, a);
}

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
MLPCORE_SIMD_CLONES void activation_forward(Activation a, T* h, const T* z, std::size_t n,
                                            double param) {
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
    case Activation::Silu:  // z sigmoid(z)
      for (std::size_t i = 0; i < n; ++i) h[i] = z[i] * sigmoid(z[i]);
      break;
    case Activation::Elu: {  // z > 0 ? z : alpha (exp(z) - 1), expm1 for accuracy near 0
      const T alpha = T(param);
      for (std::size_t i = 0; i < n; ++i) h[i] = z[i] > 0 ? z[i] : alpha * std::expm1(z[i]);
      break;
    }
    case Activation::Softplus: {  // log(1 + exp(z)); z above the threshold: z
      const T t = T(SOFTPLUS_THRESHOLD);
      for (std::size_t i = 0; i < n; ++i)
        h[i] = z[i] > t ? z[i] : std::log1p(std::exp(z[i] > t ? t : z[i]));
      break;
    }
    case Activation::Count:  // not an activation
      break;
  }
}

// Backprop runs in place: dz (n,) *= f'(z). The loops read and write one delta pointer and
// read z and h, which never alias it (they are layer outputs): so they vectorise.
template <typename T>
MLPCORE_SIMD_CLONES static void backward_in_place(Activation a, T* dz, const T* __restrict z,
                                                  const T* __restrict h, std::size_t n,
                                                  double param) {
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
    case Activation::Gelu: {                                                 // Phi(z) + z phi(z)
      const T r = T(0.70710678118654752440), c = T(0.39894228040143267794);  // 1/sqrt(2 pi)
      for (std::size_t i = 0; i < n; ++i) {
        const T x = z[i];
        dz[i] *= T(0.5) * (T(1) + std::erf(x * r)) + x * c * std::exp(T(-0.5) * x * x);
      }
      break;
    }
    case Activation::Silu:  // s (1 + z (1 - s)), s = sigmoid(z)
      for (std::size_t i = 0; i < n; ++i) {
        const T s = sigmoid(z[i]);
        dz[i] *= s * (T(1) + z[i] * (T(1) - s));
      }
      break;
    case Activation::Elu: {  // z > 0 ? 1 : alpha exp(z) (torch's form, also at z = 0)
      const T alpha = T(param);
      for (std::size_t i = 0; i < n; ++i)
        dz[i] = z[i] > 0 ? dz[i] : dz[i] * (alpha * std::exp(z[i] > 0 ? T(0) : z[i]));
      break;
    }
    case Activation::Softplus: {  // sigmoid(z) = e / (e + 1), e = exp(z); 1 above the threshold
      const T t = T(SOFTPLUS_THRESHOLD);
      for (std::size_t i = 0; i < n; ++i) {
        const T e = std::exp(z[i] > t ? t : z[i]);
        dz[i] = z[i] > t ? dz[i] : dz[i] * (e / (e + T(1)));
      }
      break;
    }
    case Activation::Identity:  // dz = dh
      break;
    case Activation::Step:  // no derivative: activation_backward throws before the switch
    case Activation::Sign:
    case Activation::Count:
      break;
  }
}

template <typename T>
void activation_backward(Activation a, T* dz, const T* dh, const T* z, const T* h, std::size_t n,
                         double param) {
  // the throw stays outside the cloned loops (simd.hpp: a cloned function must not throw)
  if (!activation_info(a).differentiable)
    throw std::invalid_argument(std::string("activation '") + activation_info(a).name +
                                "' has zero derivative almost everywhere: no gradient can "
                                "pass through it");
  if (dz != dh) std::copy(dh, dh + n, dz);
  backward_in_place(a, dz, z, h, n, param);
}

#define MLPCORE_INSTANTIATE(T)                                                                    \
  template T sigmoid<T>(T);                                                                       \
  template void activation_forward<T>(Activation, T*, const T*, std::size_t, double);             \
  template void activation_backward<T>(Activation, T*, const T*, const T*, const T*, std::size_t, \
                                       double);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
