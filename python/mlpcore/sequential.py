"""Sequential: a feed-forward network of layer descriptors plus a fused output/loss pair, run
by the C++ engine (backend="native") or by its NumPy twin (backend="numpy")."""

import copy
import threading
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from . import _checks, _memory, _record, _summary, _training
from . import metrics as _metrics
from ._common import Progress, gather
from ._layout import join, split
from ._record import check_config, check_moments, parse_config
from .layers import serialize
from .reference.network import Network as _NumpyNetwork

# Array arguments: anything numpy.asarray takes (and a scipy.sparse matrix where documented)
ArrayLike = Any

# After every epoch the loss (so the outputs) on this many training rows must be finite: a fit
# that returns never leaves a model predicting NaN. One small forward pass, about 0.1-0.3% of
# an epoch on the benchmark networks.
PROBE_ROWS = 32


def _new_engine(backend, specs, loss, dtype, seed):
    """An engine of the backend built from the spec tuples (weights zero, state initial)."""
    if backend == "native":
        return _native_engine(dtype)(specs, loss, seed)
    return _NumpyNetwork(specs, loss, dtype, seed)


def _native_engine(dtype):
    try:
        from . import _core
    except ImportError as exc:  # pragma: no cover - a broken install
        raise ImportError(
            "mlpcore's C++ extension (mlpcore._core) could not be loaded; "
            "reinstall with 'pip install .' or use backend='numpy'"
        ) from exc
    return _core.Network32 if dtype == np.float32 else _core.Network64


class _Layers(tuple):
    """A built model's layers: read-only (the engine was built from them)."""

    def __setitem__(self, index, value):
        raise TypeError(
            "the layers of a built Sequential cannot be replaced; build a new "
            "model (e.g. Sequential.from_config of an edited get_config())"
        )

    __delitem__ = __setitem__


def _read_only(name, doc):
    def get(self):
        return self.__dict__[name]

    def set_(self, value):
        raise AttributeError(
            f"{doc} of a built Sequential cannot be changed (the engine was "
            "built for it); build a new model"
        )

    return property(get, set_, doc=doc)


