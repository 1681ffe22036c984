"""Callbacks for Sequential.fit(callbacks=[...]), called once per epoch (never per batch)::

    on_train_begin(logs)          before the first epoch
    on_epoch_begin(epoch, logs)   before each epoch
    on_epoch_end(epoch, logs)     after each epoch; logs holds "epoch", "loss", "val_loss",
                                  the metrics, "lr", "time", "`grad_norm_<i>`" (see History);
                                  returning True stops training
    on_train_end(logs)            after the last epoch (also after an early stop)

A callback's `model` is the Sequential being trained (as in Keras) and `loop` the running fit:
set `self.model.stop_training = True` (Keras' flag; `loop.stop_training` is the same) to stop
after this epoch, and scale the rates with `loop.lr_factor` (the schedule's rates are
multiplied by it; 1 at the start of each fit). Epochs are numbered as in Keras: `epoch` is the
index of the epoch, initial_epoch .. epochs - 1 of the fit (the bar shows epoch + 1).
With validation_freq > 1 the epochs without validation have no `val_` entries in their logs;
the callbacks that monitor one skip those epochs.

Built-ins: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler,
CSVLogger, LambdaCallback.
"""

import csv
import math
import numbers
import os

from . import _checks, _record
from .schedules import Plateau

__all__ = [
    "Callback",
    "EarlyStopping",
    "ModelCheckpoint",
    "ReduceLROnPlateau",
    "LearningRateScheduler",
    "CSVLogger",
    "LambdaCallback",
]


class Callback:
    """Base class of the callbacks of `Sequential.fit(callbacks=[...])`.

    Subclass it and override the hooks you need; each is called once per epoch or once per
    fit, never per batch (the batches run inside the engine). The base class's hooks do
    nothing.

    Attributes
    ----------
    model : Sequential
        The model being trained, set by fit before `on_train_begin` (as in Keras). Set
        ``self.model.stop_training = True`` to stop after the current epoch.
    loop : object
        The running fit: `loop.lr_factor` scales the schedule's rates (1 at the start of
        each fit); `loop.stop_training` is the same flag as the model's.

    See Also
    --------
    EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler, CSVLogger,
    LambdaCallback

    Examples
    --------
    >>> import numpy as np
    >>> import mlpcore as mc
    >>> class StopBelow(mc.callbacks.Callback):
    ...     def on_epoch_end(self, epoch, logs=None):
    ...         if logs["loss"] < 0.5:
    ...             self.model.stop_training = True
    >>> X = np.random.default_rng(0).normal(size=(64, 3))
    >>> net = mc.Sequential([mc.Dense(3, 1)], loss="mse", dtype="float64", seed=0)
    >>> history = net.fit(X, X.sum(axis=1), epochs=100, lr=0.05, callbacks=[StopBelow()])
    >>> len(history) < 100 and history[-1] < 0.5
    True
    """

    model = None
    loop = None

    def on_train_begin(self, logs=None):
        """Called once before the first epoch of a fit.

        Parameters
        ----------
        logs : dict or None
            Empty at this point; for Keras' signature.
        """

    def on_epoch_begin(self, epoch, logs=None):
        """Called before each epoch.

        Parameters
        ----------
        epoch : int
            The index of the coming epoch, Keras' numbering (``initial_epoch`` for the first
            epoch of the fit; the progress bar shows ``epoch + 1``).
        logs : dict or None
            Empty at this point; for Keras' signature.
        """

    def on_epoch_end(self, epoch, logs=None):
        """Called after each epoch, once its logs are complete.

        Parameters
        ----------
        epoch : int
            The index of the epoch that ended.
        logs : dict
            "epoch", "loss", "val_loss" and the validation metrics (on the epochs that
            validate), "lr" (the rate of the epoch's last step), "time" and, with
            ``grad_norms=True``, "grad_norm_<i>" per parameter layer (see History).

        Returns
        -------
        bool or None
            True stops training after this epoch (as does setting
            ``self.model.stop_training = True``).
        """

    def on_train_end(self, logs=None):
        """Called once after the last epoch of a fit, also after an early stop.

        Parameters
        ----------
        logs : dict or None
            The logs of the last epoch.
        """


def _mode(mode, monitor):
    _checks.check_choice("mode", mode, ("auto", "min", "max"), "modes")
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("r2")) else "min"
    return mode


