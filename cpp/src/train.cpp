#include "mlpcore/train.hpp"

#include <algorithm>
#include <cstring>

#include "mlpcore/losses.hpp"
#include "mlpcore/optim.hpp"
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
std::pair<double, std::int64_t> train_epoch(Network<T>& net, const T* X, const T* Y,
                                            std::int64_t n, int batch_size, const Optimizer& opt,
                                            std::uint64_t opt_step, std::uint64_t epoch,
                                            std::uint64_t step, bool shuffle) {
  const int I = net.n_inputs(), K = net.n_outputs();
  const auto bounds = batch_bounds(n, batch_size, net.has_batchnorm());
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
  Workspace<T>& ws = net.train_workspace();
  net.reserve(ws, static_cast<int>(max_rows));
  T* xb = ws.io.data();                      // (rows, I) gathered inputs
  T* yb = xb + size_t(ws.rows) * I;          // (rows, K) gathered targets
  T* h = yb + size_t(ws.rows) * K;           // (rows, K) output activations
  T* params = net.params().data();
  T* grads = net.grads().data();
  T* m = net.optimizer_state().data();             // (n_params,) first moment / velocity
  T* v = m + net.params().size();                   // (n_params,) second moment
  const auto& blocks = net.param_blocks();

  double total = 0;
  for (const auto& [start, end] : bounds) {
    const int B = static_cast<int>(end - start);
    for (int r = 0; r < B; ++r) {  // gather the batch's rows
      const std::int64_t src = order[start + r];
      std::memcpy(xb + size_t(r) * I, X + size_t(src) * I, sizeof(T) * I);
      std::memcpy(yb + size_t(r) * K, Y + size_t(src) * K, sizeof(T) * K);
    }
    const T* z = net.forward(ws, xb, B, true, step, true);
    total += loss_forward(net.loss_kind(), h, z, yb, B, K) * B;
    loss_backward(ws.delta.data(), h, yb, B, K);
    net.backward(grads, ws, xb, B, true);
    ++opt_step;
    for (const ParamBlock& b : blocks)  // weight decay on dense weights only
      optimizer_step(opt, params + b.offset, grads + b.offset, m + b.offset, v + b.offset,
                     b.decays, opt_step, b.size);
    ++step;
  }
  return {total / double(n), static_cast<std::int64_t>(bounds.size())};
}

template std::pair<double, std::int64_t> train_epoch<float>(Network<float>&, const float*,
                                                            const float*, std::int64_t, int,
                                                            const Optimizer&, std::uint64_t,
                                                            std::uint64_t, std::uint64_t, bool);
template std::pair<double, std::int64_t> train_epoch<double>(Network<double>&, const double*,
                                                             const double*, std::int64_t, int,
                                                             const Optimizer&, std::uint64_t,
                                                             std::uint64_t, std::uint64_t, bool);

}  // namespace mlpcore
