#include "mlpcore/train.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

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
EpochResult train_epoch(Network<T>& net, const T* X, const T* Y, std::int64_t n, int batch_size,
                        const Optimizer& opt, std::uint64_t opt_step, std::uint64_t epoch,
                        std::uint64_t step, bool shuffle) {
  const auto guard = net.lock();
  net.check_trainable();  // before anything moves: a failed call changes nothing
  check_optimizer(opt);
  if (batch_size < 1) throw std::invalid_argument("batch_size must be >= 1");
  if (net.needs_batch_statistics() && n < 2)
    throw std::invalid_argument("a network with batch statistics needs at least 2 samples");
  const std::size_t I = std::size_t(net.n_inputs()), K = std::size_t(net.n_outputs());
  const auto bounds = batch_bounds(n, batch_size, net.needs_batch_statistics());
  std::int64_t max_rows = 0;
  for (const auto& b : bounds) max_rows = std::max(max_rows, b.second - b.first);

  // Everything the steps need is allocated here, before the first step.
  std::vector<std::int64_t> order(n);  // (n,) sample order of this epoch
  if (shuffle) {
    std::vector<std::uint64_t> keys(n);
    rng::permutation(order.data(), keys.data(), net.seed(), epoch, n);
  } else {
    for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  }
  Workspace<T>& ws = net.train_workspace(int(max_rows));

  EpochResult result;
  double total = 0;
  for (const auto& [start, end] : bounds) {
    const int B = int(end - start);
    for (int r = 0; r < B; ++r) {  // gather the batch's rows
      const std::size_t src = std::size_t(order[start + r]);
      std::memcpy(ws.x + std::size_t(r) * I, X + src * I, sizeof(T) * I);
      std::memcpy(ws.y + std::size_t(r) * K, Y + src * K, sizeof(T) * K);
    }
    total += net.train_step(ws, B, opt, ++opt_step, step++) * B;
    ++result.steps;
  }
  result.loss = total / double(n);
  return result;
}

template EpochResult train_epoch<float>(Network<float>&, const float*, const float*,
                                        std::int64_t, int, const Optimizer&, std::uint64_t,
                                        std::uint64_t, std::uint64_t, bool);
template EpochResult train_epoch<double>(Network<double>&, const double*, const double*,
                                         std::int64_t, int, const Optimizer&, std::uint64_t,
                                         std::uint64_t, std::uint64_t, bool);

}  // namespace mlpcore
