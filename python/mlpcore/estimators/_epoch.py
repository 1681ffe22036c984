"""One epoch of scikit-learn's minibatch training ("sgd", "adam"), run by the engine.

The C++ engine runs scikit-learn's epoch exactly in one call: its sample order (`order=`),
per-sample weights (`sample_weight=`, scikit-learn's weighted batch loss and delta), alpha
scaled by each batch's weight sum (`l2_alpha=`), scikit-learn's Adam epsilon
(`sklearn_eps`), the Poisson loss, and a sparse X as a CSR triple whose rows it scatters
into the batch buffer. The NumPy twin (backend="numpy") has fewer of these options: what
it lacks is emulated here as before (rows gathered in the epoch's order, one engine call
for the full batches and one for the trailing smaller batch with weight_decay = alpha /
batch size, Adam's epsilon matched at the middle step of the epoch), or refused with a
ValueError (unequal weights, the Poisson loss). `engine_features` says which is which.

Each epoch is all or nothing, like Sequential.fit's (python/mlpcore/_training.py): if it
fails (a non-finite loss or weights, an exception, Ctrl-C) the weights, state, optimizer
moments and counters are as they were before it.
"""
import inspect

import numpy as np
import scipy.sparse as sp

from .. import _checks
from ..layers import BatchNorm
from ..reference import losses as _twin_losses
from ..reference import optim as _twin_optim
from ..reference.network import Network as _TwinNetwork
from ..reference import train as _twin_train
from ..reference.train import batch_bounds

# Rows copied or densified at a time (twin engine only; the C++ engine gathers each batch's
# rows itself) are bounded to about this many bytes, at least one minibatch.
CHUNK_BYTES = 64 << 20


