"""Optimisers with PyTorch's update rules (twin of cpp/include/mlpcore/optim.hpp).

The optimizer is a dict {"name": "sgd" | "adam", "lr", "weight_decay", "momentum",
"nesterov", "beta1", "beta2", "eps"}. The effective gradient is
    g = grad + weight_decay * params            (decay = 1 on dense weight matrices, else 0)
    sgd:  momentum == 0: params -= lr g
          otherwise m = momentum m + g; params -= lr (nesterov ? g + momentum m : m)
    adam: m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2   (step t = 1, 2, ...)
          params -= lr / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""
import math

import numpy as np

DEFAULTS = {"name": "sgd", "lr": 0.01, "weight_decay": 0.0, "momentum": 0.0,
            "nesterov": False, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
NAMES = ("sgd", "adam")


def optimizer_step(opt, params, grads, m, v, decay, t):
    """Updates params, m and v (flat arrays of one dtype) in place; t is the 1-based step."""
    o = {**DEFAULTS, **opt}
    T = params.dtype.type
    g = grads + T(o["weight_decay"]) * decay * params
    if o["name"] == "sgd":
        if o["momentum"] == 0:
            params -= T(o["lr"]) * g
            return
        mu = T(o["momentum"])
        m *= mu
        m += g
        params -= T(o["lr"]) * (g + mu * m if o["nesterov"] else m)
        return
    step_size = T(o["lr"] / (1 - o["beta1"] ** t))
    bc2_sqrt = T(math.sqrt(1 - o["beta2"] ** t))
    m[:] = T(o["beta1"]) * m + T(1 - o["beta1"]) * g
    v[:] = T(o["beta2"]) * v + T(1 - o["beta2"]) * (g * g)
    params -= step_size * (m / (np.sqrt(v) / bc2_sqrt + T(o["eps"])))
