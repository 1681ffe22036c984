"""Fused output activation + loss pairs (twin of cpp/include/mlpcore/losses.hpp).

Each pair maps the last layer's net input z (B, K) and a target matrix y (B, K) to
    loss = (1/B) sum_i sum_k l(z_ik, y_ik)        (mean over samples, sum over outputs)
    h    = output activation of z                   (what predict() returns)
    dz   = (h - y) / B                              (the output error delta)
  softmax_cross_entropy: h = softmax(z), l_i = logsumexp(z_i) sum_k y_ik - sum_k y_ik z_ik
  binary_cross_entropy:  h = sigmoid(z), l = max(z, 0) - z y + log1p(exp(-|z|))
  mse:                   h = z,          l = (z - y)^2 / 2
Every form is stable for logits of any size (no exp of a positive number).
"""
import numpy as np

from .activations import sigmoid


def softmax(z):
    """Row-wise softmax and log-sum-exp; z is (B, K); returns h (B, K) and lse (B,)."""
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    return e / s, (m + np.log(s))[:, 0]


def _softmax_cross_entropy(z, y):
    h, lse = softmax(z)
    per_sample = lse * y.sum(axis=1) - (y * z).sum(axis=1)
    return per_sample, h


def _binary_cross_entropy(z, y):
    per_elem = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))
    return per_elem.sum(axis=1), sigmoid(z)


def _mse(z, y):
    d = z - y
    return 0.5 * (d * d).sum(axis=1), z.copy()


PAIRS = {
    "softmax_cross_entropy": _softmax_cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
    "mse": _mse,
}
NAMES = tuple(PAIRS)


def output_activation(name, z):
    """h for the named pair: softmax, sigmoid or identity of z (B, K)."""
    if name == "softmax_cross_entropy":
        return softmax(z)[0]
    if name == "binary_cross_entropy":
        return sigmoid(z)
    return z.copy()


def loss_forward(name, z, y):
    """Mean loss over the batch (a float) and the output activation h (B, K)."""
    per_sample, h = PAIRS[name](z, y)
    return float(per_sample.sum(dtype=np.float64) / z.shape[0]), h


def loss_backward(h, y):
    """Output error delta dz = (h - y) / B, the same for every pair."""
    return (h - y) / h.dtype.type(h.shape[0])
