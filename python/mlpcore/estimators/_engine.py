"""The bridge between scikit-learn's MLP objective and mlpcore.Sequential: the network,
scikit-learn's initialisation, the mapping of the objective onto the engine's loss and
weight decay (one function: `objective_terms`), one epoch of minibatch training, the
full-batch objective L-BFGS minimises, and forward passes (sparse X densified by chunks).

Everything here runs once per epoch, per L-BFGS function evaluation or per chunk of rows;
nothing runs per minibatch (the batches of an epoch run inside the engine)."""
import inspect

import numpy as np
import scipy.sparse as sp
from scipy.special import xlogy

from ..layers import BatchNorm, Dense, Dropout, Identity, ReLU, Sigmoid, Tanh
from ..sequential import Sequential

# scikit-learn's hidden activation name -> mlpcore layer
HIDDEN = {"identity": Identity, "logistic": Sigmoid, "tanh": Tanh, "relu": ReLU}
# scikit-learn's output activation -> the engine's fused output/loss pair. "exp" (Poisson)
# runs on the identity-output "mse" network: the Python side applies exp and supplies the
# Poisson gradient through the targets (see FullBatchObjective).
ENGINE_LOSS = {"softmax": "softmax_cross_entropy", "logistic": "binary_cross_entropy",
               "identity": "mse", "exp": "mse"}

# Rows that are copied or densified at a time are bounded to about this many bytes (at
# least one minibatch): the shuffled rows of an epoch, a sparse X's dense rows.
CHUNK_BYTES = 64 << 20


def engine_supports_sample_weight():
    """True once Sequential.fit/loss/gradients take sample_weight (mlpcore issue 7)."""
    return all("sample_weight" in inspect.signature(getattr(Sequential, m)).parameters
               for m in ("fit", "loss", "gradients"))


# ---- the objective -------------------------------------------------------------------------
def objective_terms(out_activation, n_outputs, alpha, batch_weight):
    """How scikit-learn's objective for one batch maps onto the engine's. The only place
    where the two conventions meet.

    scikit-learn, per batch with weight sum s (the batch size when unweighted):
        L_sk = data_sk + alpha / (2 s) * sum_layers ||W||^2,
        dL/dW = (backprop with output error delta = h - y) / s + alpha / s * W.
    mlpcore: data = mean over samples of the loss summed over outputs, output error
    delta = (h - y) / n; fit(weight_decay=lam) adds lam * W to the Dense weight gradients
    (not biases) and leaves the penalty out of the reported loss.

    - cross-entropy (softmax, logistic): data_sk == data, gradients equal.
    - squared_error: scikit-learn reports 0.5 * mean over samples AND outputs, so
      data_sk = data / n_outputs; its gradient still uses delta = h - y (the gradient of
      OUR data term), so the gradients are equal and only the reported value is scaled.
    - the penalty: weight_decay = alpha / s. Exact for unweighted full batches; the
      trailing smaller batch of an epoch is trained separately with its own s (see
      train_epoch). With unequal sample weights s differs per batch: weight_decay uses
      the mean batch weight (exact per-batch scaling waits for an engine option).

    Returns {"weight_decay": lam, "loss_scale": factor for the engine's data loss,
    "penalty": factor p such that the reported penalty is p * sum ||W||^2}.
    """
    scale = 1.0 / n_outputs if out_activation == "identity" else 1.0
    return {"weight_decay": alpha / batch_weight, "loss_scale": scale,
            "penalty": 0.5 * alpha / batch_weight}


# ---- the network ---------------------------------------------------------------------------
def build_network(layer_units, activation, out_activation, batch_norm, dropout, dtype, seed,
                  backend):
    layers = []
    for n_in, n_out in zip(layer_units[:-2], layer_units[1:-1]):
        layers.append(Dense(n_in, n_out))
        if batch_norm:
            layers.append(BatchNorm(n_out))
        layers.append(HIDDEN[activation]())
        if dropout > 0:
            layers.append(Dropout(dropout))
    layers.append(Dense(layer_units[-2], layer_units[-1]))
    return Sequential(layers, loss=ENGINE_LOSS[out_activation], dtype=dtype, seed=seed,
                      backend=backend)


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
    """Indices into get_weights() of each Dense layer's W (b follows it)."""
    pos, i = [], 0
    for layer in net.layers:
        if isinstance(layer, Dense):
            pos.append(i)
            i += 2
        elif isinstance(layer, BatchNorm):
            i += 2
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


