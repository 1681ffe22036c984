"""Sequential: a feed-forward network of layer descriptors plus a fused output/loss pair, run
by the C++ engine (backend="native") or by its NumPy twin (backend="numpy")."""
import copy
import threading

import numpy as np

from . import _checks, _record, _training, metrics as _metrics
from ._layout import Layout, join, split
from .layers import deserialize, serialize
from .reference.network import Network as _NumpyNetwork

BACKENDS = ("native", "numpy")


def _native_engine(dtype):
    try:
        from . import _core
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ImportError("mlpcore's C++ extension (mlpcore._core) could not be loaded; "
                          "reinstall with 'pip install .' or use backend='numpy'") from exc
    return _core.Network32 if dtype == np.float32 else _core.Network64


def check_config(layers, loss, dtype, seed, backend):
    """The checked constructor arguments (layers as a Layout); builds nothing."""
    layout = Layout(layers)
    return (layout, _checks.check_loss(loss, layout.n_out), _checks.check_dtype(dtype),
            _checks.check_seed(seed), _checks.check_choice("backend", backend, BACKENDS))


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
        layout, self.loss_name, self.dtype, self.seed, self.backend = check_config(
            layers, loss, dtype, seed, backend)
        self._layout = copy.deepcopy(layout)  # the model owns its layers: later edits of the
        self.layers = self._layout.layers    # caller's layer objects do not reach it
        self.n_features_in_, self.n_outputs_ = self._layout.n_in, self._layout.n_out
        self._param_shapes, self._state_shapes = self._layout.param_shapes, self._layout.state_shapes
        if backend == "native":
            self._engine = _native_engine(self.dtype)(self._layout.specs, loss, self.seed)
        else:
            self._engine = _NumpyNetwork(self._layout.specs, loss, self.dtype, self.seed)
        self.epoch_ = 0  # epochs trained so far: keys the next epoch's shuffle
        self.step_ = 0   # optimiser steps taken so far: keys the next step's dropout masks
        self.optimizer_ = None  # the optimizer of the last fit (its moments live in the engine)
        self.opt_steps_ = 0     # steps of that optimizer since its moments were zero
        self.history_ = {"loss": []}
        self._fit_lock = threading.RLock()  # one fit at a time: fits share epoch_ and step_
        self._engine.set_params(join(self._layout.initial_params(self.seed), self.dtype))
        self._engine.set_state(join(self._layout.initial_state(), self.dtype))

    # ---- configuration -----------------------------------------------------------------
    def get_config(self):
        """The constructor arguments, JSON-able: Sequential.from_config(net.get_config())
        builds the same untrained model (same initial weights)."""
        return {"layers": [serialize(l) for l in self.layers], "loss": self.loss_name,
                "dtype": self.dtype.name, "seed": self.seed, "backend": self.backend}

    @classmethod
    def from_config(cls, config, backend=None):
        """The model get_config() described; backend overrides the saved one."""
        layers, kwargs = parse_config(config)
        if backend is not None:
            kwargs["backend"] = backend
        return cls(layers, **kwargs)

    # ---- weights and state -------------------------------------------------------------
    def get_weights(self):
        """Copies of the parameters in layer order: [W1, b1, W2, b2, ...]; a BatchNorm layer
        contributes [gamma, beta]."""
        return split(self._engine.get_params(), self._param_shapes)

    def set_weights(self, weights):
        """Replaces every parameter; weights is a list shaped like get_weights()."""
        arrays = _checks.check_array_list("weights", weights, self._param_shapes, self.dtype)
        self._engine.set_params(join(arrays, self.dtype))

    def get_state(self):
        """Copies of the non-trainable state: [running_mean, running_var] per BatchNorm layer.
        Saved and restored with the weights by mlpcore.save()/load() and by pickling."""
        return split(self._engine.get_state(), self._state_shapes)

    def set_state(self, state):
        """Replaces the BatchNorm running statistics; a list shaped like get_state()."""
        self._engine.set_state(join(self._layout.check_state(state, self.dtype), self.dtype))

    # ---- evaluation --------------------------------------------------------------------
    def _check_call(self, X, y, training, step):
        """X, Y (None without y), training and step of predict/loss/gradients, checked."""
        X = _checks.check_X(X, self.n_features_in_, self.dtype)
        Y = None if y is None else _checks.check_targets(y, self.loss_name, X.shape[0],
                                                         self.n_outputs_, self.dtype)
        step = self.step_ if step is None else _checks.check_nonnegative_int("step", step)
        training = bool(training)
        if training:
            self._layout.check_batch(X.shape[0], f"X has {X.shape[0]}")
        return X, Y, training, step

    def predict(self, X, training=False, step=None):
        """Output activations (n_samples, n_outputs): class probabilities for the
        cross-entropy losses, values for mse. training=True applies dropout masks of
        `step` (default: the next training step) and batch statistics."""
        X, _, training, step = self._check_call(X, None, training, step)
        return self._engine.predict(X, training, step)

    def loss(self, X, y, training=False, step=None, sample_weight=None):
        """Mean loss over the samples, a float; with sample_weight (n_samples,) > 0 the
        weighted mean sum_i w_i l_i / sum_i w_i (scikit-learn's definition)."""
        X, Y, training, step = self._check_call(X, y, training, step)
        w = _checks.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        return float(self._engine.loss(X, Y, training, step, w))

    def gradients(self, X, y, training=False, step=None, sample_weight=None):
        """Gradient of loss(X, y, training, step, sample_weight) with respect to every
        parameter: a list shaped like get_weights(). Updates nothing (batch-norm running
        statistics included)."""
        X, Y, training, step = self._check_call(X, y, training, step)
        w = _checks.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        self._layout.check_differentiable()
        _, grad = self._engine.gradients(X, Y, training, step, w)
        return split(grad, self._param_shapes)

    def evaluate(self, X, y, sample_weight=None):
        """{"loss": the (weighted) mean loss, and the loss's metrics (mlpcore.metrics):
        "accuracy" for the cross-entropy losses, "r2" and "mae" for mse and poisson}, in
        evaluation mode."""
        X, Y, _, step = self._check_call(X, y, False, None)
        w = _checks.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        out = {"loss": float(self._engine.loss(X, Y, False, step, w))}
        out.update(_metrics.compute(self.loss_name, self._engine.predict(X, False, step), Y, w))
        return out

    # ---- training ----------------------------------------------------------------------
    def fit(self, X, y, epochs=1, batch_size=32, lr=_training.Default(0.01), shuffle=True,
            weight_decay=_training.Default(0.0), optimizer="sgd",
            momentum=_training.Default(0.0), nesterov=_training.Default(False),
            betas=_training.Default((0.9, 0.999)), adam_eps=_training.Default(1e-8),
            validation_data=None, patience=None, callback=None, *, validation_split=None,
            sample_weight=None, class_weight=None, clip_norm=None, clip_value=None,
            l2_alpha=0.0, record_steps=False, verbose=0, callbacks=None, grad_norms=None):
        """Minibatch stochastic gradient descent; returns a History (mlpcore.history): a list
        of the per-epoch training losses that also holds history.history, a dict of lists
        ("epoch", "loss", "val_loss", validation metrics, "lr", "time", "grad_norm_<i>").
        net.history_ keeps the same record across fit calls.

        Each epoch visits every sample once, in an order shuffled by (seed, epoch) when
        shuffle is true, in batches of batch_size; the last, smaller batch is used too
        (with BatchNorm, a trailing one-sample batch joins the batch before it).
        batch_size >= n_samples is full-batch gradient descent. The loss of an epoch is the
        (sample-weight) weighted mean of its batch losses, each computed before its update.
        The whole epoch runs in the engine (in C++ with the GIL released for "native");
        Python is back once per epoch only.

        X is a (n_samples, n_features) array or a scipy.sparse matrix (its rows are gathered
        per batch in the engine; results equal the dense ones).

        Optimizer: an object of mlpcore.optimizers (mc.SGD, mc.Adam, mc.AdamW, mc.RMSprop,
        with torch.optim's names, defaults and update rules), or a name "sgd", "adam",
        "adamw", "rmsprop" with the settings lr (default 0.01), momentum, nesterov (sgd),
        betas, adam_eps (adam, adamw; eps of rmsprop too) and weight_decay (default 0; with
        an optimizer object, set these on the object). weight_decay=lam is L2
        regularisation of the Dense weight matrices (not biases or BatchNorm): lam * W is
        added to their gradient (adamw: decoupled, W *= 1 - lr lam). l2_alpha=a is
        scikit-learn's alpha: a / (the batch's weight sum) is added to that decay. The
        reported losses exclude the penalty. The moments persist across fit calls, in
        get_optimizer_state(), save/load and pickles; they restart from zero when the
        optimizer's kind or settings other than lr and weight_decay change.

        lr may be a schedule of mlpcore.schedules (applied per step inside the engine;
        steps and epochs count from the start of this fit). clip_value=c clamps every
        gradient element to [-c, c]; clip_norm=c then scales the gradient to global L2 norm
        at most c (torch.nn.utils.clip_grad_norm_).

        sample_weight (n_samples,) > 0: each batch's loss is the weighted mean
        sum w_i l_i / sum w_i, so a sample of weight 2 counts as that sample twice in
        full-batch training. class_weight ("balanced" or {class: weight}, classification
        losses) multiplies them.

        validation_data=(X_val, y_val[, w_val]) or validation_split=f (a hold-out of a
        fraction f of the samples drawn from the model's seed, stratified by class for
        classification)
        record the evaluation-mode validation loss and metrics after every epoch.
        patience=k (needs validation) is EarlyStopping("val_loss", patience=k,
        restore_best_weights=True). callbacks=[...] (mlpcore.callbacks) are called once per
        epoch; callback(net, logs) is the older shortcut (return True to stop).
        record_steps=True keeps every step's loss in history.step_losses. verbose=1 draws
        a progress bar while each epoch runs, verbose=2 prints one line per epoch.
        grad_norms=True records each parameter layer's mean gradient L2 norm over the epoch
        (history "grad_norm_<i>", after clip_value, before clip_norm; off by default: the
        engine's pass over the gradients costs up to about 20% of a step on small nets).

        Each epoch is all or nothing: if the loss, the weights, the batch-norm statistics
        or the outputs (on the first 32 rows of X) become NaN or
        infinite, the weights from before the epoch are restored and FloatingPointError is
        raised; an exception or Ctrl-C (polled between steps by the C++ engine, so it
        stops within about one step) restores them too and propagates.
        """
        return _training.fit(self, X, y, epochs, batch_size, lr, shuffle, weight_decay,
                             optimizer, momentum, nesterov, betas, adam_eps, validation_data,
                             patience, callback, validation_split=validation_split,
                             sample_weight=sample_weight, class_weight=class_weight,
                             clip_norm=clip_norm, clip_value=clip_value, l2_alpha=l2_alpha,
                             record_steps=record_steps, verbose=verbose, callbacks=callbacks,
                             grad_norms=grad_norms)

    def get_optimizer_state(self):
        """The optimizer's moments as two lists shaped like get_weights(): [m, v] (SGD
        keeps its velocity in m; plain SGD uses neither)."""
        flat = self._engine.get_optimizer_state()
        n = flat.size // 2
        return [split(flat[:n], self._param_shapes), split(flat[n:], self._param_shapes)]

    def set_optimizer_state(self, moments, optimizer=None, opt_steps=0):
        """Restores [m, v] (as from get_optimizer_state()) for `optimizer` (a dict as in
        optimizer_, None for none yet) after `opt_steps` steps."""
        m, v = check_moments(moments, self._param_shapes, self.dtype)
        opt_steps = _checks.check_nonnegative_int("opt_steps", opt_steps)
        optimizer = _checks.check_optimizer_dict("optimizer", optimizer)
        self._engine.set_optimizer_state(join(m + v, self.dtype))
        self.optimizer_, self.opt_steps_ = optimizer, opt_steps

    # ---- persistence: config + arrays, the same for pickling and mlpcore.save ---------------
    def __getstate__(self):
        meta, arrays = _record.capture(self)
        return {"meta": meta, "arrays": arrays}

    def __setstate__(self, d):
        self.__dict__.update(_record.restore_pickled(d).__dict__)

    def __repr__(self):
        inner = ", ".join(repr(l) for l in self.layers)
        return (f"Sequential([{inner}], loss={self.loss_name!r}, dtype={self.dtype.name!r}, "
                f"seed={self.seed}, backend={self.backend!r})")


