"""One epoch of scikit-learn's minibatch training ("sgd", "adam"), run by the engine in one
call: scikit-learn's sample order (`order=`), per-sample weights (`sample_weight=`,
scikit-learn's weighted batch loss and delta), alpha scaled by each batch's weight sum
(`l2_alpha=`), scikit-learn's Adam epsilon (`sklearn_eps`), and a sparse X as a CSR triple
whose rows the engine scatters into the batch buffer.

Each epoch is all or nothing, like Sequential.fit's (python/mlpcore/_training.py): if it
fails (a non-finite loss or weights, an exception, Ctrl-C) the weights, state, optimizer
moments and counters are as they were before it.
"""
import numpy as np
import scipy.sparse as sp

from .. import _checks
from .._common import batch_bounds

def optimizer_settings(solver, momentum, nesterov, beta_1, beta_2, epsilon):
    """The optimizer as Sequential records it in optimizer_ (its moments restart when this
    changes)."""
    if solver == "sgd":
        mu = float(momentum)
        return _checks.check_optimizer("sgd", mu, bool(nesterov) and mu > 0)
    return _checks.check_optimizer("adam", 0.0, False, (float(beta_1), float(beta_2)),
                                   float(epsilon))


class Rows:
    """The training rows as the engine reads them, prepared once per fit: a C-contiguous
    array of the model's dtype (float64 rows as they are for a float32 C++ engine, which
    converts each batch as it gathers it) or a CSR triple (data, indices int64, indptr
    int64)."""

    def __init__(self, X, net):
        self.n, self.n_features = X.shape
        self.dtype = net.dtype
        if sp.issparse(X):
            X = X.tocsr()
            if not X.has_canonical_format:  # duplicate entries would overwrite, not add
                X = X.copy()
                X.sum_duplicates()
            X = X.astype(self.dtype, copy=False)
            # (nnz,) data, (nnz,) indices, (n + 1,) indptr
            self.X = (X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64))
        elif not (X.dtype == np.float64 and self.dtype == np.float32 and X.flags.c_contiguous
                  and net.backend == "native"):
            self.X = np.ascontiguousarray(X, dtype=self.dtype)
        else:
            self.X = X


def train_epoch(net, rows, Y, sw, order, batch_size, lr, alpha, settings, loss_scale):
    """One epoch over the rows `order` of the training data, in that order, in batches of
    batch_size (the last one smaller), all or nothing.

    net: the Sequential (its counters and optimizer_ advance); rows: Rows; Y (n, K) of the
    model's dtype; sw: (n,) weights > 0 or None; order (n,) int64, a permutation of the rows;
    settings: optimizer_settings(...); loss_scale: factor from the engine's data loss to
    scikit-learn's.

    Returns (scikit-learn's epoch loss without the penalty: the batch losses, each before its
    update, averaged with the batch sizes as weights; the sum over batches b of
    len_b / (n * s_b), s_b the batch's weight sum: the factor of 0.5 * alpha * ||W||^2 in
    scikit-learn's epoch loss). Raises FloatingPointError (model unchanged) on divergence.
    """
    m = len(order)
    bounds = batch_bounds(m, batch_size, net._layout.batch_statistics is not None)
    lens = np.array([b - a for a, b in bounds], dtype=np.float64)  # (n_batches,)
    sums = lens if sw is None else np.add.reduceat(sw[order], [a for a, _ in bounds])
    penalty_factor = float(np.sum(lens / sums)) / m
    engine = net._engine

    with net._fit_lock:
        before = (engine.get_params(), engine.get_state(), engine.get_optimizer_state(),
                  net.optimizer_, net.opt_steps_)
        committed = False
        try:
            if settings != net.optimizer_:  # another optimizer starts from zero moments
                engine.set_optimizer_state(np.zeros_like(before[2]))
                net.optimizer_, net.opt_steps_ = settings, 0
            opt = {**settings, "lr": float(lr), "weight_decay": 0.0,
                   "sklearn_eps": settings["name"] == "adam"}
            kw = {"check_interrupts": True, "step_losses": True, "l2_alpha": float(alpha),
                  "order": order}
            if sw is not None:
                kw["sample_weight"] = np.ascontiguousarray(sw, dtype=rows.dtype)
            result = engine.train_epoch(rows.X, Y, batch_size, opt, net.opt_steps_,
                                        net.epoch_, net.step_, False, **kw)
            steps = int(result["steps"])
            step_losses = np.asarray(result["step_losses"], dtype=np.float64)
            value = float(np.dot(step_losses, lens)) / m * loss_scale  # sizes as weights
            if not (np.isfinite(value) and np.isfinite(engine.get_params()).all()
                    and np.isfinite(engine.get_state()).all()):
                raise FloatingPointError(f"training diverged in epoch {net.epoch_} (loss "
                                         f"{value}); the model from before it was restored")
            net.epoch_, net.step_, net.opt_steps_ = (net.epoch_ + 1, net.step_ + steps,
                                                     net.opt_steps_ + steps)
            committed = True
        finally:
            if not committed:
                engine.set_params(before[0])
                engine.set_state(before[1])
                engine.set_optimizer_state(before[2])
                net.optimizer_, net.opt_steps_ = before[3], before[4]
    return value, penalty_factor
