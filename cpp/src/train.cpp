#include "mlpcore/train.hpp"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <stdexcept>
#include <string>

#include "mlpcore/rng.hpp"

namespace mlpcore {

std::vector<std::pair<std::int64_t, std::int64_t>> batch_bounds(std::int64_t n, int batch_size,
                                                                bool fold_single) {
  const std::int64_t b = std::max<std::int64_t>(1, std::min<std::int64_t>(batch_size, n));
  std::vector<std::pair<std::int64_t, std::int64_t>> bounds;
  for (std::int64_t s = 0; s < n; s += b) bounds.emplace_back(s, std::min(s + b, n));
  if (fold_single && bounds.size() > 1 && bounds.back().second - bounds.back().first == 1) {
    bounds.pop_back();
    bounds.back().second = n;
  }
  return bounds;
}

template <typename T>
void Rows<T>::gather(std::int64_t r, T* dst, std::size_t n_in) const {
  if (dense) {
    std::memcpy(dst, dense + std::size_t(r) * n_in, sizeof(T) * n_in);
    return;
  }
  if (dense_f64) {
    const double* src = dense_f64 + std::size_t(r) * n_in;
    for (std::size_t j = 0; j < n_in; ++j) dst[j] = T(src[j]);
    return;
  }
  std::fill_n(dst, n_in, T(0));
  for (std::int64_t k = indptr[r]; k < indptr[r + 1]; ++k) dst[indices[k]] = data[k];
}

template <typename T>
void Rows<T>::prefetch(std::int64_t r, std::size_t n_in) const {
  const char* p = dense       ? reinterpret_cast<const char*>(dense + std::size_t(r) * n_in)
                  : dense_f64 ? reinterpret_cast<const char*>(dense_f64 + std::size_t(r) * n_in)
                              : nullptr;
  if (!p) return;
  const std::size_t bytes = n_in * (dense ? sizeof(T) : sizeof(double));
  for (std::size_t b = 0; b < bytes; b += 64) __builtin_prefetch(p + b);
}

template <typename T>
EpochResult train_epoch(Network<T>& net, const Rows<T>& X, const T* Y, const T* w, std::int64_t n,
                        const EpochOptions& o) {
  const auto guard = net.lock();
  net.check_trainable();  // before anything moves: a failed call changes nothing
  check_optimizer(o.settings.opt);
  if (o.batch_size < 1) throw std::invalid_argument("batch_size must be >= 1");
  if (net.needs_batch_statistics() && n < 2)
    throw std::invalid_argument("a network with batch statistics needs at least 2 samples");
  const std::size_t I = std::size_t(net.n_inputs()), K = std::size_t(net.n_outputs());
  const auto bounds = batch_bounds(n, o.batch_size, net.needs_batch_statistics());
  if (!o.lrs.empty() && o.lrs.size() != bounds.size())
    throw std::invalid_argument(
        "lrs must hold one learning rate per step: " + std::to_string(bounds.size()) + ", got " +
        std::to_string(o.lrs.size()));
  for (double lr : o.lrs)
    if (!(lr > 0 && lr < 1e300))
      throw std::invalid_argument("learning rates must be finite and > 0");
  std::int64_t max_rows = 0;
  for (const auto& b : bounds) max_rows = std::max(max_rows, b.second - b.first);

  // Everything the steps need is allocated here, before the first step.
  std::vector<std::int64_t> order(n);  // (n,) sample order of this epoch
  if (!o.order.empty()) {
    if (std::int64_t(o.order.size()) != n)
      throw std::invalid_argument("order must hold n = " + std::to_string(n) + " indices");
    for (std::int64_t i : o.order)
      if (i < 0 || i >= n) throw std::invalid_argument("order holds an index outside [0, n)");
    order = o.order;
  } else if (o.shuffle) {
    std::vector<std::uint64_t> keys(n);
    rng::permutation(order.data(), keys.data(), net.seed(), o.epoch, n);
  } else {
    for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  }
  Workspace<T>& ws = net.train_workspace(int(max_rows), uses_moments(o.settings.opt));
  EpochResult result;
  if (o.step_losses) result.step_losses.reserve(bounds.size());
  std::vector<double> norms(o.grad_norms ? net.n_param_layers() : 0, 0.0);
  StepSettings settings = o.settings;
  settings.grad_norms = o.grad_norms ? norms.data() : nullptr;

  using Clock = std::chrono::steady_clock;
  auto next_poll = Clock::now() + std::chrono::milliseconds(50);
  double total = 0, weights = 0;
  std::uint64_t opt_step = o.opt_step, step = o.step;
  for (std::size_t k = 0; k < bounds.size(); ++k) {
    const auto [start, end] = bounds[k];
    const int B = int(end - start);
    for (int r = 0; r < B; ++r) {  // gather the batch's rows
      const std::size_t src = std::size_t(order[start + r]);
      X.gather(std::int64_t(src), ws.x + std::size_t(r) * I, I);
      std::memcpy(ws.y + std::size_t(r) * K, Y + src * K, sizeof(T) * K);
      if (w) ws.w[r] = w[src];
    }
    if (k + 1 < bounds.size())  // the next batch's rows (random rows of X) load during this step
      for (std::int64_t i = bounds[k + 1].first; i < bounds[k + 1].second; ++i) {
        X.prefetch(order[i], I);
        __builtin_prefetch(Y + std::size_t(order[i]) * K);
      }
    if (!o.lrs.empty()) settings.opt.lr = o.lrs[k];
    const double value = net.train_step(ws, B, w != nullptr, settings, ++opt_step, step++);
    const double wsum = weight_sum(w ? ws.w : static_cast<const T*>(nullptr), B);
    total += value * wsum;
    weights += wsum;
    ++result.steps;
    if (o.step_losses) result.step_losses.push_back(value);
    if (o.running_loss) o.running_loss->store(total / weights, std::memory_order_relaxed);
    if (o.progress) o.progress->store(end, std::memory_order_release);
    if (o.interrupted && k + 1 < bounds.size() && Clock::now() >= next_poll) {
      next_poll = Clock::now() + std::chrono::milliseconds(50);
      if (o.interrupted()) {
        result.interrupted = true;
        break;
      }
    }
  }
  result.loss = total / weights;
  for (double& v : norms) v /= double(std::max<std::int64_t>(result.steps, 1));
  result.grad_norms = std::move(norms);
  return result;
}

#define MLPCORE_INSTANTIATE(T)                                                         \
  template struct Rows<T>;                                                             \
  template EpochResult train_epoch<T>(Network<T>&, const Rows<T>&, const T*, const T*, \
                                      std::int64_t, const EpochOptions&);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
