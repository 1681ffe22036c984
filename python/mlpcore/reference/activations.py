"""Elementwise activations and their derivatives (twin of cpp/include/mlpcore/activations.hpp)::

    activation_forward(name, z, param=0.0) -> h
    activation_backward(name, dh, z, h, param=0.0) -> dz = dh * f'(z)

param is the negative slope of leaky_relu and the alpha of elu (ignored by the others).
Derivatives are written with whichever of z and h is natural::

    sigmoid' = h (1 - h),  tanh' = 1 - h^2,  relu' = [h > 0],  identity' = 1,
    leaky_relu' = 1 if z > 0 else slope (also at 0),  gelu' = Phi(z) + z phi(z),
    silu' = s (1 + z (1 - s)) with s = sigmoid(z),  elu' = 1 if z > 0 else alpha exp(z),
    softplus' = sigmoid(z) = e / (e + 1), e = exp(z), and 1 where z > 20.

SiLU is z sigmoid(z); ELU is z where z > 0, alpha (exp(z) - 1) elsewhere (expm1);
Softplus is log1p(exp(z)), and z where z > 20: torch.nn.Softplus with beta = 1, threshold = 20.
GELU is the exact erf form (torch.nn.GELU's default), h = z Phi(z) = 0.5 z (1 + erf(z/sqrt2));
erf is math.erf (the C library's, as std::erf in C++), computed in float64.
Step and sign have derivative zero almost everywhere: they have no backward pass.
"""

import math

import numpy as np

_SQRT_HALF = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)


def sigmoid(z):
    """Numerically stable logistic function: never evaluates exp of a positive number."""
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e)).astype(z.dtype, copy=False)


def _step(z, param):
    return (z >= 0).astype(z.dtype)


def _sign(z, param):
    return np.where(z >= 0, 1, -1).astype(z.dtype)


def _leaky_relu(z, slope):
    return np.where(z > 0, z, z.dtype.type(slope) * z)


def _phi_cdf(z64):
    """Phi(z) = 0.5 (1 + erf(z / sqrt 2)) of a float64 array."""
    return 0.5 * (1.0 + _erf(z64 * _SQRT_HALF).astype(np.float64))


def _gelu(z, param):
    z64 = z.astype(np.float64)
    return (z64 * _phi_cdf(z64)).astype(z.dtype)


def _gelu_derivative(z, h, param):
    z64 = z.astype(np.float64)
    return (_phi_cdf(z64) + z64 * (_INV_SQRT_2PI * np.exp(-0.5 * z64 * z64))).astype(z.dtype)


def _silu(z, param):
    return z * sigmoid(z)


def _silu_derivative(z, h, param):
    s = sigmoid(z)
    return s * (1 + z * (1 - s))


def _elu(z, alpha):
    return np.where(z > 0, z, z.dtype.type(alpha) * np.expm1(np.minimum(z, 0)))


def _elu_derivative(z, h, alpha):
    return np.where(z > 0, z.dtype.type(1), z.dtype.type(alpha) * np.exp(np.minimum(z, 0)))


SOFTPLUS_THRESHOLD = 20.0  # torch.nn.Softplus's default with beta = 1


def _softplus(z, param):
    t = z.dtype.type(SOFTPLUS_THRESHOLD)
    return np.where(z > t, z, np.log1p(np.exp(np.minimum(z, t))))


def _softplus_derivative(z, h, param):
    t = z.dtype.type(SOFTPLUS_THRESHOLD)
    e = np.exp(np.minimum(z, t))
    return np.where(z > t, z.dtype.type(1), e / (e + 1))


FORWARD = {
    "identity": lambda z, param: z.copy(),
    "step": _step,
    "sign": _sign,
    "sigmoid": lambda z, param: sigmoid(z),
    "tanh": lambda z, param: np.tanh(z),
    "relu": lambda z, param: np.maximum(z, 0),
    "leaky_relu": _leaky_relu,
    "gelu": _gelu,
    "silu": _silu,
    "elu": _elu,
    "softplus": _softplus,
}

# derivative dh/dz as a function of (z, h, param)
DERIVATIVE = {
    "identity": lambda z, h, param: np.ones_like(h),
    "sigmoid": lambda z, h, param: h * (1 - h),
    "tanh": lambda z, h, param: 1 - h * h,
    "relu": lambda z, h, param: (h > 0).astype(h.dtype),
    "leaky_relu": lambda z, h, slope: np.where(z > 0, z.dtype.type(1), z.dtype.type(slope)),
    "gelu": _gelu_derivative,
    "silu": _silu_derivative,
    "elu": _elu_derivative,
    "softplus": _softplus_derivative,
}

NAMES = tuple(FORWARD)
DIFFERENTIABLE = tuple(DERIVATIVE)


def _known(name):
    if name not in FORWARD:
        raise ValueError(f"unknown activation {name!r}; known activations: {', '.join(NAMES)}")


def activation_forward(name, z, param=0.0):
    """h = f(z); z is (B, F), h is (B, F)."""
    _known(name)
    return FORWARD[name](z, param)


def activation_backward(name, dh, z, h, param=0.0):
    """dz = dh * f'(z); dh, z (the forward input), h (its output) and dz are (B, F)."""
    _known(name)
    if name not in DERIVATIVE:
        raise ValueError(
            f"activation {name!r} has zero derivative almost everywhere: "
            "no gradient can pass through it"
        )
    return dh * DERIVATIVE[name](z, h, param)
