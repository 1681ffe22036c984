"""Sequential: a feed-forward network of layers plus a fused output/loss pair, run by the
C++ engine (backend="native") or by its NumPy twin (backend="numpy")."""
import copy
import threading

import numpy as np

from . import _checks
from .layers import Activation, BatchNorm, Dense, Dropout, Layer
from .reference import losses as _losses, optim as _optim
from .reference.network import Network as _NumpyNetwork, param_shapes, state_shapes

BACKENDS = ("native", "numpy")
_NO_GRADIENT = ("step", "sign")


def _native_engine(dtype):
    try:
        from . import _core
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ImportError("mlpcore's C++ extension (mlpcore._core) could not be loaded; "
                          "reinstall with 'pip install .' or use backend='numpy'") from exc
    return _core.Network32 if dtype == np.float32 else _core.Network64


class Sequential:
    """A multilayer perceptron.

    Parameters
    ----------
    layers : list of Layer
        e.g. ``[Dense(784, 256), ReLU(), Dense(256, 10)]``. The last layer produces the
        net input z of the output; the loss's output activation is applied on top of it.
    loss : {"softmax_cross_entropy", "binary_cross_entropy", "mse"}
        Fused output activation and loss: softmax + cross-entropy (multi-class),
        sigmoid + binary cross-entropy per output (binary and multi-label), identity +
        half squared error (regression). The loss is summed over outputs and averaged over
        samples, so the output error is delta = (h - y) / n_samples.
    dtype : "float32" or "float64"
    seed : int or None
        Seeds the initial weights, the shuffling and the dropout masks. None draws one.
    backend : "native" (C++ on OpenBLAS) or "numpy" (the pure-NumPy reference twin).
    """

    def __init__(self, layers, loss="mse", dtype="float64", seed=None, backend="native"):
        if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
            raise ValueError("layers must be a list of mlpcore layers")
        layers = list(layers)
        if not layers:
            raise ValueError("layers must not be empty")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layers[{i}] must be an mlpcore layer, got {layer!r}")
        if loss not in _losses.NAMES:
            raise ValueError(f"unknown loss {loss!r}; known losses: {', '.join(_losses.NAMES)}")
        if backend not in BACKENDS:
            raise ValueError(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")
        self.layers = copy.deepcopy(layers)
        self.loss_name = loss
        self.dtype = _checks.check_dtype(dtype)
        self.seed = _checks.check_seed(seed)
        self.backend = backend
        self.n_features_in_, self.n_outputs_ = self._check_widths()
        if loss == "softmax_cross_entropy" and self.n_outputs_ < 2:
            raise ValueError("softmax_cross_entropy needs at least 2 outputs, the network has "
                             f"{self.n_outputs_}; use binary_cross_entropy for one output")
        self._specs = [layer.spec() for layer in self.layers]
        self._param_shapes = [s for spec in self._specs for s in param_shapes(spec)]
        self._state_shapes = [s for spec in self._specs for s in state_shapes(spec)]
        if backend == "native":
            self._engine = _native_engine(self.dtype)(self._specs, loss, self.seed)
        else:
            self._engine = _NumpyNetwork(self._specs, loss, self.dtype, self.seed)
        self.epoch_ = 0  # epochs trained so far: keys the next epoch's shuffle
        self.step_ = 0   # optimiser steps taken so far: keys the next step's dropout masks
        self.optimizer_ = None  # the optimizer of the last fit (its moments live in the engine)
        self.opt_steps_ = 0     # steps of that optimizer since its moments were zero
        self.history_ = {"loss": []}
        self._fit_lock = threading.RLock()  # one fit at a time: fits share epoch_ and step_
        self._engine.set_params(self._initial_params())

    # ---- construction ------------------------------------------------------------------
    def _check_widths(self):
        """(input width, output width); every Dense/BatchNorm must match the width before it."""
        first = width = None
        for i, layer in enumerate(self.layers):
            if layer.n_in is None:
                continue  # activations and dropout keep the width
            if width is None:
                first = layer.n_in
            elif layer.n_in != width:
                raise ValueError(f"layers[{i}] ({layer!r}) expects {layer.n_in} inputs but "
                                 f"the layer before it produces {width}")
            width = layer.n_out
        if first is None:
            raise ValueError("the network needs at least one Dense or BatchNorm layer to "
                             "know its input width")
        return first, width

    def _initial_params(self):
        rng = np.random.default_rng(self.seed)
        flat = []
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Dense):
                after = next((l for l in self.layers[i + 1:]
                              if not isinstance(l, (BatchNorm, Dropout))), None)
                fan = layer.n_in if getattr(after, "name", None) == "relu" else layer.n_in + layer.n_out
                bound = np.sqrt(6.0 / fan)
                flat.append(rng.uniform(-bound, bound, layer.n_in * layer.n_out))
                flat.append(np.zeros(layer.n_out))
            elif isinstance(layer, BatchNorm):
                flat += [np.ones(layer.n_in), np.zeros(layer.n_in)]
        return np.concatenate(flat).astype(self.dtype) if flat else np.zeros(0, self.dtype)

    # ---- weights and state -------------------------------------------------------------
    def _split(self, flat, shapes):
        out, off = [], 0
        for s in shapes:
            size = int(np.prod(s))
            out.append(flat[off:off + size].reshape(s))
            off += size
        return out

    def get_weights(self):
        """Copies of the parameters in layer order: [W1, b1, W2, b2, ...]; a BatchNorm layer
        contributes [gamma, beta]."""
        return self._split(self._engine.get_params(), self._param_shapes)

    def set_weights(self, weights):
        """Replaces every parameter; weights is a list shaped like get_weights()."""
        arrays = _checks.check_array_list("weights", weights, self._param_shapes, self.dtype)
        flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0, self.dtype)
        self._engine.set_params(flat)

    def get_state(self):
        """Copies of the non-trainable state: [running_mean, running_var] per BatchNorm layer.
        Saved and restored with the weights by mlpcore.save()/load() and by pickling."""
        return self._split(self._engine.get_state(), self._state_shapes)

    def set_state(self, state):
        """Replaces the BatchNorm running statistics; a list shaped like get_state()."""
        arrays = _checks.check_array_list("state", state, self._state_shapes, self.dtype)
        for i in range(1, len(arrays), 2):
            if (arrays[i] < 0).any():
                raise ValueError(f"state[{i}] is a running variance and must be >= 0")
        flat = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0, self.dtype)
        self._engine.set_state(flat)

    # ---- evaluation --------------------------------------------------------------------
    def _check_mode(self, training, step, n_samples):
        step = self.step_ if step is None else _checks.check_nonnegative_int("step", step)
        training = bool(training)
        if training and n_samples < 2 and any(s[0] == "batchnorm" for s in self._specs):
            raise ValueError("BatchNorm in training mode needs at least 2 samples "
                             f"(X has {n_samples}): one sample has no batch variance")
        return training, step

    def _check_differentiable(self):
        first_param = next((i for i, s in enumerate(self._specs) if param_shapes(s)), None)
        for i, spec in enumerate(self._specs):
            if spec[0] in _NO_GRADIENT and first_param is not None and i > first_param:
                raise ValueError(
                    f"layers[{i}] is {self.layers[i]!r}, whose derivative is zero almost "
                    "everywhere: no gradient reaches the layers below it, so the network "
                    "cannot be trained by gradient descent. Use Sigmoid/Tanh (smooth "
                    "versions of step/sign) for training.")

    def predict(self, X, training=False, step=None):
        """Output activations (n_samples, n_outputs): class probabilities for the
        cross-entropy losses, values for mse. training=True applies dropout masks of
        `step` (default: the next training step) and batch statistics."""
        X = _checks.check_X(X, self.n_features_in_, self.dtype)
        training, step = self._check_mode(training, step, X.shape[0])
        return self._engine.predict(X, training, step)

    def loss(self, X, y, training=False, step=None):
        """Mean loss over the samples, a float."""
        X = _checks.check_X(X, self.n_features_in_, self.dtype)
        Y = _checks.check_targets(y, self.loss_name, X.shape[0], self.n_outputs_, self.dtype)
        training, step = self._check_mode(training, step, X.shape[0])
        return float(self._engine.loss(X, Y, training, step))

    def gradients(self, X, y, training=False, step=None):
        """Gradient of loss(X, y, training, step) with respect to every parameter: a list
        shaped like get_weights(). Updates nothing (batch-norm running statistics included)."""
        X = _checks.check_X(X, self.n_features_in_, self.dtype)
        Y = _checks.check_targets(y, self.loss_name, X.shape[0], self.n_outputs_, self.dtype)
        training, step = self._check_mode(training, step, X.shape[0])
        self._check_differentiable()
        _, grad = self._engine.gradients(X, Y, training, step)
        return self._split(grad, self._param_shapes)

    # ---- training ----------------------------------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=32, lr=0.01, shuffle=True, weight_decay=0.0,
            optimizer="sgd", momentum=0.0, nesterov=False, betas=(0.9, 0.999), adam_eps=1e-8,
            validation_data=None, patience=None, callback=None):
        """Minibatch stochastic gradient descent; returns the per-epoch training loss.

        Each epoch visits every sample once, in an order shuffled by (seed, epoch) when
        shuffle is true, in batches of batch_size; the last, smaller batch is used too
        (with BatchNorm, a trailing one-sample batch joins the batch before it).
        batch_size >= n_samples is full-batch gradient descent. The loss of an epoch is the
        sample-weighted mean of its batch losses, each computed before its update.
        The whole epoch runs in the engine (in C++ with the GIL released for "native");
        Python is back once per epoch only.

        optimizer="sgd" (with momentum and nesterov) or "adam" (with betas and adam_eps)
        follows torch.optim.SGD / torch.optim.Adam exactly. weight_decay=lam is L2
        regularisation of the Dense weight matrices (not biases or BatchNorm): lam * W is
        added to their gradient, so plain SGD steps W -= lr * (dL/dW + lam * W), the gradient
        step on loss + lam/2 * sum ||W||^2. The reported losses exclude the penalty term.
        The optimizer's moments persist across fit calls, in get_optimizer_state(),
        save/load and pickles; they restart from zero when fit is called with a different
        optimizer, momentum, nesterov, betas or adam_eps (changing lr or weight_decay keeps
        them). Adam usually wants a smaller lr (1e-3).

        validation_data=(X_val, y_val) records the evaluation-mode validation loss after
        every epoch in history_["val_loss"]. patience=k (needs validation_data) stops early
        once the validation loss has not improved for k epochs, and restores the weights and
        state of the best epoch. callback(net, logs) is called after every epoch with
        logs = {"epoch", "loss"[, "val_loss"]}; returning True stops training.
        If the loss becomes NaN or infinite, the weights of the last finite epoch are
        restored and FloatingPointError is raised.
        """
        X = _checks.check_X(X, self.n_features_in_, self.dtype)
        Y = _checks.check_targets(y, self.loss_name, X.shape[0], self.n_outputs_, self.dtype)
        epochs = _checks.check_nonnegative_int("epochs", epochs)
        batch_size = min(_checks.check_positive_int("batch_size", batch_size), X.shape[0])
        lr = _checks.check_positive_real("lr", lr)
        if lr >= np.finfo(self.dtype).max:
            raise ValueError(f"lr={lr!r} is not representable in {self.dtype.name}")
        weight_decay = _checks.check_nonnegative_real("weight_decay", weight_decay)
        opt = _checks.check_optimizer(optimizer, momentum, nesterov, betas, adam_eps)
        Xv = Yv = None
        if validation_data is not None:
            if not isinstance(validation_data, (tuple, list)) or len(validation_data) != 2:
                raise ValueError("validation_data must be a pair (X_val, y_val)")
            Xv = _checks.check_X(validation_data[0], self.n_features_in_, self.dtype, "X_val")
            Yv = _checks.check_targets(validation_data[1], self.loss_name, Xv.shape[0],
                                       self.n_outputs_, self.dtype, "y_val")
        if patience is not None:
            patience = _checks.check_positive_int("patience", patience)
            if validation_data is None:
                raise ValueError("patience (early stopping) needs validation_data")
        if callback is not None and not callable(callback):
            raise ValueError(f"callback must be callable, got {callback!r}")
        self._check_differentiable()
        if any(s[0] == "batchnorm" for s in self._specs):
            if X.shape[0] < 2:
                raise ValueError("a network with BatchNorm needs at least 2 training samples, "
                                 f"got {X.shape[0]}")
            if batch_size < 2:
                raise ValueError("batch_size must be >= 2 for a network with BatchNorm "
                                 "(one sample has no batch variance)")
        with self._fit_lock:
            return self._fit_epochs(X, Y, epochs, batch_size,
                                    {**opt, "lr": lr, "weight_decay": weight_decay},
                                    shuffle, Xv, Yv, patience, callback)

    def _fit_epochs(self, X, Y, epochs, batch_size, opt, shuffle, Xv, Yv, patience, callback):
        """The epochs of fit, each one all or nothing: an epoch that fails (divergence, an
        exception, Ctrl-C) leaves weights, state, moments and counters as they were before it."""
        losses = []
        best = (np.inf, None)  # (validation loss, (params, state)) of the best epoch
        since_best = 0
        settings = {k: v for k, v in opt.items() if k not in ("lr", "weight_decay")}
        for _ in range(epochs):
            before = (self._engine.get_params(), self._engine.get_state(),
                      self._engine.get_optimizer_state(), self.optimizer_, self.opt_steps_)
            committed = False
            try:
                if settings != self.optimizer_:  # another optimizer starts from zero moments
                    self._engine.set_optimizer_state(np.zeros_like(before[2]))
                    self.optimizer_, self.opt_steps_ = settings, 0
                value, steps = self._engine.train_epoch(X, Y, batch_size, opt, self.opt_steps_,
                                                        self.epoch_, self.step_, bool(shuffle))
                # The last batch's update is not in the epoch loss: check the weights and
                # the batch-norm running statistics as well.
                if not (np.isfinite(value) and np.isfinite(self._engine.get_params()).all()
                        and np.isfinite(self._engine.get_state()).all()):
                    raise FloatingPointError(
                        f"training diverged in epoch {self.epoch_} (loss {value}; weights or "
                        "batch-norm statistics overflowed); the weights and state from before "
                        "that epoch were restored. Try a smaller lr or rescale the inputs.")
                logs = {"epoch": self.epoch_, "loss": float(value)}
                self.epoch_, self.step_, self.opt_steps_ = (
                    self.epoch_ + 1, self.step_ + int(steps), self.opt_steps_ + int(steps))
                committed = True
            finally:
                if not committed:
                    self._engine.set_params(before[0])
                    self._engine.set_state(before[1])
                    self._engine.set_optimizer_state(before[2])
                    self.optimizer_, self.opt_steps_ = before[3], before[4]
            losses.append(float(value))
            self.history_["loss"].append(float(value))
            if Xv is not None:
                logs["val_loss"] = float(self._engine.loss(Xv, Yv, False, self.step_))
                self.history_.setdefault("val_loss", []).append(logs["val_loss"])
                if logs["val_loss"] < best[0]:
                    best = (logs["val_loss"], (self._engine.get_params(), self._engine.get_state()))
                    since_best = 0
                else:
                    since_best += 1
            if callback is not None and callback(self, logs):
                break
            if patience is not None and since_best >= patience:
                if best[1] is not None:  # None: no finite validation loss was ever seen
                    self._engine.set_params(best[1][0])
                    self._engine.set_state(best[1][1])
                break
        return losses

    def get_optimizer_state(self):
        """The optimizer's moments as two lists shaped like get_weights(): [m, v] (SGD
        keeps its velocity in m; plain SGD uses neither)."""
        flat = self._engine.get_optimizer_state()
        n = flat.size // 2
        return [self._split(flat[:n], self._param_shapes), self._split(flat[n:], self._param_shapes)]

    def set_optimizer_state(self, moments, optimizer=None, opt_steps=0):
        """Restores [m, v] (as from get_optimizer_state()) for `optimizer` (a dict as in
        optimizer_, None for none yet) after `opt_steps` steps."""
        if not isinstance(moments, (list, tuple)) or len(moments) != 2:
            raise ValueError("moments must be a pair [m, v] of weight-shaped lists")
        m = _checks.check_array_list("moments[0]", moments[0], self._param_shapes, self.dtype)
        v = _checks.check_array_list("moments[1]", moments[1], self._param_shapes, self.dtype)
        if any((a < 0).any() for a in v):
            raise ValueError("moments[1] holds second moments (Adam's v) and must be >= 0")
        opt_steps = _checks.check_nonnegative_int("opt_steps", opt_steps)
        if optimizer is not None and not isinstance(optimizer, dict):
            raise ValueError(f"optimizer must be a dict like optimizer_ or None, got {optimizer!r}")
        if optimizer is not None:
            o = {**_optim.DEFAULTS, **optimizer}
            optimizer = _checks.check_optimizer(o["name"], o["momentum"], o["nesterov"],
                                                (o["beta1"], o["beta2"]), o["eps"])
        flat = np.concatenate([a.ravel() for a in m + v]) if m else np.zeros(0, self.dtype)
        self._engine.set_optimizer_state(flat)
        self.optimizer_, self.opt_steps_ = optimizer, opt_steps

    # ---- persistence -------------------------------------------------------------------
    def __getstate__(self):
        return {"layers": self.layers, "loss": self.loss_name, "dtype": self.dtype.name,
                "seed": self.seed, "backend": self.backend, "epoch_": self.epoch_,
                "step_": self.step_, "history_": self.history_,
                "weights": self.get_weights(), "state": self.get_state(),
                "optimizer_": self.optimizer_, "opt_steps_": self.opt_steps_,
                "optimizer_state": self.get_optimizer_state()}

    def __setstate__(self, d):
        self.__init__(d["layers"], loss=d["loss"], dtype=d["dtype"], seed=d["seed"],
                      backend=d["backend"])
        self.set_weights(d["weights"])
        self.set_state(d["state"])
        if "optimizer_state" in d:  # absent from pickles made before the optimizers existed
            self.set_optimizer_state(d["optimizer_state"], d["optimizer_"], d["opt_steps_"])
        self.epoch_, self.step_, self.history_ = d["epoch_"], d["step_"], d["history_"]

    def __repr__(self):
        inner = ", ".join(repr(l) for l in self.layers)
        return (f"Sequential([{inner}], loss={self.loss_name!r}, dtype={self.dtype.name!r}, "
                f"seed={self.seed}, backend={self.backend!r})")
