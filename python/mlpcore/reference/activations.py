"""Elementwise activations and their derivatives (twin of cpp/include/mlpcore/activations.hpp).

Backward passes take the forward *output* h (all derivatives here are functions of it):
    sigmoid' = h (1 - h),  tanh' = 1 - h^2,  relu' = [h > 0],  identity' = 1.
Step and sign have derivative zero almost everywhere: they have no backward pass.
"""
import numpy as np


def sigmoid(z):
    """Numerically stable logistic function: never evaluates exp of a positive number."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def _step(z):
    return (z >= 0).astype(z.dtype)


def _sign(z):
    return np.where(z >= 0, 1, -1).astype(z.dtype)


FORWARD = {
    "identity": lambda z: z.copy(),
    "step": _step,
    "sign": _sign,
    "sigmoid": sigmoid,
    "tanh": np.tanh,
    "relu": lambda z: np.maximum(z, 0),
}

# derivative dh/dz written as a function of the output h
DERIVATIVE = {
    "identity": lambda h: np.ones_like(h),
    "sigmoid": lambda h: h * (1 - h),
    "tanh": lambda h: 1 - h * h,
    "relu": lambda h: (h > 0).astype(h.dtype),
}

NAMES = tuple(FORWARD)
DIFFERENTIABLE = tuple(DERIVATIVE)


def activation_forward(name, z):
    """h = f(z); z is (B, F), h is (B, F)."""
    return FORWARD[name](z)


def activation_backward(name, dh, h):
    """dz = dh * f'(z), from the forward output h; dh, h and dz are (B, F)."""
    if name not in DERIVATIVE:
        raise ValueError(f"activation {name!r} has zero derivative almost everywhere: "
                         "no gradient can pass through it")
    return dh * DERIVATIVE[name](h)
