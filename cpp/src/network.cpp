#include "mlpcore/network.hpp"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <deque>
#include <limits>
#include <mutex>
#include <stdexcept>
#include <string>

#include "mlpcore/finite.hpp"
#include "mlpcore/memory.hpp"
#include "mlpcore/parallel.hpp"

namespace mlpcore {

using std::size_t;

namespace {
std::string describe(const LayerSpec& s, size_t i) {
  return "layer " + std::to_string(i) + " (" + layer_spec_name(s) + " " + std::to_string(s.n_in) +
         "x" + std::to_string(s.n_out) + ")";
}
// a + b for counts of T, throwing std::invalid_argument naming `what` when the sum exceeds
// what one buffer can hold (half of it: the optimizer moments hold two values per parameter)
template <typename T>
size_t checked_add(size_t a, size_t b, const std::string& what) {
  const size_t limit = AlignedVector<T>().max_size() / 2;
  if (a > limit || b > limit - a)
    throw std::invalid_argument(what +
                                " makes the network hold more values than any buffer "
                                "can (" +
                                std::to_string(limit) + ")");
  return a + b;
}
}  // namespace

template <typename T>
Network<T>::Network(std::vector<LayerSpec> layers, Loss loss, std::uint64_t seed)
    : layers_(std::move(layers)), loss_(loss), seed_(seed) {
  if (layers_.empty()) throw std::invalid_argument("a network needs at least one layer");
  const size_t L = layers_.size();
  size_t n_state = 0;
  size_t largest = 0;  // the layer with the most parameters, named when memory runs out
  max_width_ = layers_.front().n_in;
  for (size_t i = 0; i < L; ++i) {
    const LayerSpec& s = layers_[i];
    if (!s.kind) throw std::invalid_argument("layer " + std::to_string(i) + " has no kind");
    if (i > 0 && s.n_in != layers_[i - 1].n_out)
      throw std::invalid_argument(describe(s, i) + " expects " + std::to_string(s.n_in) +
                                  " inputs but the layer before produces " +
                                  std::to_string(layers_[i - 1].n_out));
    const LayerSizes z = s.kind->sizes(s);
    sizes_.push_back(z);
    param_off_.push_back(n_params_);
    state_off_.push_back(n_state);
    if (z.w + z.b > 0) {
      if (first_param_ < 0) first_param_ = int(i);
      blocks_.push_back({n_params_, z.w, z.w_decays, z.sgd_in_backward});
      blocks_.push_back({n_params_ + z.w, z.b, false, z.sgd_in_backward});
    }
    n_params_ = checked_add<T>(n_params_, checked_add<T>(z.w, z.b, describe(s, i)), describe(s, i));
    n_state = checked_add<T>(n_state, z.state, describe(s, i));
    if (z.w + z.b > sizes_[largest].w + sizes_[largest].b) largest = i;
    if (first_param_ >= 0 && int(i) > first_param_ && !s.kind->differentiable(s)) blocked_ = int(i);
    needs_batch_statistics_ = needs_batch_statistics_ || s.kind->needs_batch_statistics;
    max_width_ = std::max(max_width_, s.n_out);
  }
  if (first_param_ < 0)
    throw std::invalid_argument("a network needs at least one layer with parameters");
  cut_layers_ = neuron_cut_layers(layers_);
  if (loss_ == Loss::SoftmaxCrossEntropy && n_outputs() < 2)
    throw std::invalid_argument("softmax_cross_entropy needs at least 2 outputs");
  memory_owner_ = "the network's " + std::to_string(n_params_) +
                  " parameters (largest: " + describe(layers_[largest], largest) + ")";
  allocate(params_, n_params_, T(0), memory_owner_);
  allocate(state_, n_state, T(0), "the batch-norm state");
  Workspace<T> views;  // state views, to let each kind initialise its state
  layout(views, 0, nullptr);
  for (size_t i = 0; i < L; ++i) layers_[i].kind->template ops<T>().init_state(views.layers[i]);
}

template <typename T>
void Network<T>::layout(Workspace<T>& ws, int rows, T* grad, bool backprop) {
  const size_t L = layers_.size();
  const size_t R = size_t(std::max(rows, ws.rows));
  // per-row and fixed sizes of everything the pass needs; a forward-only pass needs no
  // gathered batch (x, y, w), no deltas and no scratch
  const size_t n_x = backprop ? size_t(n_inputs()) : 0, n_y = backprop ? size_t(n_outputs()) : 0;
  const size_t n_delta = backprop ? size_t(max_width_) : 0;
  size_t per_row = n_x + n_y + size_t(n_outputs()) + (backprop ? 1 : 0) + 2 * n_delta;
  size_t fixed = 2 * n_delta;
  for (size_t i = 0; i < L; ++i) {
    per_row += size_t(layers_[i].n_out) + sizes_[i].cache_per_row;
    fixed += sizes_[i].cache_fixed;
  }
  if (R * per_row + fixed > ws.buf.size() || ws.layers.size() != L) {
    allocate(ws.buf, R * per_row + fixed, T(0), "the workspace for " + std::to_string(R) + " rows");
    ws.rows = int(R);
  }
  ws.layers.resize(L);
  T* p = ws.buf.data();
  auto take = [&p](size_t n) {
    T* q = p;
    p += n;
    return q;
  };
  ws.x = backprop ? take(R * n_x) : nullptr;
  ws.y = backprop ? take(R * n_y) : nullptr;
  ws.h = take(R * size_t(n_outputs()));
  ws.w = backprop ? take(R) : nullptr;
  ws.delta[0] = backprop ? take(R * n_delta) : nullptr;
  ws.delta[1] = backprop ? take(R * n_delta) : nullptr;
  ws.scratch = backprop ? take(2 * n_delta) : nullptr;
  for (size_t i = 0; i < L; ++i) {
    LayerSlot<T>& s = ws.layers[i];
    const LayerSizes& z = sizes_[i];
    s.spec = &layers_[i];
    s.index = i;
    T* w = params_.data() + param_off_[i];
    s.w = z.w ? w : nullptr;
    s.b = z.b ? w + z.w : nullptr;
    s.dw = grad && z.w ? grad + param_off_[i] : nullptr;
    s.db = grad && z.b ? grad + param_off_[i] + z.w : nullptr;
    s.state = z.state ? state_.data() + state_off_[i] : nullptr;
    s.out = take(R * size_t(layers_[i].n_out));
    s.cache = take(R * z.cache_per_row + z.cache_fixed);
    s.masked = false;
  }
}

template <typename T>
void Network<T>::check_trainable() const {
  if (blocked_ >= 0)
    throw std::invalid_argument(describe(layers_[blocked_], blocked_) +
                                " has zero derivative almost everywhere: no gradient reaches "
                                "the layers below it, so the network cannot be trained");
}

template <typename T>
const T* Network<T>::forward(Workspace<T>& ws, const T* x, int B, const PassContext& ctx,
                             size_t begin) {
  const T* in = x;  // (B, width of the layer before)
  for (size_t i = begin; i < ws.layers.size(); ++i) {
    LayerSlot<T>& s = ws.layers[i];
    s.spec->kind->template ops<T>().forward(s, in, B, ctx);
    in = s.out;
  }
  return in;
}

template <typename T>
T* Network<T>::backward(Workspace<T>& ws, const T* x, int B, const PassContext& ctx, int down_to) {
  for (const LayerSlot<T>& s : ws.layers) {  // gradients accumulate: zero them first
    if (ctx.sgd && sizes_[s.index].sgd_in_backward) continue;  // updated in place instead
    if (s.dw) std::fill_n(s.dw, sizes_[s.index].w, T(0));
    if (s.db) std::fill_n(s.db, sizes_[s.index].b, T(0));
  }
  T* d = ws.delta[0];      // dL/d(output of layer i), (B, width)
  T* other = ws.delta[1];  // the ping-pong partner for width-changing layers
  for (int i = int(layers_.size()) - 1; i >= std::max(first_param_, down_to); --i) {
    LayerSlot<T>& s = ws.layers[i];
    const T* in = i == 0 ? x : ws.layers[i - 1].out;  // this layer's forward input
    T* dx = i > first_param_ ? other : nullptr;       // nothing below needs a gradient
    T* result = s.spec->kind->template ops<T>().backward(s, d, dx, in, B, ws.scratch, ctx);
    if (result == other) std::swap(d, other);
  }
  return d;
}

template <typename T>
size_t Network<T>::size(Buffer b) const {
  return b == Buffer::Params ? params_.size() : b == Buffer::State ? state_.size() : 2 * n_params_;
}

template <typename T>
void Network<T>::read(Buffer b, T* out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  const AlignedVector<T>& src = b == Buffer::Params  ? params_
                                : b == Buffer::State ? state_
                                                     : opt_state_;
  if (src.empty())
    std::fill_n(out, size(b), T(0));  // moments not allocated yet: zeros
  else
    std::copy(src.begin(), src.end(), out);
}

template <typename T>
void Network<T>::write(Buffer b, const T* in) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (b == Buffer::OptimizerState && opt_state_.empty())
    allocate(opt_state_, 2 * n_params_, T(0), "the optimizer moments of " + memory_owner_);
  AlignedVector<T>& dst = b == Buffer::Params ? params_ : b == Buffer::State ? state_ : opt_state_;
  std::copy(in, in + dst.size(), dst.begin());
}

