#include "mlpcore/optim.hpp"

#include <cmath>
#include <stdexcept>

#include "mlpcore/registry.hpp"
#include "mlpcore/simd.hpp"

namespace mlpcore {

namespace {
struct Entry {
  const char* name;
  Optimizer::Kind kind;
};
constexpr Entry REGISTRY[] = {{"sgd", Optimizer::Kind::Sgd},
                              {"adam", Optimizer::Kind::Adam},
                              {"adamw", Optimizer::Kind::AdamW},
                              {"rmsprop", Optimizer::Kind::RmsProp}};
}  // namespace

Optimizer::Kind optimizer_from_name(const std::string& name) {
  return entry_by_name(REGISTRY, name, "optimizer", "optimizers").kind;
}

// Cheap invariant checks for direct use of the engine; the user-facing messages are
// python/mlpcore/_checks.py's.
void check_optimizer(const Optimizer& o) {
  auto finite = [](double x) { return std::isfinite(x); };
  if (!(finite(o.lr) && o.lr > 0)) throw std::invalid_argument("lr must be finite and > 0");
  if (!(finite(o.weight_decay) && o.weight_decay >= 0))
    throw std::invalid_argument("weight_decay must be finite and >= 0");
  if (!(o.momentum >= 0 && o.momentum < 1))
    throw std::invalid_argument("momentum must lie in [0, 1)");
  if (o.nesterov && (o.momentum == 0 || o.kind != Optimizer::Kind::Sgd))
    throw std::invalid_argument("nesterov needs sgd with a momentum > 0");
  if (!(o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 && o.beta2 < 1))
    throw std::invalid_argument("betas must lie in [0, 1)");
  if (!(o.alpha >= 0 && o.alpha < 1)) throw std::invalid_argument("alpha must lie in [0, 1)");
  if (!(finite(o.eps) && o.eps > 0)) throw std::invalid_argument("eps must be finite and > 0");
}

template <typename T>
MLPCORE_SIMD_CLONES static void adam_update(const Optimizer& o, T* params, const T* grads, T* m,
                                            T* v, T wd, std::uint64_t t, std::size_t n) {
  const double td = static_cast<double>(t);
  const T step_size = T(o.lr / (1 - std::pow(o.beta1, td)));
  const T bc2_sqrt = T(std::sqrt(1 - std::pow(o.beta2, td)));
  const T b1 = T(o.beta1), b2 = T(o.beta2), c1 = T(1 - o.beta1), c2 = T(1 - o.beta2);
  // scikit-learn adds eps to sqrt(v) before the correction: the same as torch's rule with
  // eps / sqrt(1 - beta2^t)
  const T eps = T(o.sklearn_eps ? o.eps / std::sqrt(1 - std::pow(o.beta2, td)) : o.eps);
  for (std::size_t i = 0; i < n; ++i) {
    const T g = grads[i] + wd * params[i];
    m[i] = b1 * m[i] + c1 * g;
    v[i] = b2 * v[i] + c2 * (g * g);
    params[i] -= step_size * (m[i] / (std::sqrt(v[i]) / bc2_sqrt + eps));
  }
}

template <typename T>
MLPCORE_SIMD_CLONES void optimizer_step(const Optimizer& o, T* params, const T* grads, T* m, T* v,
                                        double wd_block, std::uint64_t t, std::size_t n) {
  const T lr = T(o.lr), wd = T(wd_block);
  switch (o.kind) {
    case Optimizer::Kind::Sgd: {
      if (o.momentum == 0) {
        for (std::size_t i = 0; i < n; ++i) params[i] -= lr * (grads[i] + wd * params[i]);
        return;
      }
      const T mu = T(o.momentum);
      for (std::size_t i = 0; i < n; ++i) {
        const T g = grads[i] + wd * params[i];
        m[i] = mu * m[i] + g;
        params[i] -= lr * (o.nesterov ? g + mu * m[i] : m[i]);
      }
      return;
    }
    case Optimizer::Kind::Adam:
      adam_update(o, params, grads, m, v, wd, t, n);
      return;
    case Optimizer::Kind::AdamW: {
      if (wd != T(0)) {
        const T keep = T(1 - o.lr * wd_block);
        for (std::size_t i = 0; i < n; ++i) params[i] *= keep;
      }
      adam_update(o, params, grads, m, v, T(0), t, n);
      return;
    }
    case Optimizer::Kind::RmsProp: {
      const T a = T(o.alpha), c = T(1 - o.alpha), eps = T(o.eps), mu = T(o.momentum);
      for (std::size_t i = 0; i < n; ++i) {
        const T g = grads[i] + wd * params[i];
        v[i] = a * v[i] + c * (g * g);
        const T u = g / (std::sqrt(v[i]) + eps);
        if (o.momentum == 0) {
          params[i] -= lr * u;
        } else {
          m[i] = mu * m[i] + u;
          params[i] -= lr * m[i];
        }
      }
      return;
    }
  }
}

template void optimizer_step<float>(const Optimizer&, float*, const float*, float*, float*, double,
                                    std::uint64_t, std::size_t);
template void optimizer_step<double>(const Optimizer&, double*, const double*, double*, double*,
                                     double, std::uint64_t, std::size_t);

}  // namespace mlpcore
