// A feed-forward network: the layer list, one flat buffer per kind of data (parameters,
// gradients, optimizer moments, batch-norm state) and the passes over them. Every buffer is
// reached through named views (LayerSlot, Workspace) that layout() fills once; the layers'
// maths is in the kind table (layer_kinds.hpp). Twin: reference/network.py.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include "mlpcore/fork_safe.hpp"
#include "mlpcore/layer_kinds.hpp"
#include "mlpcore/losses.hpp"
#include "mlpcore/memory.hpp"
#include "mlpcore/optim.hpp"

namespace mlpcore {

// A contiguous run of parameters (one array of get_weights()) and whether weight decay
// applies to it (dense weight matrices only, not biases or batch-norm gamma/beta).
struct ParamBlock {
  std::size_t offset = 0, size = 0;
  bool decays = false;
  bool sgd_in_backward = false;  // its layer can apply plain SGD during backward
};

// Buffers for one pass over at most `rows` samples, in one allocation; filled by layout().
template <typename T>
struct Workspace {
  int rows = 0;                      // capacity in samples
  AlignedVector<T> buf;              // backs every view below
  std::vector<LayerSlot<T>> layers;  // per layer: parameters, gradients, output, cache
  T* x = nullptr;                    // (rows, n_in) gathered inputs of a training batch
  T* y = nullptr;                    // (rows, K) gathered targets
  T* h = nullptr;                    // (rows, K) output activations
  T* w = nullptr;                    // (rows,) gathered sample weights of a training batch
  T* delta[2] = {nullptr, nullptr};  // (rows, max_width) each: backward's ping-pong deltas
  T* scratch = nullptr;              // (2 * max_width,) per-feature sums of batch-norm backward
                                     // and of the fused SGD step's bias gradient
};

// Everything about one training step besides the batch.
struct StepSettings {
  Optimizer opt;                 // opt.lr is this step's learning rate
  double l2_alpha = 0;           // scikit-learn's alpha: the decay of dense weights grows by
                                 // l2_alpha / (the batch's sample-weight sum)
  double clip_value = 0;         // > 0: clamp every gradient element to [-clip_value, clip_value]
  double clip_norm = 0;          // > 0: then scale the gradient to global L2 norm <= clip_norm
                                 // (torch.nn.utils.clip_grad_norm_: factor clip_norm/(norm+1e-6))
  double* grad_norms = nullptr;  // (n_param_layers,) or null: += each parameter layer's
                                 // gradient L2 norm (after clip_value, before clip_norm)
};

template <typename T>
class Network {
 public:
  // Checks every spec and that the widths chain; throws std::invalid_argument.
  Network(std::vector<LayerSpec> layers, Loss loss, std::uint64_t seed);

  int n_inputs() const { return layers_.front().n_in; }
  int n_outputs() const { return layers_.back().n_out; }
  std::size_t n_params() const { return n_params_; }
  Loss loss_kind() const { return loss_; }
  std::uint64_t seed() const { return seed_; }
  // A layer needs batch statistics (batch norm): training batches need >= 2 samples.
  bool needs_batch_statistics() const { return needs_batch_statistics_; }

  // Every public call below takes the network's lock (the GIL is released around compute,
  // so calls from several Python threads run one at a time), except train_step, whose
  // caller holds lock().
  // The flat buffers the Python side reads and writes whole:
  //   Params:         [W1, b1, ..., gamma, beta, ...]                     (n_params,)
  //   State:          [running_mean, running_var] per batch-norm layer
  //   OptimizerState: moments [m (n_params,), v (n_params,)]; sgd keeps its velocity in m
  // Copies in and out; sizes are checked by the caller against size(b). The optimizer state
  // is allocated when first needed (reads before that give zeros).
  enum class Buffer { Params, State, OptimizerState };
  std::size_t size(Buffer b) const;
  void read(Buffer b, T* out) const;
  void write(Buffer b, const T* in);

  // x is (B, n_in); h is (B, K): output activations. With check_finite, each block of rows
  // of x is scanned for NaN/inf just before the forward pass reads it (while it is in cache);
  // when one is found predict returns false once the blocks under way end, skipping those
  // not begun (h is then incomplete: the caller raises, naming the element). Returns true
  // otherwise.
  // stop, when given, is called before each row block from the thread that runs it (any
  // thread of the pool); once it returns true the blocks not begun are skipped and predict
  // returns false (the caller knows why: it made stop).
  bool predict(T* h, const T* x, std::int64_t B, bool training, std::uint64_t step,
               bool check_finite = false, const std::function<bool()>& stop = {});
  // x is (B, n_in), y is (B, K), w (B,) sample weights or null; the (weighted) mean loss.
  // stop as in predict; a stopped call returns NaN.
  double loss(const T* x, const T* y, const T* w, std::int64_t B, bool training, std::uint64_t step,
              const std::function<bool()>& stop = {});
  // The (weighted) mean loss, and its gradient in grad (n_params,). Updates nothing.
  double gradients(T* grad, const T* x, const T* y, const T* w, int B, bool training,
                   std::uint64_t step);
  // Layers with parameters (dense, batch norm): the entries of StepSettings::grad_norms.
  std::size_t n_param_layers() const { return blocks_.size() / 2; }

