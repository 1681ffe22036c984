// Optimisers over blocks of the flat parameter and gradient vectors, with PyTorch's update
// rules. Twin: reference/optim.py. The effective gradient of a block is
//   g = grad + weight_decay * params      (weight decay on dense weight matrices only)
//   sgd:  momentum == 0: params -= lr g
//         otherwise v = momentum v + g; params -= lr (nesterov ? g + momentum v : v)
//   adam: m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2   (step t = 1, 2, ...)
//         params -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mlpcore {

struct Optimizer {
  enum class Kind { Sgd, Adam };
  Kind kind = Kind::Sgd;
  double lr = 0.01, weight_decay = 0.0;
  double momentum = 0.0;  // sgd
  bool nesterov = false;  // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam
};

// Registry by name ("sgd", "adam"); unknown names throw std::invalid_argument.
Optimizer::Kind optimizer_from_name(const std::string& name);
// Throws std::invalid_argument for out-of-range settings.
void check_optimizer(const Optimizer& o);

// One step on a block of n parameters. m and v are the block's slots of the optimizer state
// (sgd uses m as the velocity); t is the 1-based step number (adam's bias correction).
template <typename T>
void optimizer_step(const Optimizer& o, T* params, const T* grads, T* m, T* v, bool decays,
                    std::uint64_t t, std::size_t n);

}  // namespace mlpcore
