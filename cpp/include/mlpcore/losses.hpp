// Fused output activation + loss pairs. Twin: reference/losses.py.
//   loss = (1/B) sum_i sum_k l(z_ik, y_ik);  h = output activation;  dz = (h - y) / B
//   softmax_cross_entropy: h = softmax(z), l_i = lse(z_i) sum_k y_ik - sum_k y_ik z_ik
//   binary_cross_entropy:  h = sigmoid(z), l = max(z, 0) - z y + log1p(exp(-|z|))
//   mse:                   h = z,          l = (z - y)^2 / 2
#pragma once
#include <string>

namespace mlpcore {

enum class Loss { SoftmaxCrossEntropy, BinaryCrossEntropy, Mse };

Loss loss_from_name(const std::string& name);
const char* loss_name(Loss l);

// h = output activation of z; z and h are (B, K); h may alias z.
template <typename T>
void output_activation(Loss l, T* h, const T* z, int B, int K);

// Fills h (B, K) and returns the mean loss over the B rows of z (B, K), y (B, K).
template <typename T>
double loss_forward(Loss l, T* h, const T* z, const T* y, int B, int K);

// dz = (h - y) / B; all (B, K); the same for every pair.
template <typename T>
void loss_backward(T* dz, const T* h, const T* y, int B, int K);

}  // namespace mlpcore
