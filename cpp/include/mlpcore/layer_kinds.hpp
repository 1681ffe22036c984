// The layer-kind table: everything the network needs to know about a kind of layer, in one
// entry per kind (layer_kinds.cpp): its arguments and their checks, the sizes of its
// parameters, state and cache, the rules it imposes, and its forward and backward passes
// over the named views of one layer (LayerSlot). Adding a layer kind = its kernels
// (layers.cpp / activations.cpp) + one entry here. Twin: the kind table of
// reference/layer_kinds.py.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "mlpcore/activations.hpp"

namespace mlpcore {

struct LayerKind;

// One layer as configured: its kind, its widths (both always known) and the kind's
// arguments (batchnorm: momentum, eps; layernorm: eps; dropout: p; leaky_relu:
// negative_slope; elu: alpha).
struct LayerSpec {
  const LayerKind* kind = nullptr;
  Activation act = Activation::Identity;  // activation layers only
  int n_in = 0, n_out = 0;
  double arg[2] = {0, 0};
};

// The sizes one layer needs, as counts of T.
struct LayerSizes {
  std::size_t w = 0, b = 0;  // the two parameter arrays (dense W, b; batch/layer norm gamma, beta)
  bool w_decays = false;     // weight decay applies to w (dense weight matrices)
  bool sgd_in_backward = false;   // backward can apply a plain SGD step itself (PassContext)
  std::size_t state = 0;          // non-trainable state (batchnorm running mean, var)
  std::size_t cache_per_row = 0;  // cache that grows with the batch (per sample)
  std::size_t cache_fixed = 0;    // cache of fixed size
};

// Named views of one layer's buffers, filled once by Network::layout. Null when absent.
template <typename T>
struct LayerSlot {
  const LayerSpec* spec = nullptr;
  std::uint64_t index = 0;         // position in the network (keys dropout masks)
  T *w = nullptr, *b = nullptr;    // parameters, shapes as in LayerSizes
  T *dw = nullptr, *db = nullptr;  // their gradients (null in evaluation workspaces)
  T* state = nullptr;              // (state,)
  T* out = nullptr;                // (rows, n_out) the layer's output
  T* cache = nullptr;              // (rows, cache_per_row) then (cache_fixed,)
  bool masked = false;             // dropout: the last forward drew a mask
};

// What a pass needs to know besides the buffers.
struct PassContext {
  bool training = false;             // batch statistics and dropout masks
  bool update_running = false;       // training forward moves batch-norm running statistics
  std::uint64_t seed = 0, step = 0;  // dropout masks are keyed by (seed, step, layer)
  // Plain SGD fused into backward (kinds with sgd_in_backward): w = (1 - lr decay) w - lr dw
  // and b -= lr db, applied in place instead of accumulating dw and db. Null: accumulate.
  const struct SgdStep* sgd = nullptr;
};

struct SgdStep {
  double lr = 0;     // this step's learning rate
  double decay = 0;  // weight decay of the weight matrix (not of the bias)
};

template <typename T>
struct LayerOps {
  // in is (B, n_in); fills s.out (B, n_out) and the cache backward reads.
  void (*forward)(LayerSlot<T>& s, const T* in, int B, const PassContext& ctx);
  // d (B, n_out) holds dL/d(out) and may be overwritten. Accumulates dw, db (+=), or, for a
  // kind with sgd_in_backward and ctx.sgd set, steps w and b in place instead; writes
  // dL/d(in) (B, n_in) into d (in place) or, for width-changing kinds, into dx; returns where
  // it is. With dx null the input gradient is not needed (first layer) and may be skipped.
  T* (*backward)(LayerSlot<T>& s, T* d, T* dx, const T* in, int B, T* scratch,
                 const PassContext& ctx);
  // Fills s.state with its initial values (null when the kind has no state).
  void (*init_state)(LayerSlot<T>& s);
};

struct LayerKind {
  const char* name;  // "dense", "batchnorm", "layernorm", "dropout", "activation"
  int n_args;        // how many arguments follow the widths
  const char* arg_names[2];
  bool keeps_width;             // n_out == n_in
  bool needs_batch_statistics;  // training needs >= 2 samples per batch
  LayerSizes (*sizes)(const LayerSpec&);
  void (*check)(const LayerSpec&);  // argument ranges; throws std::invalid_argument
  bool (*differentiable)(const LayerSpec&);
  LayerOps<float> f32;
  LayerOps<double> f64;

  template <typename T>
  const LayerOps<T>& ops() const;
};
template <>
inline const LayerOps<float>& LayerKind::ops<float>() const {
  return f32;
}
template <>
inline const LayerOps<double>& LayerKind::ops<double>() const {
  return f64;
}

// A spec from a kind name (a layer kind or an activation name), widths and arguments; checks
// everything about it. Unknown names throw std::invalid_argument listing every known one.
LayerSpec make_layer_spec(const std::string& name, long long n_in, long long n_out,
                          const std::vector<double>& args);
// The name a spec was made from ("dense", "relu", ...).
std::string layer_spec_name(const LayerSpec& s);

}  // namespace mlpcore
