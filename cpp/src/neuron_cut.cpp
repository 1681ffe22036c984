// The training step cut by neurons: the column-then-row split of tensor-parallel MLPs
// (Megatron-LM) applied to a network's first two dense layers, so that two threads share a
// step without either one reading the weights the other updates (bench/README.md, findings
// 12, 14 and 16: a cut of the batch makes each core read every weight the other wrote).
//
// The network starts dense (I -> H0), a differentiable activation f, dense (H0 -> H1). Piece
// p = 0, 1 owns the hidden units [p h, (p + 1) h), h = H0 / 2: those columns of the first
// layer's weights W0 and bias b0, their net inputs z0 and activations a0, and those rows of
// the second layer's weights W1. One step:
//   A, both pieces: z0_p = X W0[:, p] + b0[p], a0_p = f(z0_p); piece 0 z1 = a0_0 W1[0] + b1,
//     piece 1 q = a0_1 W1[1].
//   The caller: z1 = z1 + q, the rest of the network forward, the loss, and the rest's
//     backward down to dL/dz1 (its own layers step or accumulate as in the whole step).
//   C, both pieces: d_p = dL/dz1 W1[p]^T (W1 before the step); the rows W1[p] step, or
//     accumulate their gradient, by a0_p^T dL/dz1, piece 0 with b1; d_p *= f'(z0_p); the
//     columns W0[:, p] and b0[p] by X^T d_p.
// A and C are two tasks each on the pool, and one thread runs them one after the other: a
// product inside a task is never cut again, so every product is the same call with the same
// shapes whoever runs it, and a step gives the same bits at every thread count. Against the
// whole step the results differ by rounding only (z1's sum over H0 is taken in two halves).
// z0 and a0 are kept piece by piece (a (B, h) block each, piece 0's first) in the first two
// layers' output buffers, so that each piece's activations are contiguous.
#include <cstdint>
#include <cstring>

#include "mlpcore/activations.hpp"
#include "mlpcore/blas.hpp"
#include "mlpcore/layers.hpp"
#include "mlpcore/network.hpp"
#include "mlpcore/parallel.hpp"

