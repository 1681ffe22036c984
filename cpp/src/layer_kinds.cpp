// The layer-kind table (see layer_kinds.hpp): one entry per kind, each a thin adapter from
// the named views of a LayerSlot to the kernels of layers.cpp and activations.cpp.
#include "mlpcore/layer_kinds.hpp"

#include <algorithm>
#include <climits>
#include <cmath>
#include <iterator>
#include <stdexcept>

#include "mlpcore/layers.hpp"

namespace mlpcore {

using std::size_t;

namespace {

[[noreturn]] void bad(const LayerSpec& s, const std::string& what) {
  throw std::invalid_argument(layer_spec_name(s) + ": " + what);
}
bool always(const LayerSpec&) {
  return true;
}
void no_check(const LayerSpec&) {}
template <typename T>
void no_state(LayerSlot<T>&) {}

// ---- dense: out = in W + b; W (n_in, n_out), b (n_out,) ----------------------------------
LayerSizes dense_sizes(const LayerSpec& s) {
  LayerSizes z;
  z.w = size_t(s.n_in) * size_t(s.n_out);
  z.b = size_t(s.n_out);
  z.w_decays = true;
  z.sgd_in_backward = true;
  return z;
}
template <typename T>
void dense_fwd(LayerSlot<T>& s, const T* in, int B, const PassContext&) {
  dense_forward(s.out, in, s.w, s.b, B, s.spec->n_in, s.spec->n_out);
}
template <typename T>
T* dense_bwd(LayerSlot<T>& s, T* d, T* dx, const T* in, int B, T* scratch, const PassContext& ctx) {
  if (ctx.sgd)
    dense_backward_sgd(dx, s.w, s.b, scratch, d, in, B, s.spec->n_in, s.spec->n_out, ctx.sgd->lr,
                       ctx.sgd->decay);
  else
    dense_backward(dx, s.dw, s.db, d, in, s.w, B, s.spec->n_in, s.spec->n_out);
  return dx;
}

// ---- batch normalisation: gamma, beta (F,); state running mean, var (F,) ------------------
// cache: xhat (B, F), then inv_std (F,).
LayerSizes batchnorm_sizes(const LayerSpec& s) {
  LayerSizes z;
  z.w = z.b = size_t(s.n_out);
  z.state = 2 * size_t(s.n_out);
  z.cache_per_row = size_t(s.n_out);
  z.cache_fixed = size_t(s.n_out);
  return z;
}
void batchnorm_check(const LayerSpec& s) {
  if (!(s.arg[0] >= 0 && s.arg[0] <= 1)) bad(s, "momentum must lie in [0, 1]");
  if (!(s.arg[1] > 0 && std::isfinite(s.arg[1]))) bad(s, "eps must be finite and > 0");
}
template <typename T>
void batchnorm_fwd(LayerSlot<T>& s, const T* in, int B, const PassContext& ctx) {
  const int F = s.spec->n_out;
  batchnorm_forward(s.out, s.cache, s.cache + size_t(B) * F, s.state, s.state + F, in, s.w, s.b, B,
                    F, ctx.training, s.spec->arg[0], s.spec->arg[1], ctx.update_running);
}
template <typename T>
T* batchnorm_bwd(LayerSlot<T>& s, T* d, T*, const T*, int B, T* scratch, const PassContext& ctx) {
  const int F = s.spec->n_out;
  batchnorm_backward(d, s.dw, s.db, scratch, d, s.cache, s.cache + size_t(B) * F, s.w, B, F,
                     ctx.training);
  return d;
}
template <typename T>
void batchnorm_init_state(LayerSlot<T>& s) {  // running mean 0, running variance 1 (PyTorch)
  const int F = s.spec->n_out;
  std::fill_n(s.state, F, T(0));
  std::fill_n(s.state + F, F, T(1));
}

// ---- layer normalisation: gamma, beta (F,); cache: xhat (B, F), then inv_std (B,) ------------
LayerSizes layernorm_sizes(const LayerSpec& s) {
  LayerSizes z;
  z.w = z.b = size_t(s.n_out);
  z.cache_per_row = size_t(s.n_out) + 1;
  return z;
}
void layernorm_check(const LayerSpec& s) {
  if (!(s.arg[0] > 0 && std::isfinite(s.arg[0]))) bad(s, "eps must be finite and > 0");
}
template <typename T>
void layernorm_fwd(LayerSlot<T>& s, const T* in, int B, const PassContext&) {
  const int F = s.spec->n_out;
  layernorm_forward(s.out, s.cache, s.cache + size_t(B) * F, in, s.w, s.b, B, F, s.spec->arg[0]);
}
template <typename T>
T* layernorm_bwd(LayerSlot<T>& s, T* d, T*, const T*, int B, T*, const PassContext&) {
  const int F = s.spec->n_out;
  layernorm_backward(d, s.dw, s.db, d, s.cache, s.cache + size_t(B) * F, s.w, B, F);
  return d;
}

// ---- inverted dropout: cache = mask (B, F) --------------------------------------------------
LayerSizes dropout_sizes(const LayerSpec& s) {
  LayerSizes z;
  z.cache_per_row = size_t(s.n_out);
  return z;
}
void dropout_check(const LayerSpec& s) {
  if (!(s.arg[0] >= 0 && s.arg[0] < 1)) bad(s, "p must lie in [0, 1)");
}
template <typename T>
void dropout_fwd(LayerSlot<T>& s, const T* in, int B, const PassContext& ctx) {
  s.masked = dropout_forward(s.out, s.cache, in, std::int64_t(B) * s.spec->n_out, s.spec->arg[0],
                             ctx.seed, ctx.step, s.index, ctx.training);
}
template <typename T>
T* dropout_bwd(LayerSlot<T>& s, T* d, T*, const T*, int B, T*, const PassContext&) {
  dropout_backward(d, d, s.masked ? s.cache : static_cast<T*>(nullptr),
                   std::int64_t(B) * s.spec->n_out);
  return d;
}

// ---- activations (the activation registry of activations.cpp) -----------------------------
LayerSizes activation_sizes(const LayerSpec&) {
  return {};
}
void activation_check(const LayerSpec& s) {
  const ActivationInfo& info = activation_info(s.act);
  if (info.n_args == 1 && !std::isfinite(s.arg[0]))
    bad(s, std::string(info.arg_name) + " must be finite");
}
bool activation_differentiable(const LayerSpec& s) {
  return activation_info(s.act).differentiable;
}
template <typename T>
void activation_fwd(LayerSlot<T>& s, const T* in, int B, const PassContext&) {
  activation_forward(s.spec->act, s.out, in, size_t(B) * s.spec->n_out, s.spec->arg[0]);
}
template <typename T>
T* activation_bwd(LayerSlot<T>& s, T* d, T*, const T* in, int B, T*, const PassContext&) {
  activation_backward(s.spec->act, d, d, in, s.out, size_t(B) * s.spec->n_out, s.spec->arg[0]);
  return d;
}

#define MLPCORE_OPS(fwd, bwd, init)        \
  {fwd<float>, bwd<float>, init<float>}, { \
    fwd<double>, bwd<double>, init<double> \
  }

const LayerKind KINDS[] = {
    {"dense",
     0,
     {nullptr, nullptr},
     false,
     false,
     dense_sizes,
     no_check,
     always,
     MLPCORE_OPS(dense_fwd, dense_bwd, no_state)},
    {"batchnorm",
     2,
     {"momentum", "eps"},
     true,
     true,
     batchnorm_sizes,
     batchnorm_check,
     always,
     MLPCORE_OPS(batchnorm_fwd, batchnorm_bwd, batchnorm_init_state)},
    {"dropout",
     1,
     {"p", nullptr},
     true,
     false,
     dropout_sizes,
     dropout_check,
     always,
     MLPCORE_OPS(dropout_fwd, dropout_bwd, no_state)},
    {"layernorm",
     1,
     {"eps", nullptr},
     true,
     false,
     layernorm_sizes,
     layernorm_check,
     always,
     MLPCORE_OPS(layernorm_fwd, layernorm_bwd, no_state)},
    // every activation of the registry; the arguments come from its ActivationInfo
    {"activation",
     0,
     {nullptr, nullptr},
     true,
     false,
     activation_sizes,
     activation_check,
     activation_differentiable,
     MLPCORE_OPS(activation_fwd, activation_bwd, no_state)},
};
#undef MLPCORE_OPS
constexpr const LayerKind& ACTIVATION = KINDS[std::size(KINDS) - 1];

}  // namespace

std::string layer_spec_name(const LayerSpec& s) {
  return s.kind == &ACTIVATION ? activation_info(s.act).name : s.kind->name;
}

LayerSpec make_layer_spec(const std::string& name, long long n_in, long long n_out,
                          const std::vector<double>& args) {
  LayerSpec s;
  int n_args = -1;
  const char* const* arg_names = nullptr;
  for (const LayerKind& k : KINDS)
    if (&k != &ACTIVATION && name == k.name) {
      s.kind = &k;
      n_args = k.n_args;
      arg_names = k.arg_names;
    }
  if (!s.kind) {
    const ActivationInfo* info = nullptr;
    try {
      info = &activation_info(name);
    } catch (const std::invalid_argument&) {
      std::string known;
      for (const LayerKind& k : KINDS)
        if (&k != &ACTIVATION) known += std::string(k.name) + ", ";
      throw std::invalid_argument("unknown layer kind '" + name + "'; known layer kinds: " + known +
                                  activation_names());
    }
    s.kind = &ACTIVATION;
    s.act = info->kind;
    n_args = info->n_args;
    arg_names = &info->arg_name;
  }
  if (n_in < 1 || n_out < 1 || n_in > INT_MAX || n_out > INT_MAX)
    throw std::invalid_argument(name + ": widths must lie in [1, " + std::to_string(INT_MAX) +
                                "], got (" + std::to_string(n_in) + ", " + std::to_string(n_out) +
                                ")");
  if (s.kind->keeps_width && n_in != n_out)
    throw std::invalid_argument(name + " keeps its width: n_in " + std::to_string(n_in) +
                                " != n_out " + std::to_string(n_out));
  if (int(args.size()) != n_args) {
    std::string names;
    for (int i = 0; i < n_args; ++i) names += std::string(i ? ", " : " (") + arg_names[i];
    throw std::invalid_argument(name + " takes " + std::to_string(n_args) + " argument" +
                                (n_args == 1 ? "" : "s") + (n_args ? names + ")" : "") +
                                " after its widths, got " + std::to_string(args.size()));
  }
  s.n_in = int(n_in);
  s.n_out = int(n_out);
  for (size_t i = 0; i < args.size(); ++i) s.arg[i] = args[i];
  s.kind->check(s);
  return s;
}

}  // namespace mlpcore
