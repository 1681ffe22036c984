"""One epoch of minibatch SGD (twin of cpp/include/mlpcore/train.hpp).

    order = rng.permutation(seed, epoch, n) if shuffle else 0..n-1
    for each batch [start, end) of batch_bounds(n, batch_size, fold_single):
        gather rows order[start:end]; forward (training, this step's dropout masks,
        updating batch-norm running statistics); backward; optimizer step number
        opt_step + 1, + 2, ... (optim.py); step += 1
Returns {"loss": the sample-weighted mean of the batch losses, "steps": the number of
steps taken, "step_losses", "grad_norms": empty (the C++ engine fills them on request)}.
"""
import numpy as np

from . import losses, optim, rng


def batch_bounds(n, batch_size, fold_single):
    """[(start, end)] covering 0..n in order; the last batch may be smaller. With
    fold_single (networks with batch norm) a trailing one-sample batch joins the one before."""
    b = max(1, min(batch_size, n))
    bounds = [(s, min(s + b, n)) for s in range(0, n, b)]
    if fold_single and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def train_epoch(net, x, y, batch_size, optimizer, opt_step, epoch, step, shuffle):
    n = x.shape[0]
    order = rng.permutation(net.seed, epoch, n) if shuffle else np.arange(n)
    total = 0.0
    bounds = batch_bounds(n, batch_size, net.needs_batch_statistics)
    for start, end in bounds:
        idx = order[start:end]
        xb, yb = x[idx], y[idx]
        z, caches = net.forward(xb, True, step, update_running=True)
        value, h = losses.loss_forward(net.loss_name, z, yb)
        grad = net.backward(losses.loss_backward(h, yb), caches, True)
        opt_step += 1
        m, v = net.opt_state[:net.params.size], net.opt_state[net.params.size:]
        optim.optimizer_step(optimizer, net.params, grad, m, v, net.decay, opt_step)
        total += value * (end - start)
        step += 1
    return {"loss": total / n, "steps": len(bounds), "step_losses": np.zeros(0),
            "grad_norms": np.zeros(0)}