class Sequential:
    """A multilayer perceptron.

    Parameters
    ----------
    layers : list of Layer
        e.g. ``[Dense(784, 256), ReLU(), Dense(256, 10)]``. The last layer produces the
        net input z of the output; the loss's output activation is applied on top of it.
    loss : {"softmax_cross_entropy", "binary_cross_entropy", "mse", "poisson", "hinge", "squared_hinge"}
        There is no default (as in Keras' compile): without one, a TypeError lists the
        losses. Fused output activation and loss: softmax + cross-entropy (multi-class),
        sigmoid + binary cross-entropy per output (binary and multi-label), identity +
        half squared error (regression). The loss is summed over outputs and averaged over
        samples, so the output error is delta = (h - y) / n_samples. The hinge losses
        (Keras' hinge and squared_hinge: identity output, labels in {-1, 1} or {0, 1}) take
        the mean over outputs instead, as Keras: max(0, 1 - t z) (squared) averaged over the
        outputs and samples.
        Keras' names are accepted and stored (loss_name, get_config) as ours:
        "categorical_crossentropy" and "sparse_categorical_crossentropy" ->
        "softmax_cross_entropy" (which takes integer labels and probability rows alike),
        "binary_crossentropy" -> "binary_cross_entropy", "mean_squared_error" -> "mse".
        Note that our mse is half the squared error summed over the K outputs, Keras' the
        plain mean over outputs: ours = Keras' * K / 2.
    dtype : "float32" (the default, as in PyTorch and Keras) or "float64"
        float32 runs at the sgemm rate (about twice dgemm's) in half the memory and matches
        torch tensors and ONNX models as they usually come; float64 is for gradient checks
        and the 1e-12 cross-check against the NumPy twin. The scikit-learn estimators keep
        scikit-learn's float64.
    seed : int or None
        Seeds the initial weights, the shuffling and the dropout masks. None draws one.
    backend : "native" (C++ on OpenBLAS) or "numpy" (the pure-NumPy reference twin).
    input_dim : int or None
        The number of input features. Needed when the first Dense layer is given its output
        width only (``Dense(64)``: every Dense(n_out) takes n_in from the layer before it);
        when given, the first layer's own n_in must agree. The model is built (weights
        drawn) at construction either way.

    Examples
    --------
    >>> import numpy as np
    >>> import mlpcore as mc
    >>> X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], float)
    >>> y = np.array([0, 1, 1, 0])
    >>> net = mc.Sequential([mc.Dense(2, 4), mc.Tanh(), mc.Dense(4, 1)],
    ...                     loss="binary_cross_entropy", dtype="float64", seed=0)
    >>> history = net.fit(X, y, epochs=2000, batch_size=4, lr=0.5)
    >>> net.predict_classes(X).ravel()
    array([0, 1, 1, 0])
    >>> [w.shape for w in net.get_weights()]
    [(2, 4), (4,), (4, 1), (1,)]
    """

    layers = _read_only("_layers", "layers (a tuple of read-only layers)")
    loss_name = _read_only("_loss_name", "loss_name")
    dtype = _read_only("_dtype", "dtype")
    seed = _read_only("_seed", "seed")
    backend = _read_only("_backend", "backend")
    n_features_in_ = _read_only("_n_features_in", "n_features_in_")
    n_outputs_ = _read_only("_n_outputs", "n_outputs_")

    def __init__(
        self, layers, loss=None, dtype="float32", seed=None, backend="native", input_dim=None
    ):
        layout, self._loss_name, self._dtype, self._seed, self._backend = check_config(
            layers, loss, dtype, seed, backend, input_dim
        )
        self._layout = copy.deepcopy(layout)  # the model owns its layers: later edits of the
        for layer in self._layout.layers:  # caller's layer objects do not reach it, and
            layer._freeze()  # its own are read-only (see Layer._freeze)
        self._layers = _Layers(self._layout.layers)
        self._n_features_in, self._n_outputs = self._layout.n_in, self._layout.n_out
        self._param_shapes, self._state_shapes = (
            self._layout.param_shapes,
            self._layout.state_shapes,
        )
        n_params = sum(_memory._prod(s) for s in self._param_shapes)
        # the engine's parameters, and their initial values drawn in float64, then converted
        _memory.require(
            n_params * (2 * self.dtype.itemsize + 8),
            f"the {n_params} parameters (largest: {_memory.describe_largest(self._layout)})",
        )
        self._engine = _new_engine(
            backend, self._layout.specs, self.loss_name, self.dtype, self.seed
        )
        self.epoch_ = 0  # epochs trained so far: keys the next epoch's shuffle
        self.step_ = 0  # optimiser steps taken so far: keys the next step's dropout masks
        self.optimizer_ = None  # the optimizer of the last fit (its moments live in the engine)
        self.opt_steps_ = 0  # steps of that optimizer since its moments were zero
        self.history_ = {"loss": []}
        self.stop_training = False  # set by a callback to end the running fit (Keras' flag)
        self._fit_lock = threading.RLock()  # one fit at a time: fits share epoch_ and step_
        # held by a training epoch from its engine call until its counters and history are
        # recorded, and by every reader of the weights: a snapshot (get_weights, save,
        # pickle) taken during fit is the state after one whole epoch, never a mix of two
        self._snapshot_lock = threading.RLock()
        self._engine.set_params(join(self._layout.initial_params(self.seed), self.dtype))
        self._engine.set_state(join(self._layout.initial_state(), self.dtype))

    # ---- configuration -----------------------------------------------------------------
    def get_config(self) -> Dict[str, Any]:
        """The constructor arguments, JSON-able: Sequential.from_config(net.get_config())
        builds the same untrained model (same initial weights)."""
        return {
            "layers": [serialize(l) for l in self.layers],
            "loss": self.loss_name,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "backend": self.backend,
            "input_dim": self._layout.input_dim,
        }

    @classmethod
    def from_config(cls, config: Dict[str, Any], backend: Optional[str] = None) -> "Sequential":
        """The model get_config() described; backend overrides the saved one."""
        layers, kwargs = parse_config(config)
        if backend is not None:
            kwargs["backend"] = backend
        return cls(layers, **kwargs)

    # ---- weights and state -------------------------------------------------------------
    def get_weights(self) -> List[np.ndarray]:
        """Copies of the parameters in layer order: [W1, b1, W2, b2, ...]; a BatchNorm layer
        contributes [gamma, beta]."""
        with self._snapshot_lock:
            return split(self._engine.get_params(), self._param_shapes)

    def set_weights(self, weights: Sequence[ArrayLike]) -> None:
        """Replaces every parameter; weights is a list shaped like get_weights()."""
        arrays = _checks.check_array_list("weights", weights, self._param_shapes, self.dtype)
        self._engine.set_params(join(arrays, self.dtype))

    def get_state(self) -> List[np.ndarray]:
        """Copies of the non-trainable state: [running_mean, running_var] per BatchNorm layer.
        Saved and restored with the weights by mlpcore.save()/load() and by pickling."""
        with self._snapshot_lock:
            return split(self._engine.get_state(), self._state_shapes)

    def set_state(self, state: Sequence[ArrayLike]) -> None:
        """Replaces the BatchNorm running statistics; a list shaped like get_state()."""
        self._engine.set_state(join(self._layout.check_state(state, self.dtype), self.dtype))

    # ---- evaluation --------------------------------------------------------------------
    def _check_call(self, X, y, training, step, targets=True):
        """X, Y, training and step of loss/gradients/evaluate, checked (y is required, None
        included: it is refused); of predict and friends with targets=False (Y is None)."""
        X = _checks.check_X(X, self.n_features_in_, self.dtype)
        Y = (
            _checks.check_targets(y, self.loss_name, X.shape[0], self.n_outputs_, self.dtype)
            if targets
            else None
        )
        step = self.step_ if step is None else _checks.check_nonnegative_int("step", step)
        training = bool(training)
        if training:
            self._layout.check_batch(X.shape[0], f"X has {X.shape[0]}")
        return X, Y, training, step

    def predict(
        self,
        X: ArrayLike,
        training: bool = False,
        step: Optional[int] = None,
        batch_size: Optional[int] = None,
    ) -> np.ndarray:
        """Output activations (n_samples, n_outputs): class probabilities for the
        cross-entropy losses, values for mse. training=True applies dropout masks of
        `step` (default: the next training step) and batch statistics.
        batch_size=b predicts b rows at a time (Keras' argument; it bounds the memory of the
        intermediate activations, the engine already works through large X in blocks);
        in evaluation mode the result equals the unbatched one, with training=True each
        batch gets its own batch statistics. None (the default): X at once."""
        if batch_size is not None:
            batch_size = _checks.check_positive_int("batch_size", batch_size)
            X, _, training, step = self._check_call(X, None, training, step, targets=False)
            if batch_size < X.shape[0]:
                if training:
                    last = X.shape[0] % batch_size or batch_size
                    self._layout.check_batch(last, f"the last batch of X has {last}")
                return np.concatenate(
                    [
                        self._engine.predict(X[i : i + batch_size], training, step)
                        for i in range(0, X.shape[0], batch_size)
                    ]
                )
            return self._engine.predict(X, training, step)
        if (
            training is False
            and step is None
            and self.backend == "native"
            and _checks.engine_reads_as_is(X, self.n_features_in_, self.dtype)
        ):
            # The serving fast path: the engine reads X as it is and checks it for NaN/inf.
            return self._engine.predict(X, False, self.step_, True)
        X, _, training, step = self._check_call(X, None, training, step, targets=False)
        return self._engine.predict(X, training, step)

    def loss(
        self,
        X: ArrayLike,
        y: ArrayLike,
        training: bool = False,
        step: Optional[int] = None,
        sample_weight: Optional[ArrayLike] = None,
    ) -> float:
        """Mean loss over the samples, a float; with sample_weight (n_samples,) > 0 the
        weighted mean sum_i w_i l_i / sum_i w_i (scikit-learn's definition)."""
        X, Y, training, step = self._check_call(X, y, training, step)
        w = _checks.check_sample_weight(sample_weight, X.shape[0], self.dtype, relative=True)
        return float(self._engine.loss(X, Y, training, step, w))

    def gradients(
        self,
        X: ArrayLike,
        y: ArrayLike,
        training: bool = False,
        step: Optional[int] = None,
        sample_weight: Optional[ArrayLike] = None,
    ) -> List[np.ndarray]:
        """Gradient of loss(X, y, training, step, sample_weight) with respect to every
        parameter: a list shaped like get_weights(). Updates nothing (batch-norm running
        statistics included)."""
        X, Y, training, step = self._check_call(X, y, training, step)
        w = _checks.check_sample_weight(sample_weight, X.shape[0], self.dtype)
        self._layout.check_differentiable()
        _, grad = self._engine.gradients(X, Y, training, step, w)
        return split(grad, self._param_shapes)

    def evaluate(
        self, X: ArrayLike, y: ArrayLike, sample_weight: Optional[ArrayLike] = None
    ) -> Dict[str, float]:
        """{"loss": the (weighted) mean loss, and the loss's metrics (mlpcore.metrics):
        "accuracy" for the cross-entropy and hinge losses, "r2" and "mae" for mse and
        poisson}, in evaluation mode."""
        X, Y, _, step = self._check_call(X, y, False, None)
        w = _checks.check_sample_weight(sample_weight, X.shape[0], self.dtype, relative=True)
        out = {"loss": float(self._engine.loss(X, Y, False, step, w))}
        out.update(_metrics.compute(self.loss_name, self._engine.predict(X, False, step), Y, w))
        return out

    # ---- training ----------------------------------------------------------------------
    def fit(
        self,
        X,
        y,
        epochs=1,
        batch_size=32,
        lr=None,
        shuffle=True,
        weight_decay=None,
        optimizer="sgd",
        momentum=None,
        nesterov=None,
        betas=None,
        adam_eps=None,
        validation_data=None,
        patience=None,
        callback=None,
        *,
        validation_split=None,
        sample_weight=None,
        class_weight=None,
        clip_norm=None,
        clip_value=None,
        l2_alpha=0.0,
        record_steps=False,
        verbose="auto",
        callbacks=None,
        grad_norms=None,
        initial_epoch=0,
        validation_freq=1,
    ):
        """Minibatch stochastic gradient descent; returns a History (mlpcore.history): a list
        of the per-epoch training losses that also holds history.history, a dict of lists
        ("epoch", "loss", "val_loss", validation metrics, "lr", "time", "`grad_norm_<i>`").
        `net.history_` keeps the same record across fit calls.

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
        betas, adam_eps (adam, adamw; eps of rmsprop too) and weight_decay (default 0); None
        means not given: the optimizer's default (torch.optim's). With an optimizer object,
        set these on the object. weight_decay=lam is L2
        regularisation of the Dense weight matrices (not biases or BatchNorm): lam * W is
        added to their gradient (adamw: decoupled, `W *= 1 - lr lam`). l2_alpha=a is
        scikit-learn's alpha: a / (the batch's weight sum) is added to that decay. The
        reported losses exclude the penalty. The moments persist across fit calls, in
        get_optimizer_state(), save/load and pickles; they restart from zero when the
        optimizer's kind or settings other than lr and weight_decay change.

        lr may be a schedule of mlpcore.schedules (applied per step inside the engine;
        steps and epochs count from the start of this fit). clip_value=c clamps every
        gradient element to [-c, c]; clip_norm=c then scales the gradient to global L2 norm
        at most c (`torch.nn.utils.clip_grad_norm_`).

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
        a progress bar while each epoch runs, verbose=2 prints one line per epoch, 0 nothing;
        verbose="auto" (the default) is 0 unless stdout is a terminal and the fit proves
        long (an epoch of 2 s or more, or a first epoch whose time times the epochs to go
        is 10 s or more), and then 1.

        Epochs are numbered as in Keras: fit(epochs=E, initial_epoch=k) runs the epochs of
        index k .. E-1 (E - k epochs; the bar shows "epoch k+1/E"), and history["epoch"],
        the callbacks' epoch argument and logs["epoch"] are those integer indices. `net.epoch_`
        counts every epoch the model has trained (it keys the shuffle), so fit(epochs=10,
        initial_epoch=5) after fit(epochs=5) continues exactly as one fit(epochs=10) would.
        validation_freq=k validates after every k-th epoch (epoch index + 1 divisible by k),
        or after the epochs (counted from 1) in a collection, as Keras does; the callbacks
        that monitor a `val_` value wait for the epochs that have it.
        A callback stops the fit after the current epoch with self.model.stop_training =
        True (Keras' flag; fit resets it to False when it starts), or by returning True.
        grad_norms=True records each parameter layer's mean gradient L2 norm over the epoch
        (history "`grad_norm_<i>`", after clip_value, before clip_norm; off by default: the
        engine's pass over the gradients costs 5-7% of the throughput, bench/bench_loop.py).

        Each epoch is all or nothing: if the loss, the weights, the batch-norm statistics
        or the loss on the first 32 rows of X become NaN or
        infinite, the weights from before the epoch are restored and FloatingPointError is
        raised; an exception or Ctrl-C (polled between steps by the C++ engine, so it
        stops within about one step) restores them too and propagates.
        """
        return _training.fit(
            self,
            X,
            y,
            epochs,
            batch_size,
            lr,
            shuffle,
            weight_decay,
            optimizer,
            momentum,
            nesterov,
            betas,
            adam_eps,
            validation_data,
            patience,
            callback,
            validation_split=validation_split,
            sample_weight=sample_weight,
            class_weight=class_weight,
            clip_norm=clip_norm,
            clip_value=clip_value,
            l2_alpha=l2_alpha,
            record_steps=record_steps,
            verbose=verbose,
            callbacks=callbacks,
            grad_norms=grad_norms,
            initial_epoch=initial_epoch,
            validation_freq=validation_freq,
        )

    # ---- the training epoch: one transaction, run by fit and by the estimators ------------
    # The internal surface the training loop (_training.py) and the scikit-learn estimators
    # (estimators/) build on, besides the public methods: _layout (the Layout: layers,
    # widths, specs, shapes and rules), _fit_lock, _engine_rows, _dask_partitions, _progress_counter,
    # _train_epoch and _loss_and_gradients.
    def _engine_rows(self, X):
        """X as the engine trains on it, checked once per fit: a C-contiguous aligned
        (n, n_features) array of the model's dtype (a float64 X for a float32 C++ engine
        stays float64: the engine converts each batch as it gathers it), or for a
        scipy.sparse X the CSR triple (data, indices int64, indptr int64)."""
        if _checks.is_sparse(X):
            return _checks.check_X_sparse(X, self.n_features_in_, self.dtype)
        return _checks.check_X(
            X, self.n_features_in_, self.dtype, keep_float64=self.backend == "native"
        )

    def _dask_partitions(self, X, y, sample_weight):
        """For fit on Dask collections: the partitions of (X, y, sample_weight) checked and
        kept on the current dask.distributed client's workers (mlpcore._dask.Partitions),
        which the epoch transaction trains on in place of X."""
        from . import _dask

        return _dask.sequential_partitions(self, X, y, sample_weight)

    def _progress_counter(self):
        """A counter of the samples done that the engine updates during an epoch
        (EpochOptions.progress)."""
        if self.backend == "numpy":
            return Progress()
        from . import _core

        return _core.Progress()

    def _train_epoch(self, X, Y, options, after=None):
        """One epoch as a transaction: the model is as after it, or as before it.

        X: as _engine_rows returned it; Y: (n, n_outputs) targets of the model's dtype;
        options: an EpochOptions (checked by the caller); after(step): called once the epoch
        is known to be finite, before it is committed (validation; its exceptions roll back
        too). A change of options.optimizer restarts the moments from zero. The checks: the
        epoch's loss, the parameters, the state and the loss on the first PROBE_ROWS rows are
        finite, else FloatingPointError. On success `epoch_`, `step_` and `opt_steps_` advance;
        on any exception (Ctrl-C included) parameters, state, moments, `optimizer_` and the
        counters are restored. Returns (the engine's result dict, what after returned)."""
        with self._fit_lock, self._snapshot_lock:
            engine = self._engine
            before = (
                engine.get_params(),
                engine.get_state(),
                engine.get_optimizer_state(),
                self.optimizer_,
                self.opt_steps_,
            )
            committed = False
            try:
                if not self._keeps_moments(options.optimizer):  # another one: zero moments
                    engine.set_optimizer_state(np.zeros_like(before[2]))
                    self.optimizer_, self.opt_steps_ = dict(options.optimizer), 0
                if hasattr(X, "train_epoch"):  # Dask partitions (_dask.py): on the cluster
                    result = X.train_epoch(self, options, self.opt_steps_, self.epoch_, self.step_)
                    probe, Yp = X.probe_X, X.probe_Y
                else:
                    result = engine.train_epoch(
                        X, Y, options, self.opt_steps_, self.epoch_, self.step_
                    )
                    rows = np.arange(min(PROBE_ROWS, Y.shape[0]))
                    probe = gather(X, rows, self.n_features_in_).astype(self.dtype, copy=False)
                    Yp = Y[rows]
                value, steps = float(result["loss"]), int(result["steps"])
                step = self.step_ + steps
                # the outputs on some training rows must be finite too (exp and float32
                # overflow after the last step); one small forward pass
                if not (
                    np.isfinite(value)
                    and np.isfinite(engine.get_params()).all()
                    and np.isfinite(engine.get_state()).all()
                    and np.isfinite(engine.loss(np.ascontiguousarray(probe), Yp, False, step))
                ):
                    raise FloatingPointError(self._divergence_message(value, Yp))
                extra = None if after is None else after(step)
                self.epoch_, self.step_, self.opt_steps_ = (
                    self.epoch_ + 1,
                    step,
                    self.opt_steps_ + int(result.get("opt_steps", steps)),
                )
                committed = True
            finally:
                if not committed:
                    engine.set_params(before[0])
                    engine.set_state(before[1])
                    engine.set_optimizer_state(before[2])
                    self.optimizer_, self.opt_steps_ = before[3], before[4]
        return result, extra

    def _keeps_moments(self, optimizer):
        """Whether an epoch with this optimizer (an EpochOptions.optimizer dict) goes on from
        the model's moments and opt_steps_; with another optimizer they restart from 0."""
        return optimizer == self.optimizer_

    def _divergence_message(self, value, Y):
        msg = (
            f"training diverged in epoch {self.epoch_} (loss {value}; weights, batch-norm "
            "statistics or outputs overflowed); the weights and state from before that "
            "epoch were restored."
        )
        if self.loss_name in ("mse", "poisson"):
            Y = Y.astype(np.float64)
            scale = float(max(Y.std(axis=0).max(), np.abs(Y.mean(axis=0)).max()))
            if scale > 10:
                return (
                    msg + f" The targets are the likely cause: y has values of size "
                    f"{scale:.3g} (standard deviation {Y.std(axis=0).max():.3g}); "
                    "standardise y (e.g. scikit-learn's StandardScaler, or "
                    "TransformedTargetRegressor around an estimator) and/or use a "
                    "smaller lr."
                )
        return msg + " Try a smaller lr (or clip_norm=...) or rescale the inputs."

    def _loss_and_gradients(self, X, Y, sample_weight=None):
        """(mean loss, gradient list shaped like get_weights()) in evaluation mode, for
        arguments the caller has checked (dense rows of the model's dtype, targets, weights
        > 0 of the dtype): the full-batch objective of the estimators' L-BFGS."""
        value, grad = self._engine.gradients(X, Y, False, self.step_, sample_weight)
        return float(value), split(grad, self._param_shapes)

    def get_optimizer_state(self) -> List[List[np.ndarray]]:
        """The optimizer's moments as two lists shaped like get_weights(): [m, v] (SGD
        keeps its velocity in m; plain SGD uses neither)."""
        with self._snapshot_lock:
            flat = self._engine.get_optimizer_state()
        n = flat.size // 2
        return [split(flat[:n], self._param_shapes), split(flat[n:], self._param_shapes)]

    def set_optimizer_state(self, moments, optimizer=None, opt_steps=0):
        """Restores [m, v] (as from get_optimizer_state()) for `optimizer` (a dict as in
        `optimizer_`, None for none yet) after `opt_steps` steps."""
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
        self.__dict__.update(Sequential._from_record(_record.restore_pickled(d)).__dict__)

    @classmethod
    def _from_record(cls, record):
        """The model a checked _record.Record describes (load and unpickling)."""
        net = cls(record.layers, **record.kwargs)
        net.set_weights(record.weights)
        net.set_state(record.state)
        c = record.counters
        net.set_optimizer_state(record.moments, c["optimizer_"], c["opt_steps_"])
        net.epoch_, net.step_, net.history_ = c["epoch_"], c["step_"], c["history_"]
        return net

    def __repr__(self):
        inner = ", ".join(repr(l) for l in self.layers)
        input_dim = (
            "" if self._layout.input_dim is None else f", input_dim={self._layout.input_dim}"
        )
        return (
            f"Sequential([{inner}], loss={self.loss_name!r}, dtype={self.dtype.name!r}, "
            f"seed={self.seed}, backend={self.backend!r}{input_dim})"
        )

    # ---- introspection and convenience ---------------------------------------------------
    def summary(self):
        """The layers as a table: index, layer, output shape (None, width) (None is the batch
        dimension), trainable parameters (Dense W and b, BatchNorm gamma and beta) and
        non-trainable values (BatchNorm running mean and variance); then the totals and
        their memory in the model's dtype. print(net.summary()) prints it; the returned
        Summary also holds the numbers (rows, trainable, non_trainable, total, nbytes)."""
        return _summary.summarize(self._layout, self.loss_name, self.dtype)

    def count_params(self) -> int:
        """The number of all values of the model, trainable parameters (get_weights()) plus
        non-trainable state (get_state()), as Keras' Model.count_params() counts them.

        Examples
        --------
        >>> import mlpcore as mc
        >>> net = mc.Sequential([mc.Dense(4, 8), mc.BatchNorm(8), mc.ReLU(), mc.Dense(8, 1)],
        ...                     loss="mse")
        >>> net.count_params()  # (4*8 + 8) + (8 + 8) + (8 + 1) trainable, 8 + 8 statistics
        81
        """
        return self.summary().total

    def layer_outputs(self, X, training=False, step=None):
        """Every layer's output for X: a list of len(layers) + 1 arrays, where element i is
        the output (n_samples, width) of layers[i] (the hidden-layer outputs h of the
        lecture; the last layer's is the net input z of the output) and the last element
        is the output activation, what predict(X) returns.

        Evaluation mode by default; training=True uses batch statistics and the dropout
        masks of `step` (default: the next training step), exactly as predict(X, training,
        step) does. Updates nothing. X is checked as by predict. Each layer's output is
        computed by the model's engine, as a network made of the layers up to it sharing
        the model's weights, so it costs about len(layers) / 2 forward passes (layers in
        front of the first Dense or BatchNorm, e.g. an input Dropout, by the NumPy twin: the
        C++ engine needs a layer with parameters).

        Examples
        --------
        >>> import numpy as np
        >>> import mlpcore as mc
        >>> net = mc.Sequential([mc.Dense(3, 5), mc.ReLU(), mc.Dense(5, 2)],
        ...                     loss="softmax_cross_entropy", seed=0)
        >>> X = np.ones((4, 3))
        >>> [h.shape for h in net.layer_outputs(X)]
        [(4, 5), (4, 5), (4, 2), (4, 2)]
        >>> bool(np.allclose(net.layer_outputs(X)[-1], net.predict(X)))
        True
        """
        X, _, training, step = self._check_call(X, None, training, step, targets=False)
        params, state = self._engine.get_params(), self._engine.get_state()  # flat copies
        outputs, n_params, n_state = [], 0, 0
        for i, (layer, width) in enumerate(zip(self.layers, self._layout.widths)):
            n_params += sum(int(np.prod(p.shape)) for p in layer.params(width))
            n_state += sum(int(np.prod(s.shape)) for s in layer.state(width))
            # layers[:i+1] with the identity output ("mse"): predict returns layer i's output.
            # The C++ engine needs a layer with parameters: the layers before the first one
            # (activations, dropout) run in the twin, which computes them the same way.
            backend = self.backend if n_params else "numpy"
            prefix = _new_engine(backend, self._layout.specs[: i + 1], "mse", self.dtype, self.seed)
            prefix.set_params(np.ascontiguousarray(params[:n_params]))
            prefix.set_state(np.ascontiguousarray(state[:n_state]))
            outputs.append(prefix.predict(X, training, step))  # (n_samples, width of layer i)
        outputs.append(self._engine.predict(X, training, step))  # (n_samples, n_outputs)
        return outputs

    def _classifier_rule(self, method):
        rule = _CLASS_RULES.get(self.loss_name)
        if rule is None:
            raise ValueError(
                f"{method} needs a classification loss ("
                f"{', '.join(_CLASS_RULES)}); this model's loss is "
                f"{self.loss_name!r}: use predict()"
            )
        return rule

    def predict_proba(self, X: ArrayLike) -> np.ndarray:
        """Class probabilities (n_samples, n_outputs), the same as predict(X), for the
        classification losses with probabilities: softmax rows for softmax_cross_entropy,
        per-output sigmoid probabilities for binary_cross_entropy. ValueError for mse,
        poisson and the hinge losses (their outputs are margins, not probabilities)."""
        if self.loss_name not in _PROBABILITY_LOSSES:
            raise ValueError(
                f"predict_proba needs a classification loss with probability "
                f"outputs ({', '.join(_PROBABILITY_LOSSES)}); this model's loss is "
                f"{self.loss_name!r}: use predict() (or predict_classes())"
            )
        return self.predict(X)

    def predict_classes(self, X: ArrayLike) -> np.ndarray:
        """Predicted classes as int64: softmax_cross_entropy -> the argmax of each row,
        shape (n_samples,); binary_cross_entropy -> 1 where the probability is > 0.5 per
        output; hinge, squared_hinge -> the sign of the margin z, +1 where z >= 0 and -1
        elsewhere (for {0, 1} labels: predict_classes(X) > 0); the last two shaped
        (n_samples,) for one output and (n_samples, n_outputs) for several (multi-label).
        ValueError for mse and poisson."""
        return self._classifier_rule("predict_classes")(self.predict(X))


def _argmax(h):
    return np.argmax(h, axis=1).astype(np.int64)


def _threshold(h):
    out = (h > 0.5).astype(np.int64)
    return out[:, 0] if out.shape[1] == 1 else out


def _sign(h):
    out = np.where(h >= 0, 1, -1).astype(np.int64)
    return out[:, 0] if out.shape[1] == 1 else out


# loss -> the classes its output activations h (n_samples, n_outputs) predict
_CLASS_RULES = {
    "softmax_cross_entropy": _argmax,
    "binary_cross_entropy": _threshold,
    "hinge": _sign,
    "squared_hinge": _sign,
}
_PROBABILITY_LOSSES = ("softmax_cross_entropy", "binary_cross_entropy")