CONFIG_KEYS = ("layers", "loss", "dtype", "seed", "backend")


def parse_config(config):
    """(layers, kwargs) from a get_config() dict; ValueError for anything else."""
    if not isinstance(config, dict) or set(config) != set(CONFIG_KEYS):
        raise ValueError(f"a Sequential config must be a dict with the keys "
                         f"{', '.join(CONFIG_KEYS)}, got {config!r}")
    if not isinstance(config["layers"], (list, tuple)):
        raise ValueError(f"config['layers'] must be a list, got {config['layers']!r}")
    layers = [deserialize(d) for d in config["layers"]]
    return layers, {k: config[k] for k in ("loss", "dtype", "seed", "backend")}


def check_moments(moments, shapes, dtype):
    """[m, v] as get_optimizer_state() returns them, checked: v >= 0."""
    if not isinstance(moments, (list, tuple)) or len(moments) != 2:
        raise ValueError("moments must be a pair [m, v] of weight-shaped lists")
    m = _checks.check_array_list("moments[0]", moments[0], shapes, dtype)
    v = _checks.check_array_list("moments[1]", moments[1], shapes, dtype)
    if any((a < 0).any() for a in v):
        raise ValueError("moments[1] holds second moments (Adam's v) and must be >= 0")
    return m, v
