"""Optimisers with PyTorch's update rules (twin of cpp/include/mlpcore/optim.hpp).

The optimizer is a dict {"name": "sgd" | "adam" | "adamw" | "rmsprop", "lr", "weight_decay",
"momentum", "nesterov", "beta1", "beta2", "eps", "alpha", "sklearn_eps"}; `decay` is the per-element weight
decay value (float64; its value on dense weight matrices, 0 elsewhere). The effective
gradient is g = grad + decay * params (adamw: g = grad), and::

    sgd:     momentum == 0: params -= lr g
             otherwise m = momentum m + g; params -= lr (nesterov ? g + momentum m : m)
    adam:    m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2   (step t = 1, 2, ...)
             params -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
             (sklearn_eps: eps / sqrt(1 - beta2^t) in its place, i.e. eps added to sqrt(v)
             before the bias correction, as scikit-learn's AdamOptimizer)
    adamw:   params *= 1 - lr decay (where decay > 0), then adam's update with g = grad
    rmsprop: v = alpha v + (1 - alpha) g^2;  u = g / (sqrt(v) + eps)   (torch's, not centered)
             momentum == 0: params -= lr u;  otherwise m = momentum m + u; params -= lr m
"""

import math

import numpy as np

from .._common import OPTIMIZER_DEFAULTS, OPTIMIZERS

DEFAULTS = OPTIMIZER_DEFAULTS
NAMES = OPTIMIZERS


def _adam(o, params, g, m, v, t):
    T = params.dtype.type
    step_size = T(o["lr"] / (1 - o["beta1"] ** t))
    bc2_sqrt = T(math.sqrt(1 - o["beta2"] ** t))
    m[:] = T(o["beta1"]) * m + T(1 - o["beta1"]) * g
    v[:] = T(o["beta2"]) * v + T(1 - o["beta2"]) * (g * g)
    eps = o["eps"] / math.sqrt(1 - o["beta2"] ** t) if o["sklearn_eps"] else o["eps"]
    params -= step_size * (m / (np.sqrt(v) / bc2_sqrt + T(eps)))


def optimizer_step(opt, params, grads, m, v, decay, t):
    """Updates params, m and v (flat arrays of one dtype) in place; decay is the per-element
    weight decay (float64, like params); t is the 1-based step."""
    o = {**DEFAULTS, **opt}
    T = params.dtype.type
    decay = np.asarray(decay, np.float64)
    if o["name"] == "adamw":
        keep = np.where(decay > 0, 1 - o["lr"] * decay, 1.0).astype(params.dtype)
        params *= keep
        _adam(o, params, grads, m, v, t)
        return
    g = grads + decay.astype(params.dtype) * params
    if o["name"] == "sgd":
        if o["momentum"] == 0:
            params -= T(o["lr"]) * g
            return
        mu = T(o["momentum"])
        m *= mu
        m += g
        params -= T(o["lr"]) * (g + mu * m if o["nesterov"] else m)
        return
    if o["name"] == "rmsprop":
        v[:] = T(o["alpha"]) * v + T(1 - o["alpha"]) * (g * g)
        u = g / (np.sqrt(v) + T(o["eps"]))
        if o["momentum"] == 0:
            params -= T(o["lr"]) * u
        else:
            m[:] = T(o["momentum"]) * m + u
            params -= T(o["lr"]) * m
        return
    _adam(o, params, g, m, v, t)
