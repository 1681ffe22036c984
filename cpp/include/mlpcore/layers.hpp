// Layers with parameters or randomness: free forward/backward pairs over caller-owned buffers.
// Forward fills exactly the cache that backward reads. Twin: reference/layers.py.
// Outputs first, then const inputs, then sizes; parameter gradients accumulate with +=.
#pragma once
#include <cstdint>

namespace mlpcore {

// ---- dense: z = x W + b ----------------------------------------------------------------
// x is (B, I), w is (I, O), b is (O,), z is (B, O). w (and dw) may be a block of O columns of
// a wider matrix whose rows are ldw apart (0: O): the neuron cut's pieces (neuron_cut.cpp)
// run a column block of one layer's weights. A null b leaves the bias out: z = x W.
template <typename T>
void dense_forward(T* z, const T* x, const T* w, const T* b, int B, int I, int O, int ldw = 0);

// dz is (B, O); dx (B, I) = dz W^T (skipped when dx is null), dw (I, O) += x^T dz,
// db (O,) += column sums of dz (skipped when db is null).
template <typename T>
void dense_backward(T* dx, T* dw, T* db, const T* dz, const T* x, const T* w, int B, int I, int O,
                    int ldw = 0);

// The same backward with a plain SGD step fused in (no gradient buffer): dx (B, I) = dz W^T
// with W before the step (skipped when dx is null), then W = (1 - lr decay) W - lr x^T dz in
// one gemm, and b -= lr * column sums of dz, summed in sums (O,) first (skipped when b is null).
template <typename T>
void dense_backward_sgd(T* dx, T* w, T* b, T* sums, const T* dz, const T* x, int B, int I, int O,
                        double lr, double decay, int ldw = 0);

// ---- batch normalisation (PyTorch's conventions) ---------------------------------------
// x, y, xhat are (B, F); gamma, beta, running_mean, running_var, inv_std are (F,).
// Training: batch mean and biased variance; with update_running the running statistics
// move by momentum towards the batch mean and the unbiased batch variance.
// Evaluation: normalise with the running statistics. Throws for B < 2 in training.
// Cache for backward: xhat, inv_std.
template <typename T>
void batchnorm_forward(T* y, T* xhat, T* inv_std, T* running_mean, T* running_var, const T* x,
                       const T* gamma, const T* beta, int B, int F, bool training, double momentum,
                       double eps, bool update_running);

// dy, dx are (B, F) (dx may alias dy); dgamma, dbeta (F,) += their gradients;
// sums (2F,) is scratch for the per-feature sums.
// Training: dx = gamma inv_std / B (B dy - sum dy - xhat sum(dy xhat)); evaluation:
// dx = gamma inv_std dy.
template <typename T>
void batchnorm_backward(T* dx, T* dgamma, T* dbeta, T* sums, const T* dy, const T* xhat,
                        const T* inv_std, const T* gamma, int B, int F, bool training);

// ---- layer normalisation (torch.nn.LayerNorm's conventions, over the features of a row) -----
// x, y, xhat are (B, F); gamma, beta are (F,); inv_std is (B,). Each row is normalised by its
// own mean and biased (1/F) variance: xhat = (x - mean) inv_std, inv_std = 1/sqrt(var + eps),
// y = gamma xhat + beta. The same in training and evaluation (no running statistics).
// Cache for backward: xhat, inv_std.
template <typename T>
void layernorm_forward(T* y, T* xhat, T* inv_std, const T* x, const T* gamma, const T* beta, int B,
                       int F, double eps);

// dy, dx are (B, F) (dx may alias dy); dgamma, dbeta (F,) += sum over rows of dy xhat, dy.
// Per row, with g = gamma dy: dx = inv_std / F (F g - sum(g) - xhat sum(g xhat)).
template <typename T>
void layernorm_backward(T* dx, T* dgamma, T* dbeta, const T* dy, const T* xhat, const T* inv_std,
                        const T* gamma, int B, int F);

// ---- inverted dropout ------------------------------------------------------------------
// x, y, mask are (n,) = (B * F). Training with p > 0: mask = keep ? 1/(1-p) : 0 drawn from
// rng key (seed, DROPOUT, step, layer), y = x mask. Otherwise y = x and mask is untouched.
// Returns whether a mask was drawn (backward needs to know).
template <typename T>
bool dropout_forward(T* y, T* mask, const T* x, std::int64_t n, double p, std::uint64_t seed,
                     std::uint64_t step, std::uint64_t layer, bool training);

// dx = dy * mask, or dx = dy when mask is null; dx may alias dy.
template <typename T>
void dropout_backward(T* dx, const T* dy, const T* mask, std::int64_t n);

}  // namespace mlpcore
