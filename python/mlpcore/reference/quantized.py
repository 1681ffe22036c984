"""Quantized int8 inference, the twin of cpp/include/mlpcore/quantized.hpp (read it for the
scheme). The same integers as the C++ kernels (int32 accumulators bitwise equal, whichever
kernel ran), the same float32 operations in the same order after them::

    quantize_weights(W) -> (wq int8 (K, N) in [-127, 127], s_w float32 (N,))
    input_quantization(lo, hi) -> (scale, zp): 7-bit asymmetric, 0 exactly representable
    quantize_input(x, inv_s, zp) -> xq uint8 in [0, 127]
    int8_gemm(xq, wq) -> acc int32 = xq @ wq
    dense_output(acc, zp, colsum, scale, bias) -> z float32
    QuantizedNetwork: the C++ class's methods (add_dense, add_activation, add_affine,
        predict, trace)

Hand-worked example: x = [0.5, -1.0] with calibrated range [-1, 1]::

    scale = 2/127,
    zp = round(1 / (2/127)) = round(63.5) = 64 (half to even), inv_s = 63.5, so
    xq = rint(clip([31.75, -63.5], -64, 63)) + 64 = [32, -64] + 64 = [96, 0]
    (rint(-63.5) = -64, half to even). With wq = [[2], [1]] (colsum 3):
    acc = 96*2 + 0*1 = 192, acc - zp*colsum = 192 - 192 = 0 -> z = 0*scale + bias = bias;
    the float product would give 0.5*2 + (-1.0)*1 = 0 times the weight scale. Exact here.
"""

import numpy as np

from . import activations, losses

QMAX = 127  # activations are 7-bit: [0, 127] (no kernel path saturates, quantized.hpp)
WMAX = 127  # weights symmetric in [-127, 127]
MAX_K = 133000  # 127 * 127 * MAX_K < 2**31: an int32 accumulator cannot overflow
_F = np.float32


def quantize_weights(W):
    """Per output column symmetric int8: s_w = max|W[:, n]| / 127 (1 for a zero column),
    wq = clip(rint(W / s_w), -127, 127)."""
    W = np.asarray(W, np.float64)
    amax = np.abs(W).max(axis=0)
    s = np.where(amax > 0, amax / WMAX, 1.0)
    wq = np.clip(np.rint(W / s), -WMAX, WMAX).astype(np.int8)
    return wq, s.astype(_F)


def input_quantization(lo, hi):
    """(scale, zp) for values calibrated to [lo, hi]: the range widened to hold 0, then
    scale = (hi - lo) / 127 and zp = rint(-lo / scale) in [0, 127] (scale 1 for [0, 0]).
    scale is a float32 value (returned as a Python float)."""
    lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
    scale = float(_F((hi - lo) / QMAX)) if hi > lo else 1.0
    if not scale > 0 or not np.isfinite(scale):  # a range beyond float32, or subnormal
        raise ValueError(f"cannot quantize values in [{lo}, {hi}] to 8 bits in float32")
    zp = int(np.clip(np.rint(-lo / scale), 0, QMAX))
    return scale, zp


def derived(in_scale, w_scale):
    """(inv_s, scale) as the model builds them from its record: 1 / in_scale and
    in_scale * s_w, both float32 operations."""
    s = _F(in_scale)
    return _F(1) / s, (s * np.asarray(w_scale, _F)).astype(_F)


def quantize_input(x, inv_s, zp):
    """xq = rint(clip(x * inv_s, -zp, 127 - zp)) + zp, in float32 (round half to even)."""
    t = np.asarray(x, _F) * _F(inv_s)
    t = np.minimum(np.maximum(t, _F(-zp)), _F(QMAX - zp))
    return (np.rint(t) + _F(zp)).astype(np.uint8)


def int8_gemm(xq, wq):
    """acc (M, N) int32 = xq (M, K) @ wq (K, N), exact."""
    return np.asarray(xq).astype(np.int32) @ np.asarray(wq).astype(np.int32)


