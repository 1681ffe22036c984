// One epoch of minibatch SGD, entirely in C++: the client of Network's training step.
// Twin: reference/train.py.
//   order = rng::permutation(seed, epoch, n) if shuffle else 0..n-1
//   for each batch [start, end) of batch_bounds(n, batch_size, needs_batch_statistics):
//     gather rows order[start:end] into the training workspace (ws.x, ws.y);
//     Network::train_step(optimizer step opt_step + 1, + 2, ...; dropout step step, + 1, ...)
#pragma once
#include <cstdint>
#include <utility>
#include <vector>

#include "mlpcore/network.hpp"
#include "mlpcore/optim.hpp"

namespace mlpcore {

// Batch boundaries [(start, end)] covering 0..n; the last batch may be smaller. With
// fold_single, a trailing one-sample batch joins the one before (batch norm needs >= 2).
std::vector<std::pair<std::int64_t, std::int64_t>> batch_bounds(std::int64_t n, int batch_size,
                                                                 bool fold_single);

struct EpochResult {
  double loss = 0;        // sample-weighted mean of the batch losses
  std::int64_t steps = 0;  // optimizer steps taken
};

// X is (n, n_in), Y is (n, K). Takes the network's lock for the whole epoch; checks
// trainability and the optimizer before anything moves.
template <typename T>
EpochResult train_epoch(Network<T>& net, const T* X, const T* Y, std::int64_t n, int batch_size,
                        const Optimizer& opt, std::uint64_t opt_step, std::uint64_t epoch,
                        std::uint64_t step, bool shuffle);

}  // namespace mlpcore