// Evaluation-mode passes are row-independent, so predict and loss run over row blocks of
// at most EVAL_BLOCK rows: the workspace stays small however many rows X has, and a block's
// activations stay in L2. With several threads the blocks are tasks of the thread pool, each
// on a workspace of its own, and the products inside a block run whole on its thread (a pass
// of one block splits its products instead). Training mode runs the whole batch at once
// (batch statistics; dropout masks keyed by element index). predict on 4096 rows, 1 thread,
// AVX-512 OpenBLAS kernels, blocks of 1024 / 512 / 256 / 128 / 64 rows: 784-256-128-10
// 9.3-9.9 / 9.1-9.4 / 8.8-9.0 / 10.1 / 10.5-11.0 ms; with BatchNorm 9.8-10.6 / 9.6-9.7 /
// 9.3-9.5 / 10.0-10.3 / 11.2 ms; 64-128-10 0.55-0.57 / 0.48-0.50 / 0.48-0.49 / 0.50 /
// 0.46-0.47 ms; 32-64-64-2 0.34 / 0.32-0.33 / 0.31-0.32 / 0.30 / 0.30-0.31 ms.
constexpr std::int64_t EVAL_BLOCK = 256;

namespace {
std::int64_t eval_block(std::int64_t B) {
  return std::min(B, EVAL_BLOCK);
}
}  // namespace

