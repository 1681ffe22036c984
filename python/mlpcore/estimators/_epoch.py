"""One epoch of scikit-learn's minibatch training ("sgd", "adam"), run by the model's own
epoch transaction (Sequential._train_epoch) in one engine call: scikit-learn's sample order
(EpochOptions.order), per-sample weights (scikit-learn's weighted batch loss and delta),
alpha scaled by each batch's weight sum (l2_alpha), scikit-learn's Adam epsilon
(sklearn_eps), and a sparse X as a CSR triple whose rows the engine scatters into the batch
buffer.

Each epoch is all or nothing, like Sequential.fit's: if it fails (a non-finite loss or
weights, an exception, Ctrl-C) the weights, state, optimizer moments and counters are as
they were before it.
"""

import numpy as np

from .. import _checks
from .._common import batch_bounds
from .._engine import EpochOptions


def optimizer_settings(solver, momentum, nesterov, beta_1, beta_2, epsilon):
    """The optimizer as Sequential records it in optimizer_ (its moments restart when this
    changes)."""
    if solver == "sgd":
        mu = float(momentum)
        return _checks.check_optimizer("sgd", mu, bool(nesterov) and mu > 0)
    return _checks.check_optimizer(
        "adam", 0.0, False, (float(beta_1), float(beta_2)), float(epsilon)
    )


def epoch_options(net, batch_size, settings, alpha, sw):
    """The EpochOptions of every epoch of a fit (lr and order are set per epoch)."""
    return EpochOptions(
        batch_size=batch_size,
        optimizer=settings,
        shuffle=False,
        sklearn_eps=settings["name"] == "adam",
        l2_alpha=float(alpha),
        sample_weight=None if sw is None else np.ascontiguousarray(sw, dtype=net.dtype),
        step_losses=True,
        check_interrupts=True,
    )


def train_epoch(net, X, Y, sw, order, lr, options, loss_scale):
    """One epoch over the rows `order` of the training data, in that order, in batches of
    options.batch_size (the last one smaller), all or nothing.

    net: the Sequential (its counters and optimizer_ advance); X: net._engine_rows(X_train);
    Y (n, K) of the model's dtype; sw: (n,) weights > 0 or None (options holds them in the
    model's dtype); order (n,) int64, a permutation of the rows; options: epoch_options(...);
    loss_scale: factor from the engine's data loss to scikit-learn's.

    Returns (scikit-learn's epoch loss without the penalty: the batch losses, each before its
    update, averaged with the batch sizes as weights; the sum over batches b of
    len_b / (n * s_b), s_b the batch's weight sum: the factor of 0.5 * alpha * ||W||^2 in
    scikit-learn's epoch loss). Raises FloatingPointError (model unchanged) on divergence.
    """
    m = len(order)
    bounds = batch_bounds(m, options.batch_size, net._layout.batch_statistics is not None)
    lens = np.array([b - a for a, b in bounds], dtype=np.float64)  # (n_batches,)
    sums = lens if sw is None else np.add.reduceat(sw[order], [a for a, _ in bounds])
    penalty_factor = float(np.sum(lens / sums)) / m
    result, _ = net._train_epoch(
        X, Y, EpochOptions(**{**vars(options), "lr": float(lr), "order": order})
    )
    step_losses = np.asarray(result["step_losses"], dtype=np.float64)
    return float(np.dot(step_losses, lens)) / m * loss_scale, penalty_factor  # sizes as weights