def _monitored(logs, monitor, loop=None):
    """The monitored value, or None on an epoch fit did not validate (validation_freq)."""
    if (
        monitor not in logs
        and monitor.startswith("val_")
        and loop is not None
        and loop.Xv is not None
        and not loop.validates(int(logs["epoch"]))
    ):
        return None
    if monitor not in logs:
        raise ValueError(f"cannot monitor {monitor!r}: the logs hold {', '.join(sorted(logs))}")
    return float(logs[monitor])


class EarlyStopping(Callback):
    """Stops when `monitor` has not improved by more than min_delta for `patience` epochs
    (Keras's rule). With restore_best_weights, the weights and state of the best epoch are
    restored when it stops training (not when the epochs simply run out). A NaN value never
    counts as an improvement. verbose=1 (the default; Keras' is 0) prints a line when it
    stops, and says which epoch's weights it restored; verbose=0 is silent."""

    def __init__(
        self,
        monitor="val_loss",
        min_delta=0.0,
        patience=0,
        restore_best_weights=False,
        mode="auto",
        verbose=1,
    ):
        if not isinstance(monitor, str):
            raise ValueError(f"monitor must be a name in the logs, got {monitor!r}")
        self.monitor = monitor
        self.min_delta = abs(_checks.check_nonnegative_real("min_delta", min_delta))
        self.patience = _checks.check_nonnegative_int("patience", patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.mode = _mode(mode, monitor)
        if verbose not in (0, 1) or isinstance(verbose, float):
            raise ValueError(f"verbose must be 0 or 1, got {verbose!r}")
        self.verbose = int(verbose)
        self.stopped_epoch = None

    def on_train_begin(self, logs=None):
        """Resets the best value, the patience counter and the kept weights."""
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_epoch, self.best_weights, self.wait, self.stopped_epoch = None, None, 0, None

    def on_epoch_end(self, epoch, logs=None):
        """Compares the monitored value with the best so far; stops training (and restores
        the best weights with `restore_best_weights`) when patience has run out.
        Returns True when it stopped training."""
        current = _monitored(logs, self.monitor, self.loop)
        if current is None:
            return False
        better = (
            current < self.best - self.min_delta
            if self.mode == "min"
            else current > self.best + self.min_delta
        )
        if better:
            self.best, self.best_epoch, self.wait = current, epoch, 0
            if self.restore_best_weights:
                self.best_weights = (self.model.get_weights(), self.model.get_state())
            return False
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            restored = self.restore_best_weights and self.best_weights is not None
            if restored:
                self.model.set_weights(self.best_weights[0])
                self.model.set_state(self.best_weights[1])
            if self.verbose:
                # epochs shown as the progress bar shows them (index + 1)
                best = (
                    "none was finite"
                    if self.best_epoch is None
                    else f"best {self.best:.6g} in epoch {self.best_epoch + 1}"
                )
                print(
                    f"epoch {epoch + 1}: early stopping: {self.monitor} did not improve by "
                    f"more than {self.min_delta:g} for {self.wait} epoch"
                    f"{'s' if self.wait != 1 else ''} ({best})"
                    + (
                        f"; restored the weights of epoch {self.best_epoch + 1}" if restored else ""
                    ),
                    flush=True,
                )
            self.model.stop_training = True
            return True
        return False


class ModelCheckpoint(Callback):
    """Saves the model with mlpcore.save after every epoch, or only when `monitor` improved
    (save_best_only). path may hold format fields of the logs, e.g. "ckpt-{epoch:03d}.npz"."""

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto"):
        self.path = os.fspath(path)
        self.monitor = monitor
        self.save_best_only = bool(save_best_only)
        self.mode = _mode(mode, monitor)

    def on_train_begin(self, logs=None):
        """Resets the best value (`save_best_only` compares within one fit)."""
        self.best = math.inf if self.mode == "min" else -math.inf

    def on_epoch_end(self, epoch, logs=None):
        """Saves the model to `path` formatted with the logs (when the monitored value
        improved, with `save_best_only`)."""
        if self.save_best_only:
            current = _monitored(logs, self.monitor, self.loop)
            if current is None or not (
                current < self.best if self.mode == "min" else current > self.best
            ):
                return False
            self.best = current
        _record.write(self.model, self.path.format(**logs))  # mlpcore.save
        return False


class ReduceLROnPlateau(Callback):
    """Multiplies the rates by `factor` after more than `patience` epochs without an
    improvement of `monitor` (torch.optim.lr_scheduler.ReduceLROnPlateau's rule, on top of
    whatever schedule fit uses), never below min_lr."""

    def __init__(
        self,
        monitor="val_loss",
        factor=0.1,
        patience=10,
        mode="auto",
        min_delta=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
    ):
        self._plateau = Plateau(
            monitor,
            _mode(mode, monitor),
            factor,
            patience,
            min_delta,
            threshold_mode,
            cooldown,
            min_lr,
            1e-8,
        )

    @property
    def monitor(self):
        """The name in the logs whose plateau reduces the rate."""
        return self._plateau.monitor

    def on_train_begin(self, logs=None):
        """Resets the plateau's best value, patience and cooldown counters."""
        self._plateau.reset()

    def on_epoch_end(self, epoch, logs=None):
        """Updates the plateau rule with the monitored value and scales `loop.lr_factor`
        by the factor it decided (1 while the value improves)."""
        if _monitored(logs, self._plateau.monitor, self.loop) is None:
            return False
        before = self._plateau.scale
        lr = float(logs["lr"])
        after = self._plateau.update(logs, lr)
        self.loop.lr_factor *= after / before
        return False


class LearningRateScheduler(Callback):
    """schedule(epoch, lr) -> the rate of the coming epoch, given the epoch's index (Keras'
    numbering: initial_epoch for the first epoch of the fit) and the current rate (Keras's
    LearningRateScheduler); it
    scales every step's rate of the epoch so that the first step gets the returned rate."""

    def __init__(self, schedule):
        if not callable(schedule):
            raise ValueError(f"schedule must be callable as schedule(epoch, lr), got {schedule!r}")
        self.schedule = schedule

    def on_epoch_begin(self, epoch, logs=None):
        """Calls ``schedule(epoch, lr)`` and scales the coming epoch's rates so that its
        first step runs at the returned rate; raises ValueError unless that is a finite
        number > 0."""
        current = self.loop.current_lr()
        lr = self.schedule(epoch, current)
        if (
            isinstance(lr, bool)
            or not isinstance(lr, numbers.Real)
            or not (math.isfinite(lr) and lr > 0)
        ):
            raise ValueError(
                f"LearningRateScheduler: schedule returned {lr!r}; it must return a finite rate > 0"
            )
        self.loop.lr_factor *= float(lr) / current


class CSVLogger(Callback):
    """Writes one CSV row per epoch with the logs (columns from the first epoch's keys)."""

    def __init__(self, filename, separator=",", append=False):
        self.filename = os.fspath(filename)
        self.separator = separator
        self.append = bool(append)
        self._keys = None

    def on_train_begin(self, logs=None):
        """Truncates the file, unless `append`."""
        self._keys = None
        if not self.append:
            open(self.filename, "w").close()

    def on_epoch_end(self, epoch, logs=None):
        """Appends the epoch's row (with the header first, in a new or empty file)."""
        new = self._keys is None
        if new:
            self._keys = list(logs)
            new = not (
                self.append and os.path.exists(self.filename) and os.path.getsize(self.filename) > 0
            )
        with open(self.filename, "a", newline="") as f:
            w = csv.writer(f, delimiter=self.separator)
            if new:
                w.writerow(self._keys)
            w.writerow([logs.get(k, "") for k in self._keys])
        return False


class LambdaCallback(Callback):
    """A callback from functions: on_epoch_end(epoch, logs) etc.; fit(callback=f) is
    LambdaCallback(on_epoch_end=lambda epoch, logs: f(net, logs))."""

    def __init__(
        self, on_train_begin=None, on_epoch_begin=None, on_epoch_end=None, on_train_end=None
    ):
        for name, f in (
            ("on_train_begin", on_train_begin),
            ("on_epoch_begin", on_epoch_begin),
            ("on_epoch_end", on_epoch_end),
            ("on_train_end", on_train_end),
        ):
            if f is not None:
                if not callable(f):
                    raise ValueError(f"{name} must be callable, got {f!r}")
                setattr(self, name, f)
