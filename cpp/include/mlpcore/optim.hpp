// Optimisers over the flat parameter and gradient vectors.
#pragma once
#include <cstddef>

namespace mlpcore {

// Plain stochastic gradient descent: params (n,) -= lr * grads (n,).
template <typename T>
void sgd_step(T* params, const T* grads, T lr, std::size_t n);

}  // namespace mlpcore
