#include "mlpcore/network.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>

#include "mlpcore/layers.hpp"
#include "mlpcore/train.hpp"

namespace mlpcore {

using std::size_t;

template <typename T>
Network<T>::Network(std::vector<LayerSpec> layers, Loss loss, std::uint64_t seed)
    : layers_(std::move(layers)), loss_(loss), seed_(seed) {
  if (layers_.empty()) throw std::invalid_argument("a network needs at least one layer");
  const size_t L = layers_.size();
  width_.resize(L);
  param_off_.resize(L);
  state_off_.resize(L);
  size_t n_params = 0, n_state = 0;
  int width = 0;  // 0 until the first layer that fixes a width
  for (size_t i = 0; i < L; ++i) {
    const LayerSpec& s = layers_[i];
    const std::string where = "layer " + std::to_string(i) + ": ";
    param_off_[i] = n_params;
    state_off_[i] = n_state;
    if (s.kind == LayerSpec::Kind::Dense || s.kind == LayerSpec::Kind::BatchNorm) {
      if (s.n_in < 1 || s.n_out < 1) throw std::invalid_argument(where + "widths must be >= 1");
      if (width != 0 && s.n_in != width)
        throw std::invalid_argument(where + "expects " + std::to_string(s.n_in) +
                                    " inputs but the layer before produces " +
                                    std::to_string(width));
      if (width == 0) n_in_ = s.n_in;
      if (first_param_ < 0) first_param_ = static_cast<int>(i);
      width = s.n_out;
    }
    switch (s.kind) {
      case LayerSpec::Kind::Dense:
        blocks_.push_back({n_params, size_t(s.n_in) * s.n_out, true});
        blocks_.push_back({n_params + size_t(s.n_in) * s.n_out, size_t(s.n_out), false});
        n_params += size_t(s.n_in) * s.n_out + s.n_out;
        break;
      case LayerSpec::Kind::BatchNorm:
        if (s.n_out != s.n_in) throw std::invalid_argument(where + "BatchNorm keeps its width");
        if (!(s.momentum >= 0 && s.momentum <= 1))
          throw std::invalid_argument(where + "BatchNorm momentum must lie in [0, 1]");
        if (!(s.eps > 0 && std::isfinite(s.eps)))
          throw std::invalid_argument(where + "BatchNorm eps must be finite and > 0");
        blocks_.push_back({n_params, size_t(s.n_in), false});
        blocks_.push_back({n_params + s.n_in, size_t(s.n_in), false});
        n_params += 2 * size_t(s.n_in);
        n_state += 2 * size_t(s.n_in);
        has_batchnorm_ = true;
        break;
      case LayerSpec::Kind::Dropout:
        if (!(s.p >= 0 && s.p < 1))
          throw std::invalid_argument(where + "Dropout p must lie in [0, 1)");
        break;
      case LayerSpec::Kind::Activation:
        break;
    }
    width_[i] = width;  // 0 for width-keeping layers before the first Dense/BatchNorm
  }
  if (first_param_ < 0)
    throw std::invalid_argument("a network needs at least one Dense or BatchNorm layer");
  for (size_t i = first_param_ + 1; i < L; ++i)  // gradients must pass through these
    if (layers_[i].kind == LayerSpec::Kind::Activation && !activation_differentiable(layers_[i].act))
      blocked_ = static_cast<int>(i);
  // Width-keeping layers before the first Dense/BatchNorm see the input width.
  for (size_t i = 0; i < L && width_[i] == 0; ++i) width_[i] = n_in_;
  n_out_ = width_[L - 1];
  if (loss_ == Loss::SoftmaxCrossEntropy && n_out_ < 2)
    throw std::invalid_argument("softmax_cross_entropy needs at least 2 outputs");
  // Offsets of each layer's activations and caches: per row of the batch, plus fixed ones.
  act_col_.resize(L);
  cache_col_.resize(L);
  cache_fixed_.resize(L);
  max_width_ = n_in_;
  for (size_t i = 0; i < L; ++i) {
    act_col_[i] = act_cols_;
    act_cols_ += width_[i];
    max_width_ = std::max(max_width_, width_[i]);
    cache_col_[i] = cache_cols_;
    cache_fixed_[i] = cache_fixed_total_;
    if (layers_[i].kind == LayerSpec::Kind::BatchNorm) {
      cache_cols_ += width_[i];         // xhat (rows, F)
      cache_fixed_total_ += width_[i];  // inv_std (F,)
    } else if (layers_[i].kind == LayerSpec::Kind::Dropout) {
      cache_cols_ += width_[i];         // mask (rows, F)
    }
  }
  params_.assign(n_params, T(0));
  grads_.assign(n_params, T(0));
  opt_state_.assign(2 * n_params, T(0));
  state_.assign(n_state, T(0));
  for (size_t i = 0; i < L; ++i)  // running variance starts at one, as in PyTorch
    if (layers_[i].kind == LayerSpec::Kind::BatchNorm)
      std::fill_n(state_.begin() + state_off_[i] + width_[i], width_[i], T(1));
}

template <typename T>
void Network<T>::check_differentiable() const {
  if (blocked_ >= 0)
    throw std::invalid_argument("layer " + std::to_string(blocked_) + " (" +
                                activation_name(layers_[blocked_].act) +
                                ") has zero derivative almost everywhere: no gradient reaches "
                                "the layers below it, so the network cannot be trained");
}

template <typename T>
void Network<T>::reserve(Workspace<T>& ws, int rows) const {
  if (rows <= ws.rows) return;
  ws.rows = rows;
  ws.act.assign(size_t(rows) * act_cols_, T(0));
  ws.cache.assign(size_t(rows) * cache_cols_ + cache_fixed_total_, T(0));
  ws.delta.assign(2 * size_t(rows) * max_width_, T(0));
  ws.io.assign(size_t(rows) * (n_in_ + 2 * size_t(n_out_)), T(0));
  ws.masked.assign(layers_.size(), 0);
  ws.scratch.assign(2 * size_t(max_width_), T(0));
}

template <typename T>
const T* Network<T>::forward(Workspace<T>& ws, const T* x, int B, bool training,
                             std::uint64_t step, bool update_running) {
  const T* in = x;  // (B, width of the layer before)
  for (size_t i = 0; i < layers_.size(); ++i) {
    const LayerSpec& s = layers_[i];
    T* out = layer_output(ws, i);  // (B, width_[i])
    T* cache = layer_cache(ws, i);
    const T* p = params_.data() + param_off_[i];
    const int F = width_[i];
    switch (s.kind) {
      case LayerSpec::Kind::Dense:
        dense_forward(out, in, p, p + size_t(s.n_in) * s.n_out, B, s.n_in, s.n_out);
        break;
      case LayerSpec::Kind::Activation:
        activation_forward(s.act, out, in, size_t(B) * F);
        break;
      case LayerSpec::Kind::BatchNorm: {
        T* run = state_.data() + state_off_[i];  // running mean (F,), running var (F,)
        T* xhat = cache;                          // (B, F)
        T* inv_std = cache + size_t(B) * F;       // (F,): cache layout for this row count
        batchnorm_forward(out, xhat, inv_std, run, run + F, in, p, p + F, B, F, training,
                          s.momentum, s.eps, update_running);
        break;
      }
      case LayerSpec::Kind::Dropout:
        ws.masked[i] = dropout_forward(out, cache, in, std::int64_t(B) * F, s.p, seed_, step,
                                       std::uint64_t(i), training);
        break;
    }
    in = out;
  }
  return in;
}

template <typename T>
void Network<T>::backward(T* grad, Workspace<T>& ws, const T* x, int B, bool training) {
  std::fill(grad, grad + params_.size(), T(0));
  T* d = ws.delta.data();                                // current delta (B, width)
  T* other = ws.delta.data() + size_t(ws.rows) * max_width_;  // the ping-pong partner
  for (int i = int(layers_.size()) - 1; i >= first_param_; --i) {
    const LayerSpec& s = layers_[i];
    const T* in = i == 0 ? x : layer_output(ws, i - 1);  // this layer's forward input
    T* cache = layer_cache(ws, i);
    const T* p = params_.data() + param_off_[i];
    T* g = grad + param_off_[i];
    const int F = width_[i];
    const size_t n = size_t(B) * F;
    switch (s.kind) {
      case LayerSpec::Kind::Dense: {
        const bool need_dx = i > first_param_;
        const size_t wsize = size_t(s.n_in) * s.n_out;
        dense_backward(need_dx ? other : static_cast<T*>(nullptr), g, g + wsize, d, in, p,
                       B, s.n_in, s.n_out);
        std::swap(d, other);
        break;
      }
      case LayerSpec::Kind::Activation:
        activation_backward(s.act, d, d, layer_output(ws, i), n);
        break;
      case LayerSpec::Kind::BatchNorm:
        batchnorm_backward(d, g, g + F, ws.scratch.data(), d, cache, cache + size_t(B) * F, p,
                           B, F, training);
        break;
      case LayerSpec::Kind::Dropout:
        dropout_backward(d, d, ws.masked[i] ? cache : static_cast<T*>(nullptr), std::int64_t(n));
        break;
    }
  }
}

template <typename T>
void Network<T>::read(Buffer b, T* out) const {
  std::lock_guard<std::mutex> lock(mutex_);
  std::copy(buffer(b).begin(), buffer(b).end(), out);
}
template <typename T>
void Network<T>::write(Buffer b, const T* in) {
  std::lock_guard<std::mutex> lock(mutex_);
  std::copy(in, in + buffer(b).size(), buffer(b).begin());
}

// Evaluation-mode passes are row-independent, so predict and loss run over row blocks of
// at most EVAL_BLOCK rows: the workspace stays small however many rows X has. Training mode
// runs the whole batch at once (batch statistics; dropout masks keyed by element index).
constexpr int EVAL_BLOCK = 1024;

template <typename T>
void Network<T>::predict(T* h, const T* x, int B, bool training, std::uint64_t step) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int block = training ? B : std::min(B, EVAL_BLOCK);
  Workspace<T> ws;
  reserve(ws, block);
  for (int r = 0; r < B; r += block) {
    const int rows = std::min(block, B - r);
    const T* z = forward(ws, x + size_t(r) * n_in_, rows, training, step, false);
    output_activation(loss_, h + size_t(r) * n_out_, z, rows, n_out_);
  }
}

