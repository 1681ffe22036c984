"""Learning-rate schedules for Sequential.fit(lr=...) or an optimizer's lr.

Each schedule carries its base rate and gives the rate of every step of an epoch; the C++
epoch applies them step by step (Engine.train_epoch(lrs=...)), so per-step schedules cost no
Python call per step. Steps and epochs count from the start of each fit call (0-based), as
a torch scheduler created before the loop counts them::

    Constant(lr)
    StepDecay(lr, step_size, gamma=0.1)          lr gamma^(epoch // step_size)     torch StepLR
    Exponential(lr, gamma)                       lr gamma^epoch             torch ExponentialLR
    InverseScaling(lr, power_t=0.5)              lr / (n_samples epoch + 1)^power_t
                                                 (scikit-learn's learning_rate="invscaling")
    CosineWarmup(lr, total_steps, warmup_steps=0, start_factor=0.01, min_lr=0.0)   per step:
        linear warm-up lr (start_factor + (1 - start_factor) t / warmup_steps) for t < warmup,
        then min_lr + (lr - min_lr) (1 + cos(pi (t - warmup) / (total - warmup))) / 2
        (torch SequentialLR(LinearLR, CosineAnnealingLR, milestones=[warmup_steps]))
    OneCycle(max_lr, total_steps, pct_start=0.3, anneal_strategy="cos", div_factor=25.0,
             final_div_factor=1e4, three_phase=False)           per step, torch OneCycleLR
    ReduceOnPlateau(lr, monitor="val_loss", mode="min", factor=0.1, patience=10,
                    threshold=1e-4, threshold_mode="rel", cooldown=0, min_lr=0.0, eps=1e-8)
        epoch-level, torch ReduceLROnPlateau's rule. scikit-learn's learning_rate="adaptive"
        is this rule as ReduceOnPlateau(lr, monitor="loss", factor=0.2,
        patience=n_iter_no_change, threshold=tol, threshold_mode="abs", min_lr=1e-6), except
        that scikit-learn's reference loss follows every decrease (torch's and ours only
        those by more than the threshold) and that it stops training at lr 1e-6.

A rate <= 0 (a cosine with min_lr=0 or a one-cycle run past total_steps) is a ValueError
when fit reaches it; the rate of each epoch's last step is history.history["lr"].
"""

import math
import numbers

import numpy as np

from . import _checks

__all__ = [
    "Schedule",
    "Constant",
    "StepDecay",
    "Exponential",
    "InverseScaling",
    "CosineWarmup",
    "OneCycle",
    "ReduceOnPlateau",
]


def _real(name, value, low=None, high=None, low_open=False, high_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    v = float(value)
    if low is not None and (v < low or (low_open and v == low)):
        raise ValueError(f"{name} must be {'>' if low_open else '>='} {low}, got {value!r}")
    if high is not None and (v > high or (high_open and v == high)):
        raise ValueError(f"{name} must be {'<' if high_open else '<='} {high}, got {value!r}")
    return v


class Schedule:
    """Base class of the learning-rate schedules.

    fit asks a schedule once per epoch for the rates of all the epoch's steps (`rates`),
    which the engine then applies step by step; `reset` starts every fit and `epoch_end`
    follows every epoch (for the schedules that watch a metric).

    Attributes
    ----------
    lr : float
        The base (or, for OneCycle, the maximum) rate.

    Examples
    --------
    >>> import mlpcore as mc
    >>> mc.schedules.StepDecay(0.1, step_size=2, gamma=0.5).rates(3, 30, 4, 100)
    array([0.05, 0.05, 0.05, 0.05])
    """

    lr = None

    def rates(self, epoch, first_step, n_steps, n_samples):
        """The learning rate of every step of one epoch.

        Parameters
        ----------
        epoch : int
            The epoch's index, counted from 0 at the start of the fit call.
        first_step : int
            The index of the epoch's first step, counted from 0 at the start of the fit.
        n_steps : int
            The number of steps (batches) in the epoch.
        n_samples : int
            The number of training samples (InverseScaling counts the samples seen).

        Returns
        -------
        ndarray of shape (n_steps,), float64
        """
        raise NotImplementedError

    def reset(self):
        """Called at the start of every fit: forgets what earlier fits taught the schedule
        (only ReduceOnPlateau keeps anything)."""

    def epoch_end(self, logs):
        """Called after every epoch with its logs (only ReduceOnPlateau reads them).

        Parameters
        ----------
        logs : dict
            The epoch's logs, as the callbacks receive them.
        """

    def _config(self):
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self._config().items())
        return f"{type(self).__name__}({args})"


