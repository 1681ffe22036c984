"""What the Python API and the NumPy twin (mlpcore.reference) both state the same way: the
names of the fused output/loss pairs and of the optimizers, the optimizers' defaults, the
split of an epoch into batches, the gather of a batch's rows and the progress counter.

Both sides import this module and nothing of each other for these facts, so the twin stays
a specification beside the API (the C++ engine states the same tables in cpp/src/losses.cpp
and cpp/src/optim.cpp; tests compare them).
"""

import numpy as np

# The fused output activation + loss pairs (reference/losses.py, cpp/src/losses.cpp) and what
# each is for (the message of a model built without a loss).
LOSS_USES = {
    "softmax_cross_entropy": "multi-class: integer labels 0..K-1 or probability rows, K >= 2 outputs",
    "binary_cross_entropy": "binary or multi-label: 0/1 targets, one sigmoid per output",
    "mse": "regression: any real targets",
    "poisson": "counts or rates >= 0",
    "hinge": "binary margins (Keras' hinge, a linear SVM): labels -1/1 or 0/1, identity output",
    "squared_hinge": "binary margins, squared hinge: labels -1/1 or 0/1, identity output",
}
LOSSES = tuple(LOSS_USES)

# The optimizers and every setting's default (torch.optim's defaults; lr 0.01 is fit's).
# "sklearn_eps": Adam's eps added before the bias correction, as scikit-learn's AdamOptimizer.
OPTIMIZERS = ("sgd", "adam", "adamw", "rmsprop")
OPTIMIZER_DEFAULTS = {
    "name": "sgd",
    "lr": 0.01,
    "weight_decay": 0.0,
    "momentum": 0.0,
    "nesterov": False,
    "beta1": 0.9,
    "beta2": 0.999,
    "eps": 1e-8,
    "alpha": 0.99,
    "sklearn_eps": False,
}


def batch_bounds(n, batch_size, fold_single):
    """[(start, end)] covering 0..n in order; the last batch may be smaller. With
    fold_single (networks with batch norm) a trailing one-sample batch joins the one before:
    one sample has no batch variance. Example: n=7, batch_size=3 gives [(0, 3), (3, 6),
    (6, 7)], with fold_single [(0, 3), (3, 7)]."""
    b = max(1, min(batch_size, n))
    bounds = [(s, min(s + b, n)) for s in range(0, n, b)]
    if fold_single and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    return bounds


def n_batches(n, batch_size, fold_single):
    """The number of steps of an epoch: len(batch_bounds(n, batch_size, fold_single))."""
    return len(batch_bounds(n, batch_size, fold_single))


def gather(x, idx, n_in):
    """Rows idx of X as a dense (len(idx), n_in) array; X is dense (n, n_in) or a CSR triple
    (data, indices, indptr)."""
    if not isinstance(x, tuple):
        return x[idx]
    data, indices, indptr = x
    out = np.zeros((len(idx), n_in), data.dtype)
    for r, i in enumerate(idx):
        lo, hi = indptr[i], indptr[i + 1]
        out[r, indices[lo:hi]] = data[lo:hi]
    return out


class Progress:
    """Samples done in the running epoch, as the C++ engine's _core.Progress: the NumPy
    twin's train_epoch fills it, fit's progress bar reads it."""

    def __init__(self):
        self.done = 0
        self.total = 0
        self.loss = float("nan")  # the running epoch's mean loss over the steps done
