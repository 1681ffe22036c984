// One epoch of minibatch training, entirely in C++: the client of Network's training step.
// Twin: reference/train.py.
//   order = the given order, or rng::permutation(seed, epoch, n) if shuffle, else 0..n-1
//   for each batch [start, end) of batch_bounds(n, batch_size, needs_batch_statistics):
//     gather rows order[start:end] (inputs, targets, sample weights) into the training
//     workspace; Network::train_step with learning rate lrs[k] of step k (or opt.lr),
//     optimizer step opt_step + 1, + 2, ... and dropout step step, step + 1, ...
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <utility>
#include <vector>

#include "mlpcore/network.hpp"
#include "mlpcore/optim.hpp"

namespace mlpcore {

// Batch boundaries [(start, end)] covering 0..n; the last batch may be smaller. With
// fold_single, a trailing one-sample batch joins the one before (batch norm needs >= 2).
std::vector<std::pair<std::int64_t, std::int64_t>> batch_bounds(std::int64_t n, int batch_size,
                                                                bool fold_single);

// Where the input rows come from: a dense (n, n_in) row-major matrix (of T, or of float64
// converted row by row), or a CSR matrix whose rows are scattered into the dense batch buffer:
// no copy of the whole matrix in either case.
template <typename T>
struct Rows {
  const T* dense = nullptr;               // (n, n_in)
  const double* dense_f64 = nullptr;      // (n, n_in) float64 rows for a float32 network,
                                          // converted per batch (no float32 copy of X)
  const T* data = nullptr;                // CSR: (nnz,) values
  const std::int64_t* indices = nullptr;  // CSR: (nnz,) column of each value
  const std::int64_t* indptr = nullptr;   // CSR: (n + 1,) row r is [indptr[r], indptr[r+1])
  // dst (n_in,) = row r
  void gather(std::int64_t r, T* dst, std::size_t n_in) const;
  // Asks the CPU to fetch dense row r into cache ahead of its gather (no effect on results).
  void prefetch(std::int64_t r, std::size_t n_in) const;
};

struct EpochOptions {
  int batch_size = 32;
  bool shuffle = true;
  std::vector<std::int64_t> order;  // (n,) a given sample order (overrides shuffle), or empty
  std::uint64_t epoch = 0;          // keys the shuffle
  std::uint64_t step = 0;           // training steps so far: keys the dropout masks
  std::uint64_t opt_step = 0;       // steps of the optimizer so far (adam's bias correction)
  StepSettings settings;            // optimizer (its lr when lrs is empty), alpha, clipping
  std::vector<double> lrs;          // (n_steps,) per-step learning rates, or empty
  bool grad_norms = false;          // measure each parameter layer's mean gradient norm
  bool step_losses = false;         // keep every step's loss
  std::atomic<std::int64_t>* progress = nullptr;  // samples done this epoch, for progress bars
  std::atomic<double>* running_loss = nullptr;    // the epoch's mean loss over the steps done
  std::function<bool()> interrupted;  // polled between steps, at most every 50 ms; true stops
};

struct EpochResult {
  double loss = 0;                  // sample-weighted mean of the batch losses (weights summed)
  std::int64_t steps = 0;           // optimizer steps taken
  bool interrupted = false;         // stopped early by EpochOptions::interrupted
  std::vector<double> step_losses;  // (steps,) when asked
  std::vector<double> grad_norms;   // (n_param_layers,) mean over the steps, when asked
};

// X rows (n, n_in), Y (n, K), w (n,) sample weights or null. Takes the network's lock for the
// whole epoch; checks trainability and the options before anything moves.
template <typename T>
EpochResult train_epoch(Network<T>& net, const Rows<T>& X, const T* Y, const T* w, std::int64_t n,
                        const EpochOptions& o);

}  // namespace mlpcore
