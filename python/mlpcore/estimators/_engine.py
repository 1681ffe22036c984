"""The bridge between scikit-learn's MLP objective and mlpcore.Sequential: the network,
scikit-learn's initialisation, the loss scale between the two conventions, the full-batch
objective L-BFGS minimises, and forward passes (sparse X densified by chunks). The epochs of
"sgd"/"adam" are in _epoch.

Everything here runs once per fit, per L-BFGS function evaluation or per chunk of rows."""

import numpy as np
import scipy.sparse as sp

from ..layers import BatchNorm, Dense, Dropout, Identity, ReLU, Sigmoid, Tanh
from ..sequential import Sequential

# scikit-learn's hidden activation name -> mlpcore layer
HIDDEN = {"identity": Identity, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU}
# scikit-learn's output activation -> the engine's fused output/loss pair
ENGINE_LOSS = {
    "softmax": "softmax_cross_entropy",
    "logistic": "binary_cross_entropy",
    "identity": "mse",
    "exp": "poisson",
}

# Rows densified at a time (L-BFGS and predict with a sparse X) are bounded to about this
# many bytes, at least one row.
CHUNK_BYTES = 64 << 20


# ---- the objective -------------------------------------------------------------------------
def loss_scale(out_activation, n_outputs):
    """Factor from the engine's data loss to scikit-learn's: both average over samples (with
    the sample weights) and sum over outputs, except that scikit-learn's squared_error also
    averages over the outputs. The gradients are equal: scikit-learn's output error is
    delta = h - y for every loss, as the engine's. (alpha maps onto the engine's l2_alpha,
    scikit-learn's convention: alpha / batch weight sum * W added to the gradient.)"""
    return 1.0 / n_outputs if out_activation == "identity" else 1.0


# ---- the network ---------------------------------------------------------------------------
def build_network(
    layer_units, activation, out_activation, batch_norm, dropout, dtype, seed, backend
):
    layers = []
    for n_in, n_out in zip(layer_units[:-2], layer_units[1:-1]):
        layers.append(Dense(n_in, n_out))
        if batch_norm:
            layers.append(BatchNorm(n_out))
        layers.append(HIDDEN[activation]())
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(Dense(layer_units[-2], layer_units[-1]))
    return Sequential(
        layers, loss=ENGINE_LOSS[out_activation], dtype=dtype, seed=seed, backend=backend
    )


def sklearn_init(rs, layer_units, activation, dtype):
    """scikit-learn's initial coefs_ and intercepts_ (Glorot uniform, factor 2 for logistic;
    intercepts drawn from the same range), drawn from rs in its order."""
    factor = 2.0 if activation == "logistic" else 6.0
    coefs, intercepts = [], []
    for fan_in, fan_out in zip(layer_units[:-1], layer_units[1:]):
        bound = np.sqrt(factor / (fan_in + fan_out))
        coefs.append(rs.uniform(-bound, bound, (fan_in, fan_out)).astype(dtype, copy=False))
        intercepts.append(rs.uniform(-bound, bound, fan_out).astype(dtype, copy=False))
    return coefs, intercepts


def dense_positions(net):
    """Indices into get_weights() of each Dense layer's W (b follows it); every layer owns
    the arrays its descriptor's params() lists."""
    pos, i = [], 0
    for layer, width in zip(net.layers, net._layout.widths):
        if isinstance(layer, Dense):
            pos.append(i)
        i += len(layer.params(width))
    return pos


def get_coefs(net):
    w = net.get_weights()
    pos = dense_positions(net)
    return [w[i] for i in pos], [w[i + 1] for i in pos]


def set_coefs(net, coefs, intercepts):
    w = net.get_weights()
    for k, i in enumerate(dense_positions(net)):
        w[i], w[i + 1] = coefs[k], intercepts[k]
    net.set_weights(w)


def squared_norm(net):
    """sum over Dense layers of ||W||^2 (what alpha penalises)."""
    coefs, _ = get_coefs(net)
    return float(sum(np.dot(c.ravel(), c.ravel()) for c in coefs))


def rescale_momentum(net, factor):
    """Multiplies SGD's momentum buffer by factor. scikit-learn's velocity holds
    -lr * (torch's buffer); when its lr changes from a to b, the same velocity is the
    buffer times a / b."""
    m, v = net.get_optimizer_state()
    net.set_optimizer_state([[a * factor for a in m], v], net.optimizer_, net.opt_steps_)


# ---- rows (L-BFGS and prediction; the epochs of sgd/adam read rows in the engine) -------
def take_rows(X, idx):
    """X[idx] as a dense array (a sparse X is densified for these rows only)."""
    if sp.issparse(X):
        return X[idx].toarray()
    return X if idx is None else X[idx]