namespace mlpcore {

namespace {
// H0 must be a multiple of this: each piece's h columns are then a multiple of 16 values (one
// AVX-512 register of floats), so neither half ends inside a vector of the product kernels.
constexpr int CUT_MULTIPLE = 32;
// The cut pays only where the products it cuts are big enough: below this many
// floating-point operations per step its one-thread cost (each cut product called twice at
// half the size) is not repaid on two (bench/README.md, finding 16).
constexpr double CUT_MIN_FLOPS = 4e6;

bool kind_is(const LayerSpec& s, const char* name) {
  return std::strcmp(s.kind->name, name) == 0;
}
}  // namespace

template <typename T>
bool Network<T>::neuron_cut_layers(const std::vector<LayerSpec>& layers) {
  if (layers.size() < 3) return false;
  const LayerSpec &d0 = layers[0], &f = layers[1], &d1 = layers[2];
  return kind_is(d0, "dense") && kind_is(f, "activation") && f.kind->differentiable(f) &&
         kind_is(d1, "dense") && d0.n_out % CUT_MULTIPLE == 0;
}

template <typename T>
bool Network<T>::cuts_by_neurons(int B) const {
  if (!cut_layers_ || B < 2) return false;
  const int I = layers_[0].n_in, H0 = layers_[0].n_out, H1 = layers_[2].n_out;
  // the cut products: layer 0 forward and weight gradient, layer 2 forward, weight gradient
  // and delta
  if (2.0 * B * (2.0 * I * H0 + 3.0 * H0 * H1) < CUT_MIN_FLOPS) return false;
  // Where the uncut step would cut one of them into more than two panels, more than two
  // threads share it; two pieces would leave the others idle.
  return gemm_panels(B, H0, I) <= 2 && gemm_panels(I, H0, B) <= 2 && gemm_panels(B, H1, H0) <= 2 &&
         gemm_panels(H0, H1, B) <= 2 && gemm_panels(B, H0, H1) <= 2;
}

namespace {
// The sizes both phases index by.
struct CutShape {
  int I, H0, h, H1;
  std::size_t block;    // one piece's z0, a0 or delta: (B, h)
  std::size_t w1_rows;  // one piece's rows of W1: (h, H1)
  CutShape(const std::vector<LayerSpec>& layers, int B)
      : I(layers[0].n_in),
        H0(layers[0].n_out),
        h(H0 / 2),
        H1(layers[2].n_out),
        block(std::size_t(B) * std::size_t(h)),
        w1_rows(std::size_t(h) * std::size_t(H1)) {}
};
}  // namespace

template <typename T>
const T* Network<T>::cut_forward(Workspace<T>& ws, int B, const PassContext& ctx) {
  const CutShape c(layers_, B);
  LayerSlot<T>& d0 = ws.layers[0];
  LayerSlot<T>& act = ws.layers[1];
  LayerSlot<T>& d1 = ws.layers[2];
  T* q = ws.delta[1];  // piece 1's part of z1 (B, H1): the deltas are free until backward
  auto forward_piece = [&](int p) {
    T* z0 = d0.out + p * c.block;
    T* a0 = act.out + p * c.block;
    dense_forward(z0, ws.x, d0.w + p * c.h, d0.b + p * c.h, B, c.I, c.h, c.H0);
    activation_forward(layers_[1].act, a0, z0, c.block, layers_[1].arg[0]);
    dense_forward(p == 0 ? d1.out : q, a0, d1.w + p * c.w1_rows, p == 0 ? d1.b : nullptr, B, c.h,
                  c.H1);
  };
  parallel::run(2, forward_piece, parallel::late_ns_for_flops(2.0 * B * c.h * (c.I + c.H1)));
  T* z1 = d1.out;  // (z0_0 W1[0] + b1) + z0_1 W1[1], in this order at every thread count
  for (std::size_t i = 0; i < std::size_t(B) * std::size_t(c.H1); ++i) z1[i] += q[i];
  return forward(ws, z1, B, ctx, 3);
}

template <typename T>
void Network<T>::cut_backward(Workspace<T>& ws, int B, const PassContext& ctx) {
  const CutShape c(layers_, B);
  LayerSlot<T>& d0 = ws.layers[0];
  LayerSlot<T>& act = ws.layers[1];
  LayerSlot<T>& d1 = ws.layers[2];
  const T* dz1 = backward(ws, ws.x, B, ctx, 3);  // zeroes the gradients it accumulates into
  T* da0 = dz1 == ws.delta[0] ? ws.delta[1] : ws.delta[0];
  auto backward_piece = [&](int p) {
    const T* z0 = d0.out + p * c.block;
    const T* a0 = act.out + p * c.block;
    T* d = da0 + p * c.block;                                         // (B, h)
    T* sums = ws.scratch + std::size_t(p) * std::size_t(max_width_);  // the bias gradient
    T* w1 = d1.w + p * c.w1_rows;
    if (ctx.sgd)
      dense_backward_sgd(d, w1, p == 0 ? d1.b : nullptr, sums, dz1, a0, B, c.h, c.H1, ctx.sgd->lr,
                         ctx.sgd->decay);
    else
      dense_backward(d, d1.dw + p * c.w1_rows, p == 0 ? d1.db : nullptr, dz1, a0, w1, B, c.h, c.H1);
    activation_backward(layers_[1].act, d, d, z0, a0, c.block, layers_[1].arg[0]);
    if (ctx.sgd)
      dense_backward_sgd<T>(nullptr, d0.w + p * c.h, d0.b + p * c.h, sums, d, ws.x, B, c.I, c.h,
                            ctx.sgd->lr, ctx.sgd->decay, c.H0);
    else
      dense_backward<T>(nullptr, d0.dw + p * c.h, d0.db + p * c.h, d, ws.x, d0.w + p * c.h, B, c.I,
                        c.h, c.H0);
  };
  parallel::run(2, backward_piece, parallel::late_ns_for_flops(2.0 * B * c.h * (c.I + 2 * c.H1)));
}

#define MLPCORE_INSTANTIATE(T)                                                       \
  template bool Network<T>::neuron_cut_layers(const std::vector<LayerSpec>&);        \
  template bool Network<T>::cuts_by_neurons(int) const;                              \
  template const T* Network<T>::cut_forward(Workspace<T>&, int, const PassContext&); \
  template void Network<T>::cut_backward(Workspace<T>&, int, const PassContext&);
MLPCORE_INSTANTIATE(float)
MLPCORE_INSTANTIATE(double)
#undef MLPCORE_INSTANTIATE

}  // namespace mlpcore