template <typename T>
template <typename F>
void Network<T>::over_blocks(std::int64_t B, std::int64_t block, F&& f) {
  const int n_blocks = int((B + block - 1) / block);
  // Workspaces are made as tasks need them (as many as run at once, whatever the thread
  // count is meanwhile) and handed back when a task ends, normally or not.
  std::deque<Workspace<T>> made;
  std::vector<Workspace<T>*> free;
  std::mutex taken;  // guards made and free
  auto task = [&](int i) {
    Workspace<T>* w;
    {
      std::lock_guard<std::mutex> g(taken);
      if (free.empty()) {
        made.emplace_back();
        layout(made.back(), int(std::min(block, B)), nullptr, false);
        free.reserve(made.size());  // so that handing back (in a destructor) never allocates
        free.push_back(&made.back());
      }
      w = free.back();
      free.pop_back();
    }
    struct HandBack {
      std::mutex& lock;
      std::vector<Workspace<T>*>& free;
      Workspace<T>* w;
      ~HandBack() {
        std::lock_guard<std::mutex> g(lock);
        free.push_back(w);  // cannot throw: free holds room for every workspace made
      }
    } hand_back{taken, free, w};
    const std::int64_t r = std::int64_t(i) * block;
    f(*w, i, r, int(std::min(block, B - r)));
  };
  if (n_blocks == 1)
    task(0);  // not as a pool task: its products may use the threads
  else
    parallel::run(n_blocks, task);
}

template <typename T>
bool Network<T>::predict(T* h, const T* x, std::int64_t B, bool training, std::uint64_t step,
                         bool check_finite, const std::function<bool()>& stop) {
  std::lock_guard<std::mutex> lock(mutex_);
  const PassContext ctx{training, false, seed_, step};
  const std::int64_t block = training ? B : eval_block(B);
  std::atomic<bool> finite{true};
  over_blocks(B, block, [&](Workspace<T>& ws, int, std::int64_t r, int rows) {
    if (!finite) return;  // a block before found NaN/inf (or stop): the call fails anyway
    if (stop && stop()) {
      finite = false;
      return;
    }
    const T* xr = x + size_t(r) * n_inputs();  // (rows, n_in)
    if (check_finite && !all_finite(xr, size_t(rows) * n_inputs())) {
      finite = false;
      return;
    }
    const T* z = forward(ws, xr, rows, ctx);
    output_activation(loss_, h + size_t(r) * n_outputs(), z, rows, n_outputs());
  });
  return finite;
}

template <typename T>
double Network<T>::loss(const T* x, const T* y, const T* w, std::int64_t B, bool training,
                        std::uint64_t step, const std::function<bool()>& stop) {
  std::lock_guard<std::mutex> lock(mutex_);
  const PassContext ctx{training, false, seed_, step};
  std::vector<double> totals, weights;  // per block, summed in block order below
  const std::int64_t block = training ? B : eval_block(B);
  totals.resize(size_t((B + block - 1) / block));
  weights.resize(totals.size());
  std::atomic<bool> stopped{false};
  over_blocks(B, block, [&](Workspace<T>& ws, int i, std::int64_t r, int rows) {
    if (stopped || (stop && stop())) {
      stopped = true;
      return;
    }
    const T* z = forward(ws, x + size_t(r) * n_inputs(), rows, ctx);
    const T* wr = w ? w + r : nullptr;
    weights[size_t(i)] = weight_sum(wr, rows);
    totals[size_t(i)] =
        loss_forward(loss_, ws.h, z, y + size_t(r) * n_outputs(), wr, rows, n_outputs()) *
        weights[size_t(i)];
  });
  if (stopped) return std::numeric_limits<double>::quiet_NaN();
  double total = 0, weight = 0;
  for (size_t i = 0; i < totals.size(); ++i) {
    total += totals[i];
    weight += weights[i];
  }
  return total / weight;
}

