"""Sequential.fit: its arguments, checked, and the epoch loop. The loop is a client of the
engine's narrow interface (train_epoch, loss, predict, get/set of the flat buffers): every
epoch runs in the engine (per-step learning rates, clipping, sample weights and gradient
norms included), and Python is back once per epoch for the history, the schedule, the
callbacks and the progress line.

Each epoch is all or nothing: an epoch that fails (divergence, an exception, Ctrl-C) leaves
weights, state, moments and counters as they were before it. The C++ engine polls for
Ctrl-C between steps (at most every 50 ms) and raises KeyboardInterrupt, so an interrupt
stops fit within about one step and rolls the model back to the end of the last completed
epoch.
"""

import dataclasses
import numbers
import time

import numpy as np

from . import _checks
from . import metrics as _metrics
from ._common import OPTIMIZER_DEFAULTS, n_batches
from ._engine import EpochOptions
from ._progress import Printer
from .callbacks import Callback, EarlyStopping, LambdaCallback
from .history import History
from .optimizers import Optimizer
from .schedules import Constant, as_schedule

# Per-layer gradient norms cost one extra pass over the gradients per step: 5% of fit's
# throughput on 784-256-128-10 and 7% on 32-64-64-2 with the vectorised sum of squares
# (bench/bench_loop.py), so they are opt-in: fit(grad_norms=True).
GRAD_NORMS_DEFAULT = False
_CLASSIFICATION = ("softmax_cross_entropy", "binary_cross_entropy", "hinge", "squared_hinge")
# the losses with one column per binary decision: class 1 where the target is > 0.5 (labels 1
# of binary_cross_entropy; +1 of the hinge losses, whose other label is -1 or 0)
_BINARY = ("binary_cross_entropy", "hinge", "squared_hinge")
FIT_LR = OPTIMIZER_DEFAULTS["lr"]  # fit's rate when the optimizer is given by name


def _optional_positive(name, value):
    return None if value is None else _checks.check_positive_real(name, value)


def _resolve_optimizer(net, optimizer, lr, weight_decay, momentum, nesterov, betas, adam_eps):
    """(settings dict as optimizer_ records them, schedule, weight_decay) of fit's optimizer:
    an Optimizer object, or a name with the settings given to fit (None: not given)."""
    given = {
        k: v
        for k, v in (
            ("lr", lr),
            ("weight_decay", weight_decay),
            ("momentum", momentum),
            ("nesterov", nesterov),
            ("betas", betas),
            ("adam_eps", adam_eps),
        )
        if v is not None
    }
    if isinstance(optimizer, Optimizer):
        if given:
            raise ValueError(
                f"{', '.join(given)} given to fit together with the optimizer "
                f"object {optimizer!r}: set them on the optimizer"
            )
    else:
        settings = {
            k: given[f]
            for k, f in (
                ("momentum", "momentum"),
                ("nesterov", "nesterov"),
                ("betas", "betas"),
                ("eps", "adam_eps"),
            )
            if f in given
        }
        optimizer = Optimizer.named(
            optimizer, given.get("lr", FIT_LR), given.get("weight_decay", 0.0), **settings
        )
    lr = optimizer.lr
    if not hasattr(lr, "rates") and lr >= np.finfo(net.dtype).max:
        raise ValueError(f"lr={lr!r} is not representable in {net.dtype.name}")
    return optimizer.settings(), as_schedule(lr), optimizer.weight_decay