def dense_output(acc, zp, colsum, scale, bias):
    """z = float32(acc - zp * colsum) * scale + bias, one rounding per operation (no FMA)."""
    f = (acc - np.int32(zp) * colsum.astype(np.int32)).astype(_F)
    return (f * scale) + bias


class QuantizedNetwork:
    """The twin of _core.QuantizedNetwork: dense layers and the float steps between them."""

    def __init__(self, n_in, loss):
        if loss not in losses.NAMES:
            raise ValueError(f"unknown loss {loss!r}")
        self.n_in, self.loss = int(n_in), loss
        self._prelude, self._layers = [], []  # layers: [wq, colsum, scale, bias, zp, inv_s, steps]

    def _width(self):
        return self.n_in if not self._layers else self._layers[-1][0].shape[1]

    def _steps(self):
        return self._layers[-1][6] if self._layers else self._prelude

    def add_dense(self, wq, scale, bias, zp, inv_s):
        """Appends an int8 Dense layer: weights wq int8 (K, N), output scales scale (N,), bias
        (N,), and the input quantization (zero point zp, inverse scale inv_s) of its input."""
        wq = np.asarray(wq, np.int8)
        if wq.ndim != 2 or wq.shape[0] != self._width():
            raise ValueError(f"wq must have {self._width()} rows, got shape {wq.shape}")
        if wq.shape[0] > MAX_K:
            raise ValueError(f"int8 weights: K = {wq.shape[0]} exceeds {MAX_K}")
        if (wq < -WMAX).any():
            raise ValueError("int8 weights must lie in [-127, 127]")
        if not 0 <= int(zp) <= QMAX:
            raise ValueError(f"zero point must lie in [0, 127], got {zp}")
        colsum = wq.astype(np.int32).sum(axis=0)
        self._layers.append(
            [wq, colsum, np.asarray(scale, _F), np.asarray(bias, _F), int(zp), _F(inv_s), []]
        )

    def add_activation(self, name, param=0.0):
        """Appends an activation (float32) after the last layer; param as in activations.py."""
        activations._known(name)
        self._steps().append(("act", name, float(param)))

    def add_affine(self, a, c):
        """Appends a float32 affine step y = a * y + c (a BatchNorm that could not be folded)."""
        a, c = np.asarray(a, _F), np.asarray(c, _F)
        if a.shape != (self._width(),) or c.shape != a.shape:
            raise ValueError(f"an affine step must have width {self._width()}")
        self._steps().append(("affine", a, c))

    @property
    def n_out(self):
        """The output width (the last Dense layer's N)."""
        return self._layers[-1][0].shape[1]

    @property
    def n_dense(self):
        """The number of Dense layers."""
        return len(self._layers)

    @staticmethod
    def _apply(steps, y):
        for s in steps:
            if s[0] == "affine":
                y = (y * s[1]) + s[2]
            else:
                y = activations.activation_forward(s[1], y, s[2]).astype(_F, copy=False)
        return y

    def _run(self, X, stop_at=None):
        y = self._apply(self._prelude, np.asarray(X, _F))
        for i, (wq, colsum, scale, bias, zp, inv_s, steps) in enumerate(self._layers):
            xq = quantize_input(y, inv_s, zp)
            acc = int8_gemm(xq, wq)
            if i == stop_at:
                return xq, acc
            y = self._apply(steps, dense_output(acc, zp, colsum, scale, bias))
        return y

    def predict(self, X, probabilities=True):
        """(M, n_out) float32: the output activation, or the last layer's float z."""
        z = self._run(X)
        return losses.output_activation(self.loss, z).astype(_F) if probabilities else z

    def trace(self, i, X):
        """(xq, acc) of dense layer i: its quantized input and int32 accumulators."""
        if not 0 <= i < len(self._layers):
            raise ValueError(f"layer index {i} out of range")
        return self._run(X, stop_at=i)