def adam_eps(net, opt, n_steps):
    """Adam's epsilon for the engine's next n_steps steps (one epoch), so that its steps
    equal scikit-learn's. scikit-learn adds epsilon to sqrt(v); the engine (torch.optim.Adam)
    adds it to sqrt(v_hat) = sqrt(v) / sqrt(1 - beta2^t): the same step needs the engine's
    eps_t = epsilon / sqrt(1 - beta2^t). t changes every step; this takes t of the epoch's
    middle step (exact for one step per epoch, i.e. full batches; for minibatches the
    difference fades as beta2^t -> 0). Returns opt with that adam_eps."""
    current = net.optimizer_
    t = (net.opt_steps_ if current is not None else 0) + (n_steps + 1) / 2
    return {**opt, "adam_eps": float(opt["adam_eps"] / np.sqrt(1.0 - opt["betas"][1] ** t))}


def set_adam_eps(net, opt):
    """Records opt's adam_eps as the engine's current one, keeping the moments (Sequential.fit
    restarts them when its optimizer settings differ from optimizer_). Sequential documents
    optimizer_ as the settings dict of the last fit; replacing it is O(1), where
    set_optimizer_state would copy and check every moment each epoch."""
    current, eps_t = net.optimizer_, opt["adam_eps"]
    # (if optimizer_ stops being that dict, the engine restarts the moments at every epoch:
    # test_warm_start_keeps_the_optimizer_moments counts the steps and would fail)
    if (isinstance(current, dict) and current.get("name") == "adam"
            and current["eps"] != eps_t
            and (current["beta1"], current["beta2"]) == tuple(opt["betas"])):
        net.optimizer_ = {**current, "eps": eps_t}


# ---- rows ----------------------------------------------------------------------------------
def take_rows(X, idx):
    """X[idx] as a dense array (a sparse X is densified for these rows only)."""
    if sp.issparse(X):
        return X[idx].toarray()
    return X if idx is None else X[idx]


