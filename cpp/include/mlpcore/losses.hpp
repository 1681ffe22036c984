// Fused output activation + loss pairs. Twin: reference/losses.py.
//   loss = sum_i w_i sum_k l(z_ik, y_ik) / sum_i w_i   (w = 1 without sample weights)
//   h = output activation;  dz_i = w_i (h_i - y_i) / sum_j w_j   (the same for every pair)
//   softmax_cross_entropy: h = softmax(z), l_i = lse(z_i) sum_k y_ik - sum_k y_ik z_ik
//   binary_cross_entropy:  h = sigmoid(z), l = max(z, 0) - z y + log1p(exp(-|z|))
//   mse:                   h = z,          l = (z - y)^2 / 2
//   poisson:               h = exp(z),     l = exp(z) - y z + y log y - y  (half deviance x2 / 2:
//                          scikit-learn's poisson loss; zero at h = y)
//   hinge:                 h = z, l_i = (1/K) sum_k max(0, 1 - t z)      (Keras' hinge and
//   squared_hinge:         h = z, l_i = (1/K) sum_k max(0, 1 - t z)^2     squared_hinge: the mean
//                          over outputs), t = y with the label 0 read as -1 (labels in {-1, 1}
//                          or {0, 1}); dz = w_i / sum w * (-t [t z < 1]) / K, resp.
//                          (-2 t max(0, 1 - t z)) / K: not h - y
#pragma once
#include <string>

namespace mlpcore {

// Count is the number of losses (the registry in losses.cpp has one entry per value, in this
// order; a static_assert checks it); the switches over Loss have no default.
enum class Loss {
  SoftmaxCrossEntropy,
  BinaryCrossEntropy,
  Mse,
  Poisson,
  Hinge,
  SquaredHinge,
  Count
};

Loss loss_from_name(const std::string& name);
const char* loss_name(Loss l);

// h = output activation of z; z and h are (B, K); h must not alias z.
template <typename T>
void output_activation(Loss l, T* h, const T* z, int B, int K);

// Fills h (B, K) and returns the (weighted) mean loss over the B rows of z (B, K), y (B, K);
// w (B,) are sample weights (> 0) or null for equal weights.
template <typename T>
double loss_forward(Loss l, T* h, const T* z, const T* y, const T* w, int B, int K);

// dz (B, K) = w_i g(h, y) / sum(w), or g(h, y) / B when w is null, with the output error
// g = h - y for the fused pairs (softmax, sigmoid, identity, exp) and the hinge derivatives
// above for hinge and squared_hinge (whose h is z).
template <typename T>
void loss_backward(Loss l, T* dz, const T* h, const T* y, const T* w, int B, int K);

// sum of w (B,) in double, or B when w is null.
template <typename T>
double weight_sum(const T* w, int B);

}  // namespace mlpcore
