"""Fused output activation + loss pairs (twin of cpp/include/mlpcore/losses.hpp).

Each pair maps the last layer's net input z (B, K) and a target matrix y (B, K) to the
per-sample loss l_i = sum_k l(z_ik, y_ik) (summed over outputs) and::

    loss = (1/B) sum_i l_i                              without sample weights
    loss = sum_i w_i l_i / sum_i w_i                    with weights w (B,) > 0 (float64 sums)
    h    = output activation of z                       (what predict() returns)
    dz   = (h - y) / B,   or (h - y) * (w_i / sum w)    (the output error delta; the hinge
                                                         losses: their derivative, below)

The pairs::

  softmax_cross_entropy: h = softmax(z), l_i = logsumexp(z_i) sum_k y_ik - sum_k y_ik z_ik
  binary_cross_entropy:  h = sigmoid(z), l = max(z, 0) - z y + log1p(exp(-|z|))
  mse:                   h = z,          l = (z - y)^2 / 2
  poisson:               h = exp(z),     l = exp(z) - y z + (y log y - y if y > 0 else 0)
                         (scikit-learn's half Poisson deviance; y >= 0, log link)
  hinge:                 h = z,          l_i = mean_k max(0, 1 - t z)        (Keras' hinge and
  squared_hinge:         h = z,          l_i = mean_k max(0, 1 - t z)^2      squared_hinge)
                         with t = y, the label 0 read as -1 (labels in {-1, 1} or {0, 1});
                         the mean over the K outputs, not the sum, as Keras;
                         dz = -t [t z < 1] / K, resp. -2 t max(0, 1 - t z) / K, times 1/B or
                         w_i / sum w (derivative 0 at the kink t z = 1)

The weighted scale w_i / sum w is computed in float64, then cast to the dtype.
Every form but poisson's exp is stable for logits of any size (no exp of a positive number).
"""

import numpy as np

from .._common import LOSSES
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


def _poisson(z, y):
    h = np.exp(z)
    positive = y > 0
    ylogy = np.where(positive, y * np.log(np.where(positive, y, 1)) - y, 0).astype(z.dtype)
    return (h - y * z + ylogy).sum(axis=1), h


def hinge_labels(y):
    """t = y with 0 read as -1: {0, 1} labels as {-1, 1}."""
    return np.where(y == 0, y.dtype.type(-1), y)


def _hinge(z, y):
    margin = np.maximum(1 - hinge_labels(y) * z, 0)
    return margin.sum(axis=1) / z.dtype.type(z.shape[1]), z.copy()


def _squared_hinge(z, y):
    margin = np.maximum(1 - hinge_labels(y) * z, 0)
    return (margin * margin).sum(axis=1) / z.dtype.type(z.shape[1]), z.copy()


def _hinge_error(h, y):
    t = hinge_labels(y)
    return np.where(1 - t * h > 0, -t, 0).astype(h.dtype)


def _squared_hinge_error(h, y):
    t = hinge_labels(y)
    m = 1 - t * h
    return np.where(m > 0, -2 * t * m, 0).astype(h.dtype)


# the hinge losses' derivative in h (= z), before the scale 1 / (B K) or w_i / (K sum w)
_HINGE_ERRORS = {"hinge": _hinge_error, "squared_hinge": _squared_hinge_error}


PAIRS = {
    "softmax_cross_entropy": _softmax_cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
    "mse": _mse,
    "poisson": _poisson,
    "hinge": _hinge,
    "squared_hinge": _squared_hinge,
}
NAMES = LOSSES  # PAIRS has one entry per name (tests/test_architecture.py)


def output_activation(name, z):
    """h for the named pair: softmax, sigmoid, identity (mse, hinge, squared_hinge) or exp of
    z (B, K)."""
    if name == "softmax_cross_entropy":
        return softmax(z)[0]
    if name == "binary_cross_entropy":
        return sigmoid(z)
    if name == "poisson":
        return np.exp(z)
    return z.copy()


def weight_sum(w, B):
    """sum of the weights (B,) in float64; B without weights."""
    return float(B) if w is None else float(np.asarray(w, np.float64).sum())


def loss_forward(name, z, y, w=None):
    """Mean (or w-weighted mean) loss over the batch (a float) and the output activation h."""
    per_sample, h = PAIRS[name](z, y)
    if w is None:
        return float(per_sample.sum(dtype=np.float64) / z.shape[0]), h
    w64 = np.asarray(w, np.float64)
    return float((w64 * per_sample.astype(np.float64)).sum() / w64.sum()), h


def loss_backward(name, h, y, w=None):
    """Output error delta dz = (h - y) / B, or (h - y) * T(w_i / sum w), for the fused pairs;
    for the hinge losses their derivative g(h, y) times T(1 / (B K)) or T(w_i / (K sum w))."""
    if name in _HINGE_ERRORS:
        B, K = h.shape
        g = _HINGE_ERRORS[name](h, y)
        if w is None:
            return g * h.dtype.type(1.0 / (float(B) * K))
        w64 = np.asarray(w, np.float64)
        return g * (w64 / (w64.sum() * K)).astype(h.dtype)[:, None]
    if w is None:
        return (h - y) / h.dtype.type(h.shape[0])
    w64 = np.asarray(w, np.float64)
    return (h - y) * (w64 / w64.sum()).astype(h.dtype)[:, None]
