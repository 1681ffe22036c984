"""One training step and one epoch (twin of cpp/include/mlpcore/train.hpp and of
Network::train_step in cpp/src/network.cpp).

A step on a batch xb (B, I), yb (B, K), weights wb (B,) or None::

    forward (training, this step's dropout masks, updating batch-norm running statistics);
    loss with the batch's weights; backward;
    clip_value > 0: clamp every gradient element to [-clip_value, clip_value];
    per parameter layer l: ||g_l|| (float64, over all its arrays) added to grad_norms;
    clip_norm > 0: factor = clip_norm / (sqrt(sum_l ||g_l||^2) + 1e-6); if factor < 1 every
        gradient *= T(factor)                    (torch.nn.utils.clip_grad_norm_'s rule);
    the optimizer (optim.py) with decay = weight_decay + (l2_alpha / sum(wb) if l2_alpha > 0)
        on dense weight matrices (sum(wb) = B without weights), at the step's learning rate.

An epoch::

    order = the given order, or rng.permutation(seed, epoch, n) if shuffle, else 0..n-1
    for each batch k, [start, end) of batch_bounds(n, batch_size, fold_single):
        gather rows order[start:end] (X dense (n, I) or a CSR triple (data, indices, indptr));
        step with lr = lrs[k] if lrs is given, optimizer step opt_step + 1, + 2, ..., dropout
        step step, step + 1, ...

Returns {"loss": sum_k (batch loss * batch weight sum) / total weight, "steps",
"step_losses": (steps,) when asked, "grad_norms": (n_param_layers,) mean over the steps, when
asked}.
"""

import numpy as np

from .._common import Progress, batch_bounds, gather  # noqa: F401  (shared with the API)
from . import losses, optim, rng


def train_step(
    net,
    xb,
    yb,
    wb,
    optimizer,
    opt_step,
    step,
    l2_alpha=0.0,
    clip_norm=0.0,
    clip_value=0.0,
    grad_norms=None,
):
    """One step; updates the parameters, moments and running statistics; adds each parameter
    layer's gradient norm to grad_norms (n_param_layers,) when given. Returns the batch loss."""
    T = net.dtype.type
    z, caches = net.forward(xb, True, step, update_running=True)
    value, h = losses.loss_forward(net.loss_name, z, yb, wb)
    grad = net.backward(losses.loss_backward(net.loss_name, h, yb, wb), caches, True)
    if clip_value > 0:
        np.clip(grad, T(-clip_value), T(clip_value), out=grad)
    if clip_norm > 0 or grad_norms is not None:
        sq = [float((g.astype(np.float64) ** 2).sum()) for g in net.layer_grad_views(grad)]
        if grad_norms is not None:
            grad_norms += np.sqrt(sq)
        if clip_norm > 0:
            factor = clip_norm / (np.sqrt(sum(sq)) + 1e-6)
            if factor < 1:
                grad *= T(factor)
    wsum = losses.weight_sum(wb, xb.shape[0])
    decay = optimizer.get("weight_decay", 0.0) + (l2_alpha / wsum if l2_alpha > 0 else 0.0)
    m, v = net.opt_state[: net.params.size], net.opt_state[net.params.size :]
    optim.optimizer_step(optimizer, net.params, grad, m, v, decay * net.decay, opt_step)
    return value


def train_epoch(net, x, y, options, opt_step, epoch, step):
    """One epoch with the settings of `options` (an mlpcore._engine.EpochOptions, read by
    attribute: batch_size, optimizer, lr, lrs, weight_decay, sklearn_eps, shuffle, order,
    sample_weight, l2_alpha, clip_norm, clip_value, grad_norms, step_losses, progress;
    check_interrupts is the C++ engine's: in the twin Ctrl-C raises KeyboardInterrupt between
    any two Python bytecodes anyway). order (n,), when given, is the epoch's sample order (it
    overrides shuffle)."""
    o = options
    batch_size, sample_weight, lrs, order = o.batch_size, o.sample_weight, o.lrs, o.order
    optimizer = {
        **o.optimizer,
        "lr": o.lr,
        "weight_decay": o.weight_decay,
        "sklearn_eps": o.sklearn_eps,
    }
    l2_alpha, clip_norm, clip_value = o.l2_alpha, o.clip_norm, o.clip_value
    grad_norms, step_losses, progress = o.grad_norms, o.step_losses, o.progress
    n = y.shape[0]
    if order is not None:
        order = np.asarray(order, np.int64)
        if order.shape != (n,) or (n and (order.min() < 0 or order.max() >= n)):
            raise ValueError(f"order must hold n = {n} indices in [0, n)")
    else:
        order = rng.permutation(net.seed, epoch, n) if o.shuffle else np.arange(n)
    bounds = batch_bounds(n, batch_size, net.needs_batch_statistics)
    if lrs is not None and len(lrs) != len(bounds):
        raise ValueError(f"lrs must hold one learning rate per step: {len(bounds)}, got {len(lrs)}")
    norms = np.zeros(net.n_param_layers) if grad_norms else None
    if progress is not None:
        progress.done, progress.total, progress.loss = 0, n, float("nan")
    total = weights = 0.0
    kept = []
    opt = dict(optimizer)
    for k, (start, end) in enumerate(bounds):
        idx = order[start:end]
        wb = None if sample_weight is None else sample_weight[idx]
        if lrs is not None:
            opt["lr"] = float(lrs[k])
        opt_step += 1
        value = train_step(
            net,
            gather(x, idx, net.n_inputs),
            y[idx],
            wb,
            opt,
            opt_step,
            step,
            l2_alpha,
            clip_norm,
            clip_value,
            norms,
        )
        step += 1
        wsum = losses.weight_sum(wb, end - start)
        total += value * wsum
        weights += wsum
        kept.append(value)
        if progress is not None:
            progress.loss = total / weights
            progress.done = end
    return {
        "loss": total / weights,
        "steps": len(bounds),
        "step_losses": np.array(kept if step_losses else [], np.float64),
        "grad_norms": norms / len(bounds) if grad_norms else np.zeros(0),
    }