def _class_weights(class_weight, Y, loss):
    """(n,) weights of the samples' classes; Y is the (n, K) target matrix."""
    if loss not in _CLASSIFICATION:
        raise ValueError(
            f"class_weight needs a classification loss ({', '.join(_CLASSIFICATION)}), not {loss!r}"
        )
    if loss in _BINARY:
        if Y.shape[1] != 1:
            raise ValueError(
                f"class_weight needs one output with {loss} "
                f"(the network has {Y.shape[1]}; weight multi-label samples with "
                "sample_weight)"
            )
        positive = (Y > 0.5).astype(np.float64) if loss != "binary_cross_entropy" else Y
        P = np.hstack([1 - positive, positive]).astype(np.float64)  # (n, 2) class memberships
    else:
        P = Y.astype(np.float64)
    K = P.shape[1]
    if isinstance(class_weight, str) and class_weight == "balanced":
        counts = P.sum(axis=0)
        per_class = np.where(counts > 0, P.shape[0] / (K * np.where(counts > 0, counts, 1)), 1.0)
    elif isinstance(class_weight, dict):
        per_class = np.ones(K)
        for c, wc in class_weight.items():
            if isinstance(c, bool) or not isinstance(c, numbers.Integral) or not 0 <= c < K:
                raise ValueError(
                    f"class_weight keys must be class indices in [0, {K - 1}], got {c!r}"
                )
            per_class[int(c)] = _checks.check_positive_real(f"class_weight[{c}]", wc)
    else:
        raise ValueError(
            f"class_weight must be 'balanced' or a dict {{class: weight}}, got {class_weight!r}"
        )
    return P @ per_class


def _split(n, fraction, Y, loss, seed):
    """(train indices, validation indices): a seeded hold-out of about fraction * n samples,
    stratified by class for the classification losses (class 1 where a binary target is > 0.5)."""
    rng = np.random.default_rng([seed, 0x5A11])
    if loss in _CLASSIFICATION and (loss == "softmax_cross_entropy" or Y.shape[1] == 1):
        labels = Y.argmax(axis=1) if loss == "softmax_cross_entropy" else (Y[:, 0] > 0.5)
        val = []
        for c in np.unique(labels):
            idx = rng.permutation(np.flatnonzero(labels == c))
            val.append(idx[: int(round(fraction * idx.size))])
        val = np.sort(np.concatenate(val))
    else:
        val = np.sort(rng.permutation(n)[: int(round(fraction * n))])
    if val.size == 0 or val.size == n:
        raise ValueError(
            f"validation_split={fraction} leaves {n - val.size} training and "
            f"{val.size} validation samples of {n}"
        )
    return np.setdiff1d(np.arange(n), val), val


