// Elementwise activations and their derivatives. Twin: reference/activations.py.
// Forward h = f(z, param); backward dz = dh * f'(z) from the input z and the output h:
//   identity' = 1, sigmoid' = h(1-h), tanh' = 1-h^2, relu' = [z > 0],
//   leaky_relu' = z > 0 ? 1 : slope (param = negative_slope), gelu' = Phi(z) + z phi(z),
//   silu' = s (1 + z (1 - s)) with s = sigmoid(z), elu' = z > 0 ? 1 : alpha exp(z)
//   (param = alpha), softplus' = z > 20 ? 1 : sigmoid(z) (torch's beta = 1, threshold = 20).
// Step and sign have no backward pass (zero derivative almost everywhere).
#pragma once
#include <cstddef>
#include <string>

namespace mlpcore {

// Count is the number of activations, not one of them: the registry (activations.cpp) has one
// entry per value, in this order (a static_assert checks it), and the switches over
// Activation have no default, so -Werror=switch (CMakeLists.txt) names a forgotten case.
enum class Activation {
  Identity,
  Step,
  Sign,
  Sigmoid,
  Tanh,
  Relu,
  LeakyRelu,
  Gelu,
  Silu,
  Elu,
  Softplus,
  Count
};

// One entry per activation: the registry behind the names (activations.cpp).
struct ActivationInfo {
  const char* name;
  Activation kind;
  bool differentiable;
  int n_args;            // 1 for leaky_relu (negative_slope) and elu (alpha), else 0
  const char* arg_name;  // the name of that argument, or nullptr
};

// The entry called `name`; an unknown name throws std::invalid_argument listing the known ones.
const ActivationInfo& activation_info(const std::string& name);
const ActivationInfo& activation_info(Activation a);
// Comma-separated names of every activation (for error messages that list layer kinds).
std::string activation_names();

// h = f(z); z and h are (n,) (any shape, flattened); h may alias z.
template <typename T>
void activation_forward(Activation a, T* h, const T* z, std::size_t n, double param);

// dz = dh * f'(z), from z (n,) and h (n,); dz may alias dh (never z or h). Throws for step
// and sign.
template <typename T>
void activation_backward(Activation a, T* dz, const T* dh, const T* z, const T* h, std::size_t n,
                         double param);

// The numerically stable logistic function, shared with the binary cross-entropy.
template <typename T>
T sigmoid(T z);

}  // namespace mlpcore
