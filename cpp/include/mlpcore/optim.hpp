// Optimisers over blocks of the flat parameter and gradient vectors, with PyTorch's update
// rules. Twin: reference/optim.py. The effective gradient of a block is
//   g = grad + wd * params      (weight decay on dense weight matrices only; wd = weight_decay,
//                                 for adamw 0: its decay is decoupled, below)
//   sgd:     momentum == 0: params -= lr g
//            otherwise m = momentum m + g; params -= lr (nesterov ? g + momentum m : m)
//   adam:    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2   (step t = 1, 2, ...)
//            params -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
//            (sklearn_eps: eps is added to sqrt(v) before the bias correction, as scikit-learn's
//            AdamOptimizer does: params -= lr sqrt(1 - beta2^t) / (1 - beta1^t) m / (sqrt(v) +
//            eps))
//   adamw:   params *= 1 - lr weight_decay, then adam's update with g = grad
//   rmsprop: v = alpha v + (1 - alpha) g^2;  u = g / (sqrt(v) + eps)
//            momentum == 0: params -= lr u;  otherwise m = momentum m + u; params -= lr m
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace mlpcore {

struct Optimizer {
  enum class Kind { Sgd, Adam, AdamW, RmsProp };
  Kind kind = Kind::Sgd;
  double lr = 0.01, weight_decay = 0.0;
  double momentum = 0.0;                          // sgd, rmsprop
  bool nesterov = false;                          // sgd
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;  // adam, adamw (eps also rmsprop)
  double alpha = 0.99;                            // rmsprop's smoothing constant
  bool sklearn_eps = false;                       // adam: scikit-learn's eps placement
};

// Registry by name ("sgd", "adam", "adamw", "rmsprop"); unknown names throw
// std::invalid_argument listing the known ones.
Optimizer::Kind optimizer_from_name(const std::string& name);
// Throws std::invalid_argument for out-of-range settings.
void check_optimizer(const Optimizer& o);
// Whether the optimizer reads its moments (every one but plain SGD without momentum).
inline bool uses_moments(const Optimizer& o) {
  return !(o.kind == Optimizer::Kind::Sgd && o.momentum == 0);
}

// One step on a block of n parameters. m and v are the block's slots of the optimizer state
// (sgd uses m as the velocity; rmsprop v for the square average, m for momentum); t is the
// 1-based step number (adam's bias correction); wd the block's weight decay (0 where it does
// not apply).
template <typename T>
void optimizer_step(const Optimizer& o, T* params, const T* grads, T* m, T* v, double wd,
                    std::uint64_t t, std::size_t n);

}  // namespace mlpcore
