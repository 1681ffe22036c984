// Optimisers over the flat parameter and gradient vectors.
#pragma once
#include <cstddef>

namespace mlpcore {

// Stochastic gradient descent with (L2) weight decay on one block of parameters:
// params (n,) -= lr * (grads (n,) + weight_decay * params). weight_decay = 0 is plain SGD.
template <typename T>
void sgd_step(T* params, const T* grads, T lr, T weight_decay, std::size_t n);

}  // namespace mlpcore