template <typename T>
double Network<T>::loss(const T* x, const T* y, int B, bool training, std::uint64_t step) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int block = training ? B : std::min(B, EVAL_BLOCK);
  Workspace<T> ws;
  reserve(ws, block);
  T* h = ws.io.data() + size_t(ws.rows) * (n_in_ + n_out_);  // (rows, K)
  double total = 0;
  for (int r = 0; r < B; r += block) {
    const int rows = std::min(block, B - r);
    const T* z = forward(ws, x + size_t(r) * n_in_, rows, training, step, false);
    total += loss_forward(loss_, h, z, y + size_t(r) * n_out_, rows, n_out_) * rows;
  }
  return total / B;
}

template <typename T>
double Network<T>::gradients(T* grad, const T* x, const T* y, int B, bool training,
                             std::uint64_t step) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_differentiable();
  Workspace<T> ws;
  reserve(ws, B);
  const T* z = forward(ws, x, B, training, step, false);
  T* h = ws.io.data() + size_t(ws.rows) * (n_in_ + n_out_);  // (rows, K)
  const double value = loss_forward(loss_, h, z, y, B, n_out_);
  loss_backward(ws.delta.data(), h, y, B, n_out_);
  backward(grad, ws, x, B, training);
  return value;
}

template <typename T>
std::pair<double, std::int64_t> Network<T>::train_epoch(const T* X, const T* Y, std::int64_t n,
                                                        int batch_size, const Optimizer& opt,
                                                        std::uint64_t opt_step,
                                                        std::uint64_t epoch, std::uint64_t step,
                                                        bool shuffle) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_differentiable();  // before anything moves: a failed call changes nothing
  check_optimizer(opt);
  return mlpcore::train_epoch(*this, X, Y, n, batch_size, opt, opt_step, epoch, step, shuffle);
}

template class Network<float>;
template class Network<double>;

}  // namespace mlpcore