def rows_per_chunk(n_features, itemsize, multiple=1):
    """Rows per chunk: about CHUNK_BYTES of dense rows, a multiple of `multiple` (>= 1 of it)."""
    row_bytes = n_features * itemsize
    return max(1, CHUNK_BYTES // max(row_bytes, 1) // multiple) * multiple

# What the C++ engine's train_epoch / loss / gradients take (all of it).
NATIVE_FEATURES = frozenset({"sample_weight", "l2_alpha", "order", "step_losses",
                             "sklearn_eps", "poisson", "csr", "float64_rows"})


def sequential_has_poisson():
    """True once Sequential accepts loss="poisson" (its checks take the twin's loss names)."""
    return "poisson" in _twin_losses.NAMES


def engine_features(engine):
    """The options of NATIVE_FEATURES that `engine` has: all of them for the C++ engine; for
    the NumPy twin what its signatures and tables show (keyword arguments of train_epoch,
    loss and gradients; "sklearn_eps" in its optimizer defaults; "poisson" among its
    losses). The twin has no sparse rows or float64 rows for a float32 model."""
    if not isinstance(engine, _TwinNetwork):
        return NATIVE_FEATURES
    train = inspect.signature(_twin_train.train_epoch).parameters  # the twin Network's options
    feats = {k for k in ("l2_alpha", "order", "step_losses") if k in train}
    if "sample_weight" in train and all("sample_weight" in inspect.signature(f).parameters
                                        for f in (engine.loss, engine.gradients)):
        feats.add("sample_weight")
    if "sklearn_eps" in _twin_optim.DEFAULTS:
        feats.add("sklearn_eps")
    if sequential_has_poisson():
        feats.add("poisson")
    return frozenset(feats)


def optimizer_settings(solver, momentum, nesterov, beta_1, beta_2, epsilon):
    """The optimizer as Sequential records it in optimizer_ (its moments restart when this
    changes)."""
    if solver == "sgd":
        mu = float(momentum)
        return _checks.check_optimizer("sgd", mu, bool(nesterov) and mu > 0)
    return _checks.check_optimizer("adam", 0.0, False, (float(beta_1), float(beta_2)),
                                   float(epsilon))


def poisson_engine(net):
    """A C++ engine with net's layers and the "poisson" loss (h = exp(z)): the epochs of
    MLPRegressor(loss="poisson") run on it while Sequential has no "poisson" loss (net then
    has the identity output "mse" and the estimator applies exp when predicting)."""
    from ..sequential import _native_engine
    return _native_engine(net.dtype)(net._layout.specs, "poisson", net.seed)


class Rows:
    """The training rows as the engine reads them, prepared once per fit: the C++ engine
    gets a C-contiguous array (float64 rows as they are for a float32 model) or a CSR triple
    (data, indices int64, indptr int64); the twin gets rows of the model's dtype, gathered
    (a sparse X densified) per engine call."""

    def __init__(self, X, dtype, features):
        self.n, self.n_features = X.shape
        self.sparse = sp.issparse(X)
        self.dtype = np.dtype(dtype)
        if self.sparse:
            X = X.tocsr()
            if not X.has_canonical_format:  # duplicate entries would overwrite, not add
                X = X.copy()
                X.sum_duplicates()
            X = X.astype(self.dtype, copy=False)
        elif not (X.dtype == np.float64 and "float64_rows" in features
                  and self.dtype == np.float32 and X.flags.c_contiguous):
            X = np.ascontiguousarray(X, dtype=self.dtype)
        self.X = X
        self.engine_reads_all = "order" in features and (not self.sparse or "csr" in features)
        self._csr = None
        if self.sparse and self.engine_reads_all:  # (nnz,) data, (nnz,) indices, (n + 1,) indptr
            self._csr = (X.data, X.indices.astype(np.int64), X.indptr.astype(np.int64))

    def engine_input(self):
        """X for one engine call over all rows (with order=)."""
        return self._csr if self.sparse else self.X

    def take(self, idx):
        """(len(idx), n_features) dense rows of the model's dtype."""
        rows = self.X[idx]
        rows = rows.toarray() if self.sparse else rows
        return np.ascontiguousarray(rows, dtype=self.dtype)

    def chunk_rows(self, multiple):
        """Rows per copied chunk: about CHUNK_BYTES, a multiple of `multiple` (>= 1 of it)."""
        return rows_per_chunk(self.n_features, self.dtype.itemsize, multiple)


def _epoch_calls(net, rows, n, batch_size, split_trailing):
    """[(start, end)] of the engine calls of one epoch over n ordered rows when the rows are
    gathered here (the twin): chunks of whole batches (about CHUNK_BYTES each) and, with
    split_trailing, the trailing smaller batch in a call of its own (its weight_decay
    differs). With BatchNorm a one-sample trailing batch stays with the batch before."""
    n_full = n - n % batch_size if split_trailing else n
    step = max(min(n_full, rows.chunk_rows(batch_size)), batch_size)
    calls = [(a, min(a + step, n_full)) for a in range(0, n_full, step)]
    if n_full < n:
        calls.append((n_full, n))
    if (any(isinstance(l, BatchNorm) for l in net.layers) and len(calls) > 1
            and calls[-1][1] - calls[-1][0] == 1):
        calls[-2:] = [(calls[-2][0], n)]
    return calls


def train_epoch(net, engine, rows, Y, sw, order, batch_size, lr, alpha, settings, loss_scale):
    """One epoch over the rows `order` of the training data, in that order, in batches of
    batch_size (the last one smaller), all or nothing.

    net: the Sequential (its counters and optimizer_ advance); engine: the engine to run
    (net._engine, or poisson_engine(net), whose buffers are loaded from net first and copied
    back after success); rows: Rows; Y (n, K) of the model's dtype; sw: (n,) weights > 0 or
    None; order (m,) int64 indices into the rows (m == n for the C++ engine);
    settings: optimizer_settings(...); loss_scale: factor from the engine's data loss to
    scikit-learn's.

    Returns (scikit-learn's epoch loss without the penalty: the batch losses, each before its
    update, averaged with the batch sizes as weights; the sum over batches b of
    len_b / (m * s_b), s_b the batch's weight sum: the factor of 0.5 * alpha * ||W||^2 in
    scikit-learn's epoch loss). Raises FloatingPointError (model unchanged) on divergence.
    """
    features = engine_features(engine)
    weighted = sw is not None
    if weighted and "sample_weight" not in features:
        raise ValueError("this engine has no sample_weight")  # _base refuses earlier
    m = len(order)
    exact_alpha = "l2_alpha" in features or not alpha
    direct = rows.engine_reads_all and exact_alpha and m == rows.n
    calls = [(0, m)] if direct else _epoch_calls(net, rows, m, batch_size,
                                                 split_trailing=not exact_alpha)
    bounds = batch_bounds(m, batch_size, any(isinstance(l, BatchNorm) for l in net.layers))
    lens = np.array([b - a for a, b in bounds], dtype=np.float64)  # (n_batches,)
    sums = lens if not weighted else np.add.reduceat(sw[order], [a for a, _ in bounds])
    penalty_factor = float(np.sum(lens / sums)) / m
    native = not isinstance(engine, _TwinNetwork)

    with net._fit_lock:
        before = (net._engine.get_params(), net._engine.get_state(),
                  net._engine.get_optimizer_state(), net.optimizer_, net.opt_steps_)
        committed = False
        try:
            if settings != net.optimizer_:  # another optimizer starts from zero moments
                net._engine.set_optimizer_state(np.zeros_like(before[2]))
                net.optimizer_, net.opt_steps_ = settings, 0
            if engine is not net._engine:
                engine.set_params(before[0])
                engine.set_state(before[1])
                engine.set_optimizer_state(net._engine.get_optimizer_state())
            total, steps, step_losses = 0.0, 0, []
            for a, b in calls:
                opt = {**settings, "lr": float(lr), "weight_decay": 0.0}
                kw = {"check_interrupts": True} if native else {}
                if "step_losses" in features:
                    kw["step_losses"] = True
                if "l2_alpha" in features:
                    kw["l2_alpha"] = float(alpha)
                elif alpha:  # equal weights: every batch of this call has the same sum
                    w0 = float(sw[order[a]]) if weighted else 1.0
                    opt["weight_decay"] = float(alpha) / (min(batch_size, b - a) * w0)
                if settings["name"] == "adam":
                    if "sklearn_eps" in features:
                        opt["sklearn_eps"] = True
                    else:  # scikit-learn's eps at the epoch's middle step (module doc)
                        t = net.opt_steps_ + (len(bounds) + 1) / 2
                        opt["eps"] = float(settings["eps"] / np.sqrt(1 - settings["beta2"] ** t))
                if direct:
                    X_in, Y_in, w_in, kw["order"] = rows.engine_input(), Y, sw, order
                else:
                    idx = order[a:b]
                    X_in, Y_in = rows.take(idx), Y[idx]
                    w_in = None if not weighted else sw[idx]
                if w_in is not None:
                    kw["sample_weight"] = np.ascontiguousarray(w_in, dtype=rows.dtype)
                result = engine.train_epoch(X_in, Y_in, batch_size, opt, net.opt_steps_ + steps,
                                            net.epoch_, net.step_ + steps, False, **kw)
                total += float(result["loss"]) * (b - a)
                steps += int(result["steps"])
                step_losses.append(np.asarray(result["step_losses"], dtype=np.float64))
            step_losses = np.concatenate(step_losses)
            if len(step_losses) == len(lens):  # sizes as weights, as scikit-learn
                total = float(np.dot(step_losses, lens))
            # else the engine's weight-sum weighted means: the same unless weights are unequal
            value = total / m * loss_scale
            params = engine.get_params()
            if not (np.isfinite(value) and np.isfinite(params).all()
                    and np.isfinite(engine.get_state()).all()):
                raise FloatingPointError(f"training diverged in epoch {net.epoch_} (loss "
                                         f"{value}); the model from before it was restored")
            if engine is not net._engine:
                net._engine.set_params(params)
                net._engine.set_state(engine.get_state())
                net._engine.set_optimizer_state(engine.get_optimizer_state())
            net.epoch_, net.step_, net.opt_steps_ = (net.epoch_ + 1, net.step_ + steps,
                                                     net.opt_steps_ + steps)
            committed = True
        finally:
            if not committed:
                net._engine.set_params(before[0])
                net._engine.set_state(before[1])
                net._engine.set_optimizer_state(before[2])
                net.optimizer_, net.opt_steps_ = before[3], before[4]
    return value, penalty_factor