  // ---- the training step: the epoch loop (train.hpp) is its client --------------------
  std::unique_lock<std::mutex> lock() const { return std::unique_lock<std::mutex>(mutex_); }
  // Throws std::invalid_argument if a step/sign layer stands above a layer with parameters.
  void check_trainable() const;
  // The training workspace, laid out for `rows` samples with views of the gradients;
  // allocates the gradients on first use, and the optimizer moments when `moments`
  // (uses_moments: every optimizer but plain SGD without momentum reads them).
  Workspace<T>& train_workspace(int rows, bool moments);
  // One step on the batch in ws.x (B, n_in), ws.y (B, K) and, when weighted, ws.w (B,):
  // forward (training, step's dropout masks, moving the running statistics), loss, backward,
  // clipping, then optimizer step number opt_step (1-based). Returns the batch's (weighted)
  // mean loss, before the update.
  double train_step(Workspace<T>& ws, int B, bool weighted, const StepSettings& s,
                    std::uint64_t opt_step, std::uint64_t step);
  // Whether a training step on B rows is cut by neurons into two pieces (neuron_cut.cpp):
  // a rule on the layers and B, never on the thread count.
  bool cuts_by_neurons(int B) const;

 private:
  // The one place that knows where each buffer lives: sizes ws for `rows` samples (it only
  // grows) and fills its views; grad (n_params,) or null backs the gradient views. Without
  // backprop only the forward pass's buffers exist (x, y, w, delta and scratch are null).
  void layout(Workspace<T>& ws, int rows, T* grad, bool backprop = true);
  // Runs layers begin.. on x (B, width of layer begin's input); returns the last net input
  // z (B, K) inside ws.
  const T* forward(Workspace<T>& ws, const T* x, int B, const PassContext& ctx,
                   std::size_t begin = 0);
  // Backpropagates dz (B, K) from ws.delta[0] into the gradient views (zeroed first), or,
  // with ctx.sgd, steps the layers that can (sgd_in_backward) in place and leaves their
  // gradient views untouched; x is the (B, n_in) input given to forward. With down_to > 0 it
  // stops after layer down_to and returns where dL/d(its input) is (ws.delta[0] or [1]).
  T* backward(Workspace<T>& ws, const T* x, int B, const PassContext& ctx, int down_to = 0);
  // The training step's forward and backward cut by neurons (neuron_cut.cpp), in place of
  // forward(ws, ws.x, B, ctx) and backward(ws, ws.x, B, ctx).
  const T* cut_forward(Workspace<T>& ws, int B, const PassContext& ctx);
  void cut_backward(Workspace<T>& ws, int B, const PassContext& ctx);
  // Whether the layers start dense, a differentiable activation, dense, with a first hidden
  // width the pieces can halve (neuron_cut.cpp).
  static bool neuron_cut_layers(const std::vector<LayerSpec>& layers);
  // Calls f(workspace, block index, first row, rows) for each block of `block` rows of a
  // forward pass over B rows, as tasks of the thread pool.
  template <typename F>
  void over_blocks(std::int64_t B, std::int64_t block, F&& f);
  void allocate_training_buffers(bool moments);
  // Clips grads_ and adds each parameter layer's gradient norm to s.grad_norms (see
  // StepSettings).
  void clip_and_measure(const StepSettings& s);

  std::vector<LayerSpec> layers_;
  std::vector<LayerSizes> sizes_;                   // per layer
  std::vector<std::size_t> param_off_, state_off_;  // per layer, into params_ / state_
  std::vector<ParamBlock> blocks_;  // [W1, b1, ..., gamma, beta, ...] as in get_weights()
  Loss loss_;
  std::uint64_t seed_;
  std::size_t n_params_ = 0;
  int max_width_ = 0;
  int first_param_ = -1;     // index of the first layer with parameters
  int blocked_ = -1;         // a non-differentiable layer above first_param_, or -1
  bool cut_layers_ = false;  // starts dense, activation, dense as the neuron cut needs
  bool needs_batch_statistics_ = false;
  std::string memory_owner_;  // names the parameters (and largest layer) in memory errors

  AlignedVector<T> params_;     // (n_params,)
  AlignedVector<T> grads_;      // (n_params,), allocated by the first training step
  AlignedVector<T> state_;      // (n_state,)
  AlignedVector<T> opt_state_;  // (2 * n_params,): moments m, v; allocated when first needed
  Workspace<T> train_ws_;
  mutable ForkSafeMutex mutex_;  // a forked child gets it unlocked (fork_safe.hpp)
};

}  // namespace mlpcore