class _PerEpoch(Schedule):
    def rates(self, epoch, first_step, n_steps, n_samples):
        return np.full(n_steps, self.epoch_rate(epoch, n_samples))

    def epoch_rate(self, epoch, n_samples):
        """The rate of every step of epoch `epoch` (a per-epoch schedule).

        Parameters
        ----------
        epoch : int
            The epoch's index, counted from 0 at the start of the fit call.
        n_samples : int
            The number of training samples.

        Returns
        -------
        float
        """
        raise NotImplementedError


class Constant(_PerEpoch):
    """The same rate `lr` at every step; a plain number given as `lr` becomes this.

    Parameters
    ----------
    lr : float
        The rate, > 0.
    """

    def __init__(self, lr):
        self.lr = _checks.check_positive_real("lr", lr)

    def epoch_rate(self, epoch, n_samples):
        return self.lr


class StepDecay(_PerEpoch):
    """lr gamma^(epoch // step_size) (torch.optim.lr_scheduler.StepLR)."""

    def __init__(self, lr, step_size, gamma=0.1):
        self.lr = _checks.check_positive_real("lr", lr)
        self.step_size = _checks.check_positive_int("step_size", step_size)
        self.gamma = _real("gamma", gamma, 0, 1, low_open=True)

    def epoch_rate(self, epoch, n_samples):
        return self.lr * self.gamma ** (epoch // self.step_size)


class Exponential(_PerEpoch):
    """lr gamma^epoch (torch.optim.lr_scheduler.ExponentialLR)."""

    def __init__(self, lr, gamma):
        self.lr = _checks.check_positive_real("lr", lr)
        self.gamma = _real("gamma", gamma, 0, 1, low_open=True)

    def epoch_rate(self, epoch, n_samples):
        return self.lr * self.gamma**epoch


class InverseScaling(_PerEpoch):
    """lr / (t + 1)^power_t with t the samples seen before the epoch (scikit-learn's
    invscaling: the rate changes at the end of each epoch)."""

    def __init__(self, lr, power_t=0.5):
        self.lr = _checks.check_positive_real("lr", lr)
        self.power_t = _real("power_t", power_t, 0)

    def epoch_rate(self, epoch, n_samples):
        return self.lr / (n_samples * epoch + 1) ** self.power_t


class CosineWarmup(Schedule):
    """Linear warm-up then cosine annealing, per step."""

    def __init__(self, lr, total_steps, warmup_steps=0, start_factor=0.01, min_lr=0.0):
        self.lr = _checks.check_positive_real("lr", lr)
        self.total_steps = _checks.check_positive_int("total_steps", total_steps)
        self.warmup_steps = _checks.check_nonnegative_int("warmup_steps", warmup_steps)
        if self.warmup_steps >= self.total_steps:
            raise ValueError(f"warmup_steps ({warmup_steps}) must be < total_steps ({total_steps})")
        self.start_factor = _real("start_factor", start_factor, 0, 1, low_open=True)
        self.min_lr = _real("min_lr", min_lr, 0, self.lr)

    def rates(self, epoch, first_step, n_steps, n_samples):
        """Per step t (counted over the fit): warm-up rates for t < warmup_steps, then the
        cosine from lr down to min_lr, reached at total_steps (and kept after it)."""
        t = np.arange(first_step, first_step + n_steps, dtype=np.float64)
        w, T = self.warmup_steps, self.total_steps
        warm = self.lr * (self.start_factor + (1 - self.start_factor) * t / max(w, 1))
        frac = np.minimum(t - w, T - w) / (T - w)
        cos = self.min_lr + (self.lr - self.min_lr) * (1 + np.cos(math.pi * frac)) / 2
        return np.where(t < w, warm, cos)


class OneCycle(Schedule):
    """torch.optim.lr_scheduler.OneCycleLR's rates (without its momentum cycling)."""

    def __init__(
        self,
        max_lr,
        total_steps,
        pct_start=0.3,
        anneal_strategy="cos",
        div_factor=25.0,
        final_div_factor=1e4,
        three_phase=False,
    ):
        self.max_lr = _checks.check_positive_real("max_lr", max_lr)
        self.total_steps = _checks.check_positive_int("total_steps", total_steps)
        self.pct_start = _real("pct_start", pct_start, 0, 1)
        self.anneal_strategy = _checks.check_choice(
            "anneal_strategy", anneal_strategy, ("cos", "linear"), "strategies"
        )
        self.div_factor = _checks.check_positive_real("div_factor", div_factor)
        self.final_div_factor = _checks.check_positive_real("final_div_factor", final_div_factor)
        self.three_phase = bool(three_phase)
        initial = self.max_lr / self.div_factor
        low = initial / self.final_div_factor
        up = float(self.pct_start * self.total_steps) - 1
        if self.three_phase:
            self._phases = [
                (up, initial, self.max_lr),
                (2 * up, self.max_lr, initial),
                (self.total_steps - 1, initial, low),
            ]
        else:
            self._phases = [(up, initial, self.max_lr), (self.total_steps - 1, self.max_lr, low)]

    @property
    def lr(self):
        """The peak rate, max_lr."""
        return self.max_lr

    def _anneal(self, start, end, pct):
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def _rate(self, t):
        if t >= self.total_steps:
            return 0.0  # torch raises: fit reports it as a rate <= 0
        start_step = 0.0
        for i, (end_step, lo, hi) in enumerate(self._phases):
            if t <= end_step or i == len(self._phases) - 1:
                return self._anneal(lo, hi, (t - start_step) / (end_step - start_step))
            start_step = end_step
        raise AssertionError("unreachable")

    def rates(self, epoch, first_step, n_steps, n_samples):
        """torch's OneCycleLR rate of each step t (counted over the fit); 0 from
        total_steps on, which fit refuses as a rate <= 0."""
        return np.array([self._rate(t) for t in range(first_step, first_step + n_steps)])


class Plateau:
    """torch.optim.lr_scheduler.ReduceLROnPlateau's rule on a factor (starts at 1):
    after more than `patience` epochs without improvement of the monitored value, factor *=
    `factor` (lr never below min_lr), then `cooldown` epochs without counting."""

    def __init__(
        self, monitor, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps
    ):
        if not isinstance(monitor, str):
            raise ValueError(
                f"monitor must be a name in the logs, e.g. 'val_loss', got {monitor!r}"
            )
        self.monitor = monitor
        self.mode = _checks.check_choice("mode", mode, ("min", "max"), "modes")
        self.factor = _real("factor", factor, 0, 1, low_open=True, high_open=True)
        self.patience = _checks.check_nonnegative_int("patience", patience)
        self.threshold = _real("threshold", threshold, 0)
        self.threshold_mode = _checks.check_choice(
            "threshold_mode", threshold_mode, ("rel", "abs"), "threshold modes"
        )
        self.cooldown = _checks.check_nonnegative_int("cooldown", cooldown)
        self.min_lr = _real("min_lr", min_lr, 0)
        self.eps = _real("eps", eps, 0)
        self.reset()

    def reset(self):
        self.scale = 1.0
        self.best = math.inf if self.mode == "min" else -math.inf
        self.bad = self.cooldown_left = 0

    def _better(self, a):
        rel = self.threshold_mode == "rel"
        if self.mode == "min":
            return a < (self.best * (1 - self.threshold) if rel else self.best - self.threshold)
        return a > (self.best * (1 + self.threshold) if rel else self.best + self.threshold)

    def update(self, logs, lr):
        """Watches logs[monitor]; returns the new factor of the rate lr (the current one)."""
        if self.monitor not in logs:
            raise ValueError(
                f"cannot monitor {self.monitor!r}: the logs hold {', '.join(sorted(logs))}"
            )
        current = float(logs[self.monitor])
        if self._better(current):
            self.best, self.bad = current, 0
        else:
            self.bad += 1
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.bad = 0
        if self.bad > self.patience:
            new = max(lr * self.factor, self.min_lr)
            if lr - new > self.eps:
                self.scale *= new / lr
            self.cooldown_left, self.bad = self.cooldown, 0
        return self.scale


class ReduceOnPlateau(_PerEpoch):
    """lr times a factor that shrinks when logs[monitor] stops improving (torch's rule)."""

    def __init__(
        self,
        lr,
        monitor="val_loss",
        mode="min",
        factor=0.1,
        patience=10,
        threshold=1e-4,
        threshold_mode="rel",
        cooldown=0,
        min_lr=0.0,
        eps=1e-8,
    ):
        self.lr = _checks.check_positive_real("lr", lr)
        self._plateau = Plateau(
            monitor, mode, factor, patience, threshold, threshold_mode, cooldown, min_lr, eps
        )

    def _config(self):
        p = self._plateau
        return {
            "lr": self.lr,
            **{
                k: getattr(p, k)
                for k in (
                    "monitor",
                    "mode",
                    "factor",
                    "patience",
                    "threshold",
                    "threshold_mode",
                    "cooldown",
                    "min_lr",
                    "eps",
                )
            },
        }

    def reset(self):
        """Restarts the rule: factor 1, no best value, no patience or cooldown used."""
        self._plateau.reset()

    def epoch_end(self, logs):
        """Feeds ``logs[monitor]`` to the plateau rule, which may shrink the factor."""
        self._plateau.update(logs, self.lr * self._plateau.scale)

    def epoch_rate(self, epoch, n_samples):
        """lr times the current factor."""
        return self.lr * self._plateau.scale


def as_schedule(lr):
    """A number becomes Constant(lr); a Schedule passes."""
    return lr if isinstance(lr, Schedule) else Constant(lr)
