#include "mlpcore/optim.hpp"

namespace mlpcore {

template <typename T>
void sgd_step(T* params, const T* grads, T lr, T weight_decay, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) params[i] -= lr * (grads[i] + weight_decay * params[i]);
}

template void sgd_step<float>(float*, const float*, float, float, std::size_t);
template void sgd_step<double>(double*, const double*, double, double, std::size_t);

}  // namespace mlpcore