def chunk_rows(X, multiple=1):
    """Rows per chunk: about CHUNK_BYTES of dense rows, a multiple of `multiple` (>= 1 of it)."""
    row_bytes = X.shape[1] * np.dtype(X.dtype).itemsize
    return max(1, CHUNK_BYTES // max(row_bytes, 1) // multiple) * multiple


def row_chunks(X):
    """Index arrays covering the rows of a sparse X chunk by chunk; [None] ('all rows, no
    copy') for a dense X."""
    if not sp.issparse(X):
        return [None]
    n, step = X.shape[0], chunk_rows(X)
    return [np.arange(a, min(a + step, n)) for a in range(0, n, step)]


# ---- training ------------------------------------------------------------------------------
def train_epoch(net, X, Y, sw, order, batch_size, lr, alpha, out_activation, opt,
                sw_scale=1.0):
    """One epoch of minibatch training over the rows `order` of X, in that order, in
    batches of batch_size (the last one smaller), the batches run by the engine.

    Returns scikit-learn's epoch loss without the penalty: the batch losses (each before
    its update) averaged with the batch sizes as weights, and the number of batches.

    The epoch runs as a few engine calls ("segments"): the full batches in one call and
    the trailing smaller batch in another, so that each gets weight_decay = alpha / its
    own size (scikit-learn's per-batch scaling). The rows of a segment are gathered in
    `order` (densified when X is sparse); segments of full batches hold about CHUNK_BYTES
    at most, so an epoch never copies all of a large X at once. With BatchNorm a
    one-sample trailing batch stays in the last call (the engine joins it to the batch
    before).
    sw_scale: the common value of equal sample weights (scales the batch weight sum).
    """
    n = len(order)
    n_full = n - n % batch_size
    sparse = sp.issparse(X)
    step = min(n_full, chunk_rows(X, batch_size)) or batch_size
    bounds = [(a, min(a + step, n_full)) for a in range(0, n_full, step)] if n_full else []
    if n_full < n:
        bounds.append((n_full, n))
    batch_norm = any(isinstance(l, BatchNorm) for l in net.layers)
    if batch_norm and len(bounds) > 1 and bounds[-1][1] - bounds[-1][0] == 1:
        bounds[-2:] = [(bounds[-2][0], n)]
    if opt["optimizer"] == "adam":
        opt = adam_eps(net, opt, -(-n // batch_size))
    identity = not sparse and n == X.shape[0] and np.array_equal(order, np.arange(n))
    total = 0.0
    for a, b in bounds:
        idx = None if (identity and (a, b) == (0, n)) else order[a:b]
        Xs, Ys = take_rows(X, idx), (Y if idx is None else Y[idx])
        size = min(batch_size, b - a)
        kw = {}
        if sw is not None:
            kw["sample_weight"] = sw if idx is None else sw[idx]
            batch_weight = size * float(np.mean(kw["sample_weight"]))
        else:
            batch_weight = size * sw_scale
        terms = objective_terms(out_activation, Y.shape[1], alpha, batch_weight)
        if opt["optimizer"] == "adam":
            set_adam_eps(net, opt)
        losses = net.fit(Xs, Ys, epochs=1, batch_size=batch_size, lr=lr, shuffle=False,
                         weight_decay=terms["weight_decay"], **opt, **kw)
        total += losses[0] * (b - a) * terms["loss_scale"]
    return total / n, -(-n // batch_size)


# ---- the full-batch objective (L-BFGS) -----------------------------------------------------
class FullBatchObjective:
    """scikit-learn's full-batch objective and its gradient as functions of the packed
    parameter vector [W1.ravel(), ..., Wk.ravel(), b1, ..., bk] (scikit-learn's order).

    Classification: the engine's loss and gradients (with sample_weight once the engine
    has it). Regression (squared_error, poisson): one forward pass gives the network's
    output z; the loss and its derivative G = dL/dz per sample are computed here, and the
    engine's "mse" gradient with targets y' = z - n_c * G returns exactly sum_i J_i^T G_i
    (its output error is (z - y') / n_c). This gives weighted and Poisson objectives exactly
    without engine support. A sparse X is densified chunk by chunk on every evaluation.
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

    def pack(self):
        coefs, intercepts = get_coefs(self.net)
        return np.concatenate([a.ravel() for a in coefs + intercepts]).astype(np.float64)

    def unpack(self, theta):
        coefs, intercepts, off = [], [], 0
        for s in self.shapes:
            coefs.append(theta[off:off + s[0] * s[1]].reshape(s))
            off += s[0] * s[1]
        for s in self.shapes:
            intercepts.append(theta[off:off + s[1]])
            off += s[1]
        return coefs, intercepts

    def __call__(self, theta):
        self.n_evals += 1
        coefs, intercepts = self.unpack(theta)
        set_coefs(self.net, coefs, intercepts)
        loss, grads = 0.0, None
        for idx in self.chunks:
            Xc = take_rows(self.X, idx)
            Yc = self.Y if idx is None else self.Y[idx]
            wc = None if self.sw is None else (self.sw if idx is None else self.sw[idx])
            if self.out in ("identity", "exp"):
                l, g = self._regression_chunk(Xc, Yc, wc)
            else:
                l, g = self._engine_chunk(Xc, Yc, wc)
            loss += l
            grads = g if grads is None else [a + b for a, b in zip(grads, g)]
        # grads is in get_weights() order [W1, b1, W2, b2, ...] (no BatchNorm with L-BFGS)
        gW, gb = grads[0::2], grads[1::2]
        cur = get_coefs(self.net)[0]
        loss += 0.5 * self.alpha * sum(float(np.dot(c.ravel(), c.ravel())) for c in cur) / self.W
        gW = [g.astype(np.float64) + self.alpha * c / self.W for g, c in zip(gW, cur)]
        flat = np.concatenate([g.ravel() for g in gW] + [np.asarray(b, np.float64) for b in gb])
        return float(loss), flat

    def _engine_chunk(self, Xc, Yc, wc):
        if wc is None:
            share = Xc.shape[0] / self.W
            return (self.net.loss(Xc, Yc) * share,
                    [g * share for g in self.net.gradients(Xc, Yc)])
        share = float(wc.sum()) / self.W
        return (self.net.loss(Xc, Yc, sample_weight=wc) * share,
                [g * share for g in self.net.gradients(Xc, Yc, sample_weight=wc)])

    def _regression_chunk(self, Xc, Yc, wc):
        z = self.net.predict(Xc).astype(np.float64)  # (n_c, n_outputs), identity output
        y = Yc.astype(np.float64)
        w = np.ones(len(z)) if wc is None else wc.astype(np.float64)
        if self.out == "identity":
            r = z - y
            per_sample = 0.5 * np.mean(r * r, axis=1)   # scikit-learn: mean over outputs
            G = w[:, None] * r / self.W                  # its gradient: delta = h - y
        else:
            with np.errstate(over="ignore"):
                p = np.exp(z)
            per_sample = np.sum(xlogy(y, y) - y * z - y + p, axis=1)
            G = w[:, None] * (p - y) / self.W
        loss = float(np.dot(w, per_sample)) / self.W
        if not np.isfinite(G).all():
            return np.inf, [np.zeros_like(a) for a in self.net.get_weights()]
        target = z - len(z) * G
        return loss, self.net.gradients(Xc, target.astype(self.net.dtype))


# ---- prediction ----------------------------------------------------------------------------
def forward(net, X, out_activation):
    """The network's output activations for X (a sparse X densified chunk by chunk)."""
    if not sp.issparse(X):
        z = net.predict(X)
    else:
        z = np.concatenate([net.predict(take_rows(X, idx)) for idx in row_chunks(X)])
    if out_activation == "exp":
        with np.errstate(over="ignore"):
            z = np.exp(z)
    return z