def chunk_rows(X):
    """Rows per chunk of X: about CHUNK_BYTES of dense rows, at least one."""
    return max(1, CHUNK_BYTES // max(X.shape[1] * np.dtype(X.dtype).itemsize, 1))


def row_chunks(X):
    """Index arrays covering the rows of a sparse X chunk by chunk; [None] ('all rows, no
    copy') for a dense X."""
    if not sp.issparse(X):
        return [None]
    n, step = X.shape[0], chunk_rows(X)
    return [np.arange(a, min(a + step, n)) for a in range(0, n, step)]


# ---- the full-batch objective (L-BFGS) -----------------------------------------------------
class FullBatchObjective:
    """scikit-learn's full-batch objective and its gradient as functions of the packed
    parameter vector [W1.ravel(), ..., Wk.ravel(), b1, ..., bk] (scikit-learn's order): the
    engine's loss and gradients (with sample_weight), scaled by loss_scale, plus alpha's
    penalty. The engine's loss and gradients take dense rows: a sparse X is densified chunk
    by chunk on every evaluation.
    """

    def __init__(self, net, X, Y, sw, out_activation, alpha):
        self.net, self.X, self.Y, self.out = net, X, Y, out_activation
        self.alpha = alpha
        n = X.shape[0]
        self.sw = sw
        self.W = float(n if sw is None else sw.sum())
        self.chunks = row_chunks(X)
        self.shapes = [c.shape for c in get_coefs(net)[0]]
        self.n_evals = 0
        self.scale = loss_scale(out_activation, Y.shape[1])

    def pack(self):
        coefs, intercepts = get_coefs(self.net)
        return np.concatenate([a.ravel() for a in coefs + intercepts]).astype(np.float64)

    def unpack(self, theta):
        coefs, intercepts, off = [], [], 0
        for s in self.shapes:
            coefs.append(theta[off : off + s[0] * s[1]].reshape(s))
            off += s[0] * s[1]
        for s in self.shapes:
            intercepts.append(theta[off : off + s[1]])
            off += s[1]
        return coefs, intercepts

    def __call__(self, theta):
        self.n_evals += 1
        coefs, intercepts = self.unpack(theta)
        set_coefs(self.net, coefs, intercepts)
        loss, grads = self._data_loss_and_gradients()
        # grads is in get_weights() order [W1, b1, W2, b2, ...] (no BatchNorm with L-BFGS)
        gW, gb = grads[0::2], grads[1::2]
        cur = get_coefs(self.net)[0]
        loss += 0.5 * self.alpha * sum(float(np.dot(c.ravel(), c.ravel())) for c in cur) / self.W
        gW = [g.astype(np.float64) + self.alpha * c / self.W for g, c in zip(gW, cur)]
        flat = np.concatenate([g.ravel() for g in gW] + [np.asarray(b, np.float64) for b in gb])
        return float(loss), flat

    def _data_loss_and_gradients(self):
        """scikit-learn's data loss (without the penalty) and its gradient list, chunk by
        chunk."""
        loss, grads = 0.0, None
        for idx in self.chunks:
            Xc = take_rows(self.X, idx)
            Yc = self.Y if idx is None else self.Y[idx]
            wc = None if self.sw is None else (self.sw if idx is None else self.sw[idx])
            l, g = self._chunk(Xc, Yc, wc)
            loss += l
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
        return loss, grads

    def _chunk(self, Xc, Yc, wc):
        """The chunk's share of the loss and of its gradient (in get_weights() order)."""
        net = self.net
        Xc = np.ascontiguousarray(Xc, dtype=net.dtype)
        wc = None if wc is None else np.ascontiguousarray(wc, dtype=net.dtype)
        value, grads = net._loss_and_gradients(Xc, Yc, wc)
        if not np.isfinite(value):
            return np.inf, [np.zeros_like(g) for g in grads]
        share = (Xc.shape[0] if wc is None else float(wc.sum())) / self.W
        return value * self.scale * share, [g * share for g in grads]


# ---- prediction ----------------------------------------------------------------------------
def forward(net, X, out_activation):
    """The network's output activations for X (a sparse X densified chunk by chunk)."""
    if not sp.issparse(X):
        z = net.predict(X)
    else:
        z = np.concatenate([net.predict(take_rows(X, idx)) for idx in row_chunks(X)])
    return z


class DaskObjective(FullBatchObjective):
    """The same objective over Dask partitions (mlpcore._dask.Partitions): every evaluation
    is one data-parallel pass, each worker's engine computing its partitions' loss and
    gradient, summed on the client in partition order."""

    def __init__(self, net, parts, out_activation, alpha):
        self.net, self.parts, self.out = net, parts, out_activation
        self.alpha = alpha
        self.W = parts.W
        self.shapes = [c.shape for c in get_coefs(net)[0]]
        self.n_evals = 0
        self.scale = loss_scale(out_activation, parts.Y.shape[1])

    def _data_loss_and_gradients(self):
        net = self.net
        value, grad = self.parts.loss_and_gradients(net._engine, False, net.step_)
        if not np.isfinite(value):
            return np.inf, [np.zeros(s) for s in net._param_shapes]
        from .._layout import split

        return value * self.scale, split(grad, net._param_shapes)