def fit(
    net,
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
    """Checks every argument (nothing changes on a ValueError), then runs the epochs under
    the model's fit lock; returns the History."""
    sparse = _checks.is_sparse(X)
    Xe = None  # what the engine trains on: X, or its CSR triple
    distributed = _checks.any_dask(X, y, sample_weight)
    if distributed:
        # data-parallel on the current dask.distributed client (_dask.py): the partitions
        # are checked and kept on the workers; only the client's model is here
        if validation_split is not None:
            raise ValueError(
                "validation_split with Dask input: pass validation_data=(X_val, y_val) "
                "(a hold-out the client can hold; Dask collections are computed)"
            )
        if class_weight is not None:
            raise ValueError(
                "class_weight with Dask input: pass the weights as sample_weight (a dask "
                "array or Series aligned with X)"
            )
        if net.backend != "native":
            raise ValueError("training on Dask collections needs backend='native'")
        Xe = net._dask_partitions(X, y, sample_weight)
        X, Y, n, w, sample_weight = Xe, Xe.Y, Xe.n, None, None
    elif sparse:
        X = X.tocsr()  # (validation_split slices rows: a COO matrix cannot)
        n = int(X.shape[0])
        if validation_split is None:  # else the training rows are checked once split off
            Xe = _checks.check_X_sparse(X, net.n_features_in_, net.dtype)
    else:
        # a float64 X for a float32 C++ engine is read as it is, converted batch by batch
        X = _checks.check_X(X, net.n_features_in_, net.dtype, keep_float64=net.backend == "native")
        n = X.shape[0]
    if not distributed:
        Y = _checks.check_targets(y, net.loss_name, n, net.n_outputs_, net.dtype)
        w = _checks.check_sample_weight(sample_weight, n, np.float64)
    if class_weight is not None:
        cw = _class_weights(class_weight, Y, net.loss_name)
        w = cw if w is None else w * cw
    epochs = _checks.check_nonnegative_int("epochs", epochs)
    # Keras' numbering: this fit runs the epochs initial_epoch .. epochs - 1
    initial_epoch = _checks.check_nonnegative_int("initial_epoch", initial_epoch)
    if initial_epoch > epochs:
        raise ValueError(
            f"initial_epoch={initial_epoch} is past epochs={epochs}: epochs is "
            "the index of the epoch to stop at (Keras' meaning), not a count"
        )
    validation_freq = _check_validation_freq(validation_freq)
    batch_size = _checks.check_positive_int("batch_size", batch_size)
    settings, schedule, wd = _resolve_optimizer(
        net, optimizer, lr, weight_decay, momentum, nesterov, betas, adam_eps
    )
    clip_norm = _optional_positive("clip_norm", clip_norm)
    clip_value = _optional_positive("clip_value", clip_value)
    l2_alpha = _checks.check_nonnegative_real("l2_alpha", l2_alpha)
    if not (isinstance(verbose, str) and verbose == "auto") and (
        verbose not in (0, 1, 2) or isinstance(verbose, float)
    ):
        raise ValueError(f"verbose must be 'auto', 0, 1 or 2, got {verbose!r}")
    grad_norms = GRAD_NORMS_DEFAULT if grad_norms is None else bool(grad_norms)

    Xv = Yv = wv = None
    if validation_split is not None:
        if validation_data is not None:
            raise ValueError("give validation_data or validation_split, not both")
        if (
            isinstance(validation_split, bool)
            or not isinstance(validation_split, numbers.Real)
            or not 0 < validation_split < 1
        ):
            raise ValueError(
                f"validation_split must be a fraction in (0, 1), got {validation_split!r}"
            )
        tr, va = _split(n, float(validation_split), Y, net.loss_name, net.seed)
        Xv, Yv = X[va], Y[va]
        Xv = _checks.check_X(
            Xv.toarray() if sparse else Xv, net.n_features_in_, net.dtype, "X_val"
        )  # (a float64 X kept for the engine: now the dtype)
        X, Y, n, Xe = X[tr], Y[tr], tr.size, None
        wv, w = (None, None) if w is None else (w[va], w[tr])
    elif validation_data is not None:
        if not isinstance(validation_data, (tuple, list)) or len(validation_data) not in (2, 3):
            raise ValueError(
                "validation_data must be a pair (X_val, y_val) or a triple "
                "(X_val, y_val, sample_weight_val)"
            )
        Xv = _checks.dask_to_local(validation_data[0])
        Xv = Xv.toarray() if _checks.is_sparse(Xv) else Xv
        Xv = _checks.check_X(Xv, net.n_features_in_, net.dtype, "X_val")
        Yv = _checks.check_targets(
            _checks.dask_to_local(validation_data[1]),
            net.loss_name,
            Xv.shape[0],
            net.n_outputs_,
            net.dtype,
            "y_val",
        )
        if len(validation_data) == 3:
            wv = _checks.check_sample_weight(
                _checks.dask_to_local(validation_data[2]),
                Xv.shape[0],
                np.float64,
                "sample_weight_val",
            )
    if Xe is None:
        Xe = net._engine_rows(X) if sparse else X
    w = None if w is None else np.ascontiguousarray(w, dtype=net.dtype)
    if w is not None and not (w > 0).all():
        raise ValueError(f"sample_weight times class_weight underflows to 0 in {net.dtype.name}")

    cbs = []
    for c in (callbacks or []) if not isinstance(callbacks, Callback) else [callbacks]:
        if not any(
            hasattr(c, m)
            for m in ("on_train_begin", "on_epoch_begin", "on_epoch_end", "on_train_end")
        ):
            raise ValueError(f"callbacks must be mlpcore.callbacks.Callback objects, got {c!r}")
        cbs.append(c)
    for c in cbs:  # refused here, before the first epoch changes anything
        monitor = getattr(c, "monitor", None)
        if getattr(c, "save_best_only", None) is False:  # a checkpoint of every epoch
            monitor = None
        if Xv is None and isinstance(monitor, str) and monitor.startswith("val_"):
            raise ValueError(
                f"{type(c).__name__} monitors {monitor!r}, which needs "
                "validation_data or validation_split"
            )
    if patience is not None:
        patience = _checks.check_positive_int("patience", patience)
        if Xv is None:
            raise ValueError("patience (early stopping) needs validation_data or validation_split")
        cbs.append(EarlyStopping("val_loss", patience=patience, restore_best_weights=True))
    if callback is not None:
        if not callable(callback):
            raise ValueError(f"callback must be callable, got {callback!r}")
        cbs.append(LambdaCallback(on_epoch_end=lambda epoch, logs: callback(net, logs)))

    net._layout.check_differentiable()
    if n < 2:
        net._layout.check_batch(n, f"X has {n} training sample")
    batch_size = min(batch_size, n)
    net._layout.check_batch(batch_size, f"batch_size={batch_size}")
    if distributed and batch_size >= n and net._layout.batch_statistics is not None:
        raise ValueError(
            "full-batch training (batch_size >= n) on Dask input sums the partitions' "
            "gradients, which batch norm's whole-batch statistics do not allow: use a "
            "minibatch batch_size (local SGD on each partition)"
        )
    if distributed and batch_size >= n and any(l.kind == "dropout" for l in net.layers):
        raise ValueError(
            "full-batch training (batch_size >= n) on Dask input with Dropout: use a "
            "minibatch batch_size (local SGD keys every mask by its own step)"
        )
    options = EpochOptions(
        batch_size=batch_size,
        optimizer=settings,
        weight_decay=wd,
        shuffle=bool(shuffle),
        sample_weight=w,
        l2_alpha=l2_alpha,
        clip_norm=clip_norm or 0.0,
        clip_value=clip_value or 0.0,
        grad_norms=grad_norms,
        step_losses=bool(record_steps),
        check_interrupts=True,
    )
    try:
        with net._fit_lock:
            return _Loop(
                net,
                Xe,
                Y,
                w,
                Xv,
                Yv,
                wv,
                (initial_epoch, epochs),
                batch_size,
                bool(shuffle),
                settings,
                schedule,
                wd,
                options,
                cbs,
                verbose,
                validation_freq,
            ).run()
    finally:
        if distributed:
            Xe.release()  # the prepared partitions leave the workers' memory


def _check_validation_freq(freq):
    """validation_freq as Keras takes it: an int k (validate after every k-th epoch, counted
    from 1) or a collection of epoch numbers (counted from 1)."""
    if isinstance(freq, numbers.Integral) and not isinstance(freq, bool):
        return _checks.check_positive_int("validation_freq", freq)
    if (
        isinstance(freq, (list, tuple, set, frozenset, range))
        and freq
        and all(
            isinstance(e, numbers.Integral) and not isinstance(e, bool) and e >= 1 for e in freq
        )
    ):
        return frozenset(int(e) for e in freq)
    raise ValueError(
        "validation_freq must be a positive integer or a non-empty collection of "
        f"epoch numbers >= 1, got {freq!r}"
    )


class _Loop:
    """The running fit, as callbacks see it (callback.loop): epoch (the running epoch's
    index, Keras' numbering), epoch_in_fit (epochs of this fit so far), lr_factor (scales the
    schedule's rates), stop_training (as net.stop_training), history."""

    def __init__(
        self,
        net,
        X,
        Y,
        w,
        Xv,
        Yv,
        wv,
        epochs,
        batch_size,
        shuffle,
        settings,
        schedule,
        wd,
        options,
        callbacks,
        verbose,
        validation_freq=1,
    ):
        self.initial_epoch, epochs = epochs
        self.validation_freq = validation_freq
        self.net, self.X, self.Y, self.w = net, X, Y, w
        self.Xv, self.Yv, self.wv = Xv, Yv, wv
        self.epochs, self.batch_size, self.shuffle = epochs, batch_size, shuffle
        self.settings, self.schedule, self.wd, self.options = settings, schedule, wd, options
        self.callbacks, self.verbose = callbacks, verbose
        self.n = Y.shape[0]
        if hasattr(X, "steps_per_epoch"):  # Dask partitions: each takes its own steps
            self.n_steps = X.steps_per_epoch(batch_size)
        else:
            self.n_steps = n_batches(self.n, batch_size, net._layout.batch_statistics is not None)
        self._check_counters(net, epochs - self.initial_epoch)
        self.epoch_in_fit = 0
        self.epoch = self.initial_epoch
        self.first_step = 0  # steps of this fit so far: the schedule's step count
        self.lr_factor = 1.0
        self.stop_training = False
        self.history = History(
            {
                "epochs": epochs,
                "initial_epoch": self.initial_epoch,
                "batch_size": batch_size,
                "steps": self.n_steps,
                "samples": self.n,
            }
        )
        layout = net._layout
        self.param_layers = [
            i for i, (l, wd_) in enumerate(zip(layout.layers, layout.widths)) if l.params(wd_)
        ]

    def _check_counters(self, net, n_epochs):
        """Refuses, before the first epoch, a fit whose steps would carry one of the model's
        counters past 2**64 - 1 (the engine counts in 64-bit unsigned integers; a counter
        set that high by set_optimizer_state or a loaded file would otherwise fail an epoch
        midway). opt_steps_ restarts from 0 when this fit's optimizer is another one."""
        most = n_epochs * self.n_steps  # the steps this fit can run
        opt_steps = net.opt_steps_ if net._keeps_moments(self.options.optimizer) else 0
        for name, count, more in (
            ("opt_steps_", opt_steps, most),
            ("step_", net.step_, most),
            ("epoch_", net.epoch_, n_epochs),
        ):
            if count + more > (1 << 64) - 1:
                raise ValueError(
                    f"this fit's {more} {'epochs' if name == 'epoch_' else 'steps'} would carry "
                    f"the model's {name} ({count}) past 2**64 - 1, the largest count the "
                    "engine keeps; set it lower first (set_optimizer_state(..., opt_steps=0) "
                    "for opt_steps_)"
                )

    def validates(self, epoch):
        """Whether the epoch of this index is followed by validation (validation_freq counts
        epochs from 1, as Keras does)."""
        if self.Xv is None:
            return False
        if isinstance(self.validation_freq, frozenset):
            return epoch + 1 in self.validation_freq
        return (epoch + 1) % self.validation_freq == 0

    def current_lr(self):
        """The rate the next step would get."""
        return float(
            self.schedule.rates(self.epoch_in_fit, self.first_step, 1, self.n)[0] * self.lr_factor
        )

    def _call(self, name, *args):
        stop = False
        for c in self.callbacks:
            method = getattr(c, name, None)
            if method is None:
                continue
            if isinstance(c, Callback):
                c.model, c.loop = self.net, self
            stop = bool(method(*args)) or stop
        return stop

    def _rates(self):
        """The epoch's per-step rates (n_steps,), or one rate for all its steps."""
        top = float(np.finfo(self.net.dtype).max)
        if isinstance(self.schedule, Constant) and self.lr_factor == 1.0 and self.schedule.lr < top:
            return np.array([self.schedule.lr])  # the plain loop's fast path: one rate
        rates = (
            np.asarray(
                self.schedule.rates(self.epoch_in_fit, self.first_step, self.n_steps, self.n),
                np.float64,
            )
            * self.lr_factor
        )
        bad = np.flatnonzero(~((rates > 0) & (rates < top)))
        if bad.size:
            raise ValueError(
                f"the learning-rate schedule {self.schedule!r} gives lr="
                f"{float(rates[bad[0]])!r} at step {self.first_step + int(bad[0])} "
                "of this fit: rates must be finite and > 0 (is total_steps too small?)"
            )
        return rates

    @property
    def stop_training(self):
        return self.net.stop_training

    @stop_training.setter
    def stop_training(self, value):
        self.net.stop_training = bool(value)

    def run(self):
        net = self.net
        self.schedule.reset()
        # Keras' flag: a callback sets self.model.stop_training = True to end the fit after
        # the current epoch (or before the first, from on_train_begin)
        net.stop_training = False
        printer = Printer(self.verbose, self.epochs, self.n, self.batch_size)
        self._call("on_train_begin", {})
        printer.start()
        try:
            for epoch in range(self.initial_epoch, self.epochs):
                if net.stop_training:
                    break
                self.epoch = epoch
                self._call("on_epoch_begin", epoch, {})
                with net._snapshot_lock:  # the epoch and its record, as one state
                    logs, step_losses = self._epoch(printer)
                    _extend(net.history_, logs)
                self.history._append(logs, step_losses)
                self.schedule.epoch_end(logs)
                printer.epoch_end(epoch, logs, logs["time"])
                self.epoch_in_fit += 1
                if self._call("on_epoch_end", epoch, logs):
                    net.stop_training = True
        except KeyboardInterrupt as exc:
            # the C++ engine raises a bare KeyboardInterrupt on Ctrl-C: say what state the
            # model is in (the interrupted epoch was rolled back)
            if not exc.args:
                exc.args = (self._interrupt_message(),)
            raise
        finally:
            printer.stop()
        self._call("on_train_end", {})
        return self.history

    def _interrupt_message(self):
        done = self.epoch_in_fit
        return (
            f"training interrupted in epoch {self.epoch + 1}/{self.epochs}; that epoch was "
            f"rolled back, so the model holds the weights after "
            + (
                f"epoch {self.epoch} ({done} epoch{'s' if done != 1 else ''} of this fit "
                "completed, in net.history_)"
                if done
                else "the epochs before this fit"
            )
            + f"; resume with fit(..., epochs={self.epochs}, initial_epoch={self.epoch})"
        )

    def _epoch(self, printer):
        """One epoch through the model's transaction (Sequential._train_epoch): (logs, the
        step losses or None)."""
        net = self.net
        rates = self._rates()
        progress = net._progress_counter() if printer.wants_progress else None
        options = dataclasses.replace(
            self.options,
            lr=float(rates[0]),
            progress=progress,
            lrs=None if (rates == rates[0]).all() else rates.tolist(),
        )
        t0 = time.perf_counter()
        printer.epoch_begin(self.epoch, progress)
        try:
            result, validation = net._train_epoch(self.X, self.Y, options, self._validate)
        except BaseException:
            printer.epoch_failed()
            raise
        steps = int(result["steps"])
        logs = {
            "epoch": self.epoch,
            "loss": float(result["loss"]),
            **validation,
            "lr": float(rates[-1]),
            "time": time.perf_counter() - t0,
        }
        for i, g in zip(self.param_layers, np.asarray(result["grad_norms"])):
            logs[f"grad_norm_{i}"] = float(g)
        self.first_step += int(result.get("opt_steps", steps))  # (Dask: the local steps)
        return logs, (result["step_losses"] if self.options.step_losses else None)

    def _validate(self, step):
        """The evaluation-mode validation loss and metrics after the epoch's last step."""
        if not self.validates(self.epoch):  # none, or not this epoch (validation_freq)
            return {}
        net, engine = self.net, self.net._engine
        logs = {"val_loss": float(engine.loss(self.Xv, self.Yv, False, step, self.wv))}
        with np.errstate(all="ignore"):  # the validation data may be anything: only recorded
            logs.update(
                {
                    f"val_{k}": v
                    for k, v in _metrics.compute(
                        net.loss_name, engine.predict(self.Xv, False, step), self.Yv, self.wv
                    ).items()
                }
            )
        return logs


def _extend(history, logs):
    """Appends one epoch's logs to net.history_, a dict of equally long lists (None where an
    epoch lacks a key)."""
    n = len(history.get("loss", []))
    for key, value in logs.items():
        values = history.setdefault(key, [])
        values.extend([None] * (n - len(values)))
        values.append(int(value) if key == "epoch" else float(value))
    for values in history.values():
        values.extend([None] * (n + 1 - len(values)))
