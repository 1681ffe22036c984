// Elementwise activations and their derivatives. Twin: reference/activations.py.
// Backward passes read the forward output h: sigmoid' = h(1-h), tanh' = 1-h^2,
// relu' = [h > 0], identity' = 1. Step and sign have no backward pass (zero derivative a.e.).
#pragma once
#include <cstddef>
#include <string>

namespace mlpcore {

enum class Activation { Identity, Step, Sign, Sigmoid, Tanh, Relu };

// Registry by name; an unknown name throws std::invalid_argument listing the known ones.
Activation activation_from_name(const std::string& name);
const char* activation_name(Activation a);
bool activation_differentiable(Activation a);

// h = f(z); z and h are (n,) (any shape, flattened); h may alias z.
template <typename T>
void activation_forward(Activation a, T* h, const T* z, std::size_t n);

// dz = dh * f'(z) computed from h; all (n,); dz may alias dh. Throws for step and sign.
template <typename T>
void activation_backward(Activation a, T* dz, const T* dh, const T* h, std::size_t n);

// The numerically stable logistic function, shared with the binary cross-entropy.
template <typename T>
T sigmoid(T z);

}  // namespace mlpcore
