// A feed-forward network: the layer list, one flat buffer per kind of data (parameters,
// gradients, batch-norm state; activations, caches and deltas in a Workspace) with offsets
// computed once, and the forward/backward passes over it. Twin: reference/network.py.
#pragma once
#include <cstdint>
#include <mutex>
#include <utility>
#include <vector>

#include "mlpcore/activations.hpp"
#include "mlpcore/losses.hpp"
#include "mlpcore/optim.hpp"

namespace mlpcore {

// A contiguous run of parameters (one array of get_weights()) and whether weight decay
// applies to it (dense weight matrices only, not biases or batch-norm gamma/beta).
struct ParamBlock {
  std::size_t offset = 0, size = 0;
  bool decays = false;
};

struct LayerSpec {
  enum class Kind { Dense, Activation, BatchNorm, Dropout };
  Kind kind = Kind::Activation;
  Activation act = Activation::Identity;  // Activation layers
  int n_in = 0, n_out = 0;                // Dense (I, O); BatchNorm (F, F); others 0
  double momentum = 0.1, eps = 1e-5;      // BatchNorm
  double p = 0.0;                         // Dropout
};

// Buffers for one pass over `rows` samples. Sizes come from Network::reserve.
template <typename T>
struct Workspace {
  int rows = 0;
  std::vector<T> act;     // layer i's output (rows, width[i]) at rows * act_col[i]
  std::vector<T> cache;   // layer i: batch norm xhat (rows, F) + inv_std (F); dropout mask (rows, F)
  std::vector<T> delta;   // two (rows, max_width) buffers for backward
  std::vector<T> io;      // gathered x (rows, n_in), gathered y (rows, K), output h (rows, K)
  std::vector<char> masked;  // per layer: did the last forward draw a dropout mask
  std::vector<T> scratch;    // (2 * max_width,) per-feature sums of batch-norm backward
};

template <typename T>
class Network {
 public:
  // Validates the layer list (widths chain, ranges); throws std::invalid_argument.
  Network(std::vector<LayerSpec> layers, Loss loss, std::uint64_t seed);

  int n_inputs() const { return n_in_; }
  int n_outputs() const { return n_out_; }
  std::size_t n_params() const { return params_.size(); }
  const std::vector<LayerSpec>& layers() const { return layers_; }
  Loss loss_kind() const { return loss_; }

  // Every public call below takes the network's lock: calls from several Python threads
  // (the GIL is released around compute) run one at a time.
  // The flat buffers the Python side reads and writes whole:
  //   Params:         [W1, b1, ..., gamma, beta, ...]                     (n_params,)
  //   State:          [running_mean, running_var] per batch-norm layer
  //   OptimizerState: moments [m (n_params,), v (n_params,)]; sgd keeps its velocity in m
  // Copies in and out; sizes are checked by the caller against size(b).
  enum class Buffer { Params, State, OptimizerState };
  std::size_t size(Buffer b) const { return buffer(b).size(); }
  void read(Buffer b, T* out) const;
  void write(Buffer b, const T* in);

  // x is (B, n_in); h is (B, K): output activations.
  void predict(T* h, const T* x, int B, bool training, std::uint64_t step);
  // x is (B, n_in), y is (B, K); the mean loss.
  double loss(const T* x, const T* y, int B, bool training, std::uint64_t step);
  // The mean loss, and its gradient in grad (n_params,). Updates nothing.
  double gradients(T* grad, const T* x, const T* y, int B, bool training, std::uint64_t step);
  // One epoch of minibatch SGD over X (n, n_in), Y (n, K) (see train.hpp);
  // returns the sample-weighted mean batch loss and the number of steps taken.
  // opt_step: optimizer steps taken so far (adam's bias correction).
  std::pair<double, std::int64_t> train_epoch(const T* X, const T* Y, std::int64_t n,
                                              int batch_size, const Optimizer& opt,
                                              std::uint64_t opt_step, std::uint64_t epoch,
                                              std::uint64_t step, bool shuffle);

  // Throws std::invalid_argument if a step/sign layer stands above a layer with parameters.
  void check_differentiable() const;

  // ---- the passes (used by the calls above and by train_epoch, under the lock) ----------
  // Sizes ws for `rows` samples; allocates only when it grows.
  void reserve(Workspace<T>& ws, int rows) const;
  // Runs every layer on x (B, n_in); returns the last net input z (B, K) inside ws.
  // With update_running, batch-norm layers move their running statistics.
  const T* forward(Workspace<T>& ws, const T* x, int B, bool training, std::uint64_t step,
                   bool update_running);
  // Backpropagates dz (B, K) (in ws.delta's first half); grad (n_params,) is zeroed, then
  // accumulated. x is the (B, n_in) input given to forward.
  void backward(T* grad, Workspace<T>& ws, const T* x, int B, bool training);
  bool has_batchnorm() const { return has_batchnorm_; }
  const std::vector<ParamBlock>& param_blocks() const { return blocks_; }
  std::vector<T>& params() { return params_; }
  std::vector<T>& grads() { return grads_; }
  std::vector<T>& state() { return state_; }
  std::vector<T>& optimizer_state() { return opt_state_; }
  Workspace<T>& train_workspace() { return train_ws_; }
  std::uint64_t seed() const { return seed_; }

 private:
  const std::vector<T>& buffer(Buffer b) const {
    return b == Buffer::Params ? params_ : b == Buffer::State ? state_ : opt_state_;
  }
  std::vector<T>& buffer(Buffer b) {
    return b == Buffer::Params ? params_ : b == Buffer::State ? state_ : opt_state_;
  }
  T* layer_output(Workspace<T>& ws, std::size_t i) const {
    return ws.act.data() + ws.rows * act_col_[i];
  }
  T* layer_cache(Workspace<T>& ws, std::size_t i) const {
    return ws.cache.data() + ws.rows * cache_col_[i] + cache_fixed_[i];
  }

  std::vector<LayerSpec> layers_;
  Loss loss_;
  std::uint64_t seed_;
  int n_in_ = 0, n_out_ = 0, max_width_ = 0;
  int first_param_ = -1;               // index of the first layer with parameters
  int blocked_ = -1;                   // a step/sign layer above first_param_, or -1
  bool has_batchnorm_ = false;
  std::vector<int> width_;             // output width of each layer
  std::vector<ParamBlock> blocks_;      // [W1, b1, ..., gamma, beta, ...] as in get_weights()
  std::vector<std::size_t> param_off_, state_off_;      // per layer, into params_ / state_
  std::vector<std::size_t> act_col_, cache_col_, cache_fixed_;  // per layer: offsets per row / fixed
  std::size_t act_cols_ = 0, cache_cols_ = 0, cache_fixed_total_ = 0;  // totals

  std::vector<T> params_;  // (n_params,)
  std::vector<T> grads_;   // (n_params,)
  std::vector<T> state_;   // (n_state,)
  std::vector<T> opt_state_;  // (2 * n_params,): optimizer moments m, v
  Workspace<T> train_ws_;
  mutable std::mutex mutex_;  // one call at a time: the GIL is released around compute
};

}  // namespace mlpcore
