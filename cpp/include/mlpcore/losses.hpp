// Fused output activation + loss pairs. Twin: reference/losses.py.
//   loss = sum_i w_i sum_k l(z_ik, y_ik) / sum_i w_i   (w = 1 without sample weights)
//   h = output activation;  dz_i = w_i (h_i - y_i) / sum_j w_j   (the same for every pair)
//   softmax_cross_entropy: h = softmax(z), l_i = lse(z_i) sum_k y_ik - sum_k y_ik z_ik
//   binary_cross_entropy:  h = sigmoid(z), l = max(z, 0) - z y + log1p(exp(-|z|))
//   mse:                   h = z,          l = (z - y)^2 / 2
//   poisson:               h = exp(z),     l = exp(z) - y z + y log y - y  (half deviance x2 / 2:
//                          scikit-learn's poisson loss; zero at h = y)
#pragma once
#include <string>

namespace mlpcore {

enum class Loss { SoftmaxCrossEntropy, BinaryCrossEntropy, Mse, Poisson };

Loss loss_from_name(const std::string& name);
const char* loss_name(Loss l);

// h = output activation of z; z and h are (B, K); h must not alias z.
template <typename T>
void output_activation(Loss l, T* h, const T* z, int B, int K);

// Fills h (B, K) and returns the (weighted) mean loss over the B rows of z (B, K), y (B, K);
// w (B,) are sample weights (> 0) or null for equal weights.
template <typename T>
double loss_forward(Loss l, T* h, const T* z, const T* y, const T* w, int B, int K);

// dz (B, K) = w_i (h - y) / sum(w), or (h - y) / B when w is null.
template <typename T>
void loss_backward(T* dz, const T* h, const T* y, const T* w, int B, int K);

// sum of w (B,) in double, or B when w is null.
template <typename T>
double weight_sum(const T* w, int B);

}  // namespace mlpcore