template <typename T>
double Network<T>::gradients(T* grad, const T* x, const T* y, const T* w, int B, bool training,
                             std::uint64_t step) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_trainable();
  const PassContext ctx{training, false, seed_, step};
  Workspace<T> ws;
  layout(ws, B, grad);
  const T* z = forward(ws, x, B, ctx);
  const double value = loss_forward(loss_, ws.h, z, y, w, B, n_outputs());
  loss_backward(loss_, ws.delta[0], ws.h, y, w, B, n_outputs());
  backward(ws, x, B, ctx);
  return value;
}

template <typename T>
void Network<T>::allocate_training_buffers(bool moments) {
  if (grads_.empty()) allocate(grads_, n_params_, T(0), "the gradients of " + memory_owner_);
  if (moments && opt_state_.empty())
    allocate(opt_state_, 2 * n_params_, T(0), "the optimizer moments of " + memory_owner_);
}

template <typename T>
Workspace<T>& Network<T>::train_workspace(int rows, bool moments) {
  allocate_training_buffers(moments);
  layout(train_ws_, rows, grads_.data());
  return train_ws_;
}

template <typename T>
void Network<T>::clip_and_measure(const StepSettings& s) {
  T* g = grads_.data();
  if (s.clip_value > 0) {
    const T c = T(s.clip_value);
    for (size_t i = 0; i < n_params_; ++i) g[i] = std::min(std::max(g[i], -c), c);
  }
  if (s.clip_norm <= 0 && !s.grad_norms) return;
  double total = 0;
  for (size_t l = 0; l < n_param_layers(); ++l) {  // blocks come in pairs, one per layer
    double sq = 0;
    const ParamBlock& a = blocks_[2 * l];
    const ParamBlock& b = blocks_[2 * l + 1];
    const size_t end = b.offset + b.size;
#pragma omp simd reduction(+ : sq)  // a vectorised sum (-fopenmp-simd; no OpenMP runtime)
    for (size_t i = a.offset; i < end; ++i) sq += double(g[i]) * double(g[i]);
    if (s.grad_norms) s.grad_norms[l] += std::sqrt(sq);
    total += sq;
  }
  if (s.clip_norm > 0) {
    const double factor = s.clip_norm / (std::sqrt(total) + 1e-6);
    if (factor < 1) {
      const T f = T(factor);
      for (size_t i = 0; i < n_params_; ++i) g[i] *= f;
    }
  }
}

template <typename T>
double Network<T>::train_step(Workspace<T>& ws, int B, bool weighted, const StepSettings& s,
                              std::uint64_t opt_step, std::uint64_t step) {
  const T* w = weighted ? ws.w : nullptr;
  // weight decay on dense weights only; scikit-learn's alpha scales with the batch weight
  const double decay = s.opt.weight_decay + (s.l2_alpha > 0 ? s.l2_alpha / weight_sum(w, B) : 0.0);
  // Plain SGD with nothing between the gradient and the step (no clipping, no norms) runs
  // inside backward for the layers that can: no gradient buffer is zeroed, written or read.
  const bool fused = !uses_moments(s.opt) && s.clip_value <= 0 && s.clip_norm <= 0 && !s.grad_norms;
  const SgdStep sgd{s.opt.lr, decay};
  PassContext ctx{true, true, seed_, step};
  if (fused) ctx.sgd = &sgd;
  const bool cut = cuts_by_neurons(B);
  const T* z = cut ? cut_forward(ws, B, ctx) : forward(ws, ws.x, B, ctx);
  const double value = loss_forward(loss_, ws.h, z, ws.y, w, B, n_outputs());
  loss_backward(loss_, ws.delta[0], ws.h, ws.y, w, B, n_outputs());
  if (cut)
    cut_backward(ws, B, ctx);
  else
    backward(ws, ws.x, B, ctx);
  clip_and_measure(s);
  // the moments: m (n_params,) first moment / velocity, v (n_params,) second moment; not
  // allocated (null) for plain SGD, which reads neither
  T* m = opt_state_.empty() ? nullptr : opt_state_.data();
  for (const ParamBlock& b : blocks_) {
    if (fused && b.sgd_in_backward) continue;  // stepped in backward
    optimizer_step(s.opt, params_.data() + b.offset, grads_.data() + b.offset,
                   m ? m + b.offset : nullptr, m ? m + n_params_ + b.offset : nullptr,
                   b.decays ? decay : 0.0, opt_step, b.size);
  }
  return value;
}

template class Network<float>;
template class Network<double>;

}  // namespace mlpcore
