"""Layers with parameters or randomness (twin of cpp/include/mlpcore/layers.hpp).

Forward returns what the C++ function fills (output and cache); backward takes the
cache and returns the input gradient and the parameter gradients.
"""

import numpy as np

from . import rng


# ---- dense: z = x @ W + b --------------------------------------------------------------
def dense_forward(x, w, b):
    """x is (B, I), w is (I, O), b is (O,); returns z (B, O)."""
    return x @ w + b


def dense_backward(dz, x, w):
    """dz is (B, O); returns dx = dz W^T (B, I), dW = x^T dz (I, O), db = sum_rows dz (O,)."""
    return dz @ w.T, x.T @ dz, dz.sum(axis=0)


# ---- batch normalisation ---------------------------------------------------------------
def batchnorm_forward(
    x, gamma, beta, running_mean, running_var, training, momentum, eps, update_running
):
    """x is (B, F); gamma, beta, running_mean, running_var are (F,).

    Training: normalise with the batch mean and biased variance; if update_running, also
    running = (1 - momentum) running + momentum * stat, with the unbiased variance
    (PyTorch's convention). Evaluation: normalise with the running statistics.
    Returns y (B, F), the cache (xhat (B, F), inv_std (F,)) and the new running stats.
    """
    t = x.dtype.type
    if training:
        n = x.shape[0]
        if n < 2:
            raise ValueError(
                "BatchNorm in training mode needs at least 2 samples in a batch "
                f"(got {n}): one sample has no variance"
            )
        mean = x.mean(axis=0)
        xc = x - mean
        var = (xc * xc).mean(axis=0)
        inv_std = 1 / np.sqrt(var + t(eps))
        if update_running:
            running_mean = t(1 - momentum) * running_mean + t(momentum) * mean
            running_var = t(1 - momentum) * running_var + t(momentum) * (var * t(n / (n - 1)))
    else:
        xc = x - running_mean
        inv_std = 1 / np.sqrt(running_var + t(eps))
    xhat = xc * inv_std
    return gamma * xhat + beta, (xhat, inv_std), running_mean, running_var


def batchnorm_backward(dy, cache, gamma, training):
    """dy is (B, F); returns dx (B, F), dgamma (F,), dbeta (F,).

    Training mode differentiates through the batch mean and variance::

        dx = gamma inv_std / B * (B dy - sum(dy) - xhat sum(dy xhat))

    evaluation mode treats the running statistics as constants: dx = gamma inv_std dy.
    """
    xhat, inv_std = cache
    dbeta = dy.sum(axis=0)
    dgamma = (dy * xhat).sum(axis=0)
    if training:
        n = dy.shape[0]
        dx = (gamma * inv_std / dy.dtype.type(n)) * (n * dy - dbeta - xhat * dgamma)
    else:
        dx = dy * (gamma * inv_std)
    return dx, dgamma, dbeta


# ---- layer normalisation (torch.nn.LayerNorm's conventions) ------------------------------
def layernorm_forward(x, gamma, beta, eps):
    """x is (B, F); gamma, beta are (F,). Each row is normalised by its own mean and biased
    (1/F) variance, the same in training and evaluation::

        xhat = (x - mean) inv_std,  inv_std = 1 / sqrt(var + eps),  y = gamma xhat + beta.

    Returns y (B, F) and the cache (xhat (B, F), inv_std (B,))."""
    t = x.dtype.type
    mean = x.mean(axis=1, keepdims=True)
    xc = x - mean
    var = (xc * xc).mean(axis=1, keepdims=True)
    inv_std = 1 / np.sqrt(var + t(eps))
    xhat = xc * inv_std
    return gamma * xhat + beta, (xhat, inv_std[:, 0])


def layernorm_backward(dy, cache, gamma):
    """dy is (B, F); returns dx (B, F), dgamma (F,), dbeta (F,). Per row, with g = gamma dy:
    dx = inv_std / F * (F g - sum(g) - xhat sum(g xhat))."""
    xhat, inv_std = cache
    n = dy.shape[1]
    g = gamma * dy
    s = g.sum(axis=1, keepdims=True)
    sx = (g * xhat).sum(axis=1, keepdims=True)
    dx = (inv_std / dy.dtype.type(n))[:, None] * (n * g - s - xhat * sx)
    return dx, (dy * xhat).sum(axis=0), dy.sum(axis=0)


# ---- inverted dropout -----------------------------------------------------------------
def dropout_mask(shape, p, seed, step, layer, dtype):
    """The (B, F) mask: 1/(1-p) where kept, 0 where dropped, drawn by rng.dropout_keep."""
    keep = rng.dropout_keep(seed, step, layer, int(np.prod(shape)), p).reshape(shape)
    return np.where(keep, dtype(1.0 / (1.0 - p)), dtype(0)).astype(dtype)


def dropout_forward(x, p, seed, step, layer, training):
    """x is (B, F); returns y (B, F) and the mask (B, F) (None in evaluation or when p = 0)."""
    if not training or p == 0:
        return x.copy(), None
    mask = dropout_mask(x.shape, p, seed, step, layer, x.dtype.type)
    return x * mask, mask


def dropout_backward(dy, mask):
    """dx = dy * mask."""
    return dy.copy() if mask is None else dy * mask
