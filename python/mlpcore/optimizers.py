"""Optimizers as objects, with torch.optim's names, defaults and update rules:

    mc.SGD(lr=1e-3, momentum=0, nesterov=False, weight_decay=0)       torch.optim.SGD
    mc.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0)    torch.optim.Adam (L2 added
                                                                      to the gradient)
    mc.AdamW(lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01) torch.optim.AdamW
                                                                      (decoupled decay)
    mc.RMSprop(lr=0.01, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0) torch.optim.RMSprop
                                                                      (not centered)

net.fit(X, y, optimizer=mc.Adam(1e-3)). Weight decay applies to the Dense weight matrices only
(torch: one parameter group for the weights, one without decay for the rest). lr may be a
number or a schedule of mlpcore.schedules. The update rules are written out in
mlpcore/reference/optim.py; the moments live in the model (they persist across fit calls,
save/load and pickles) and restart from zero when the optimizer's kind or settings other
than lr and weight_decay change. The objects hold settings only, so one can serve many fits.
"""

from typing import Optional

from . import _checks
from ._common import OPTIMIZER_DEFAULTS as _D

__all__ = ["Optimizer", "SGD", "Adam", "AdamW", "RMSprop"]

# torch.optim's defaults, stated once (_common.OPTIMIZER_DEFAULTS, shared with the twin)
_BETAS = (_D["beta1"], _D["beta2"])
_EPS = _D["eps"]


class Optimizer:
    """Base class: `name` (the engines' name), the rate lr (a number or a schedule of
    mlpcore.schedules), weight_decay and the kind's settings given to the constructor."""

    name: Optional[str] = None

    def __init__(self, lr, weight_decay, **settings):
        from .schedules import Schedule

        if not isinstance(lr, Schedule):
            _checks.check_positive_real("lr", lr)
        _checks.check_nonnegative_real("weight_decay", weight_decay)
        self.lr, self.weight_decay = lr, float(weight_decay)
        self._settings = settings
        self.settings()  # the checks

    @classmethod
    def named(cls, name, lr, weight_decay=0.0, **settings):
        """The optimizer of a name ("sgd", "adam", "adamw", "rmsprop") with the settings
        given (momentum, nesterov, betas, eps, alpha; the others take their defaults), as
        fit(optimizer=name, ...) builds it."""
        _checks.check_choice("optimizer", name, _checks.OPTIMIZERS)
        opt = cls.__new__(cls)
        opt.name = name
        Optimizer.__init__(opt, lr, weight_decay, **settings)
        return opt

    def settings(self):
        """The settings as `Sequential.optimizer_` records them (checked): the optimizer's
        moments restart when they change."""
        return _checks.check_optimizer(self.name, **self._settings)

    def get_config(self):
        """The constructor arguments, a dict: lr (a number or a schedule), weight_decay and
        the kind's settings; ``type(opt)(**opt.get_config())`` is an equal optimizer."""
        return {"lr": self.lr, "weight_decay": self.weight_decay, **self._settings}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        if type(self) is Optimizer:
            return f"Optimizer.named({self.name!r}, {args})"
        return f"{type(self).__name__}({args})"


class SGD(Optimizer):
    """torch.optim.SGD: m = momentum m + g; params -= lr (nesterov ? g + momentum m : m)."""

    name = "sgd"

    def __init__(self, lr=1e-3, momentum=_D["momentum"], nesterov=_D["nesterov"], weight_decay=0.0):
        super().__init__(lr, weight_decay, momentum=momentum, nesterov=nesterov)


class Adam(Optimizer):
    """torch.optim.Adam; weight_decay adds weight_decay * W to the gradient (L2)."""

    name = "adam"

    def __init__(self, lr=1e-3, betas=_BETAS, eps=_EPS, weight_decay=0.0):
        super().__init__(
            lr, weight_decay, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps
        )


class AdamW(Optimizer):
    """torch.optim.AdamW: `W *= 1 - lr weight_decay`, then Adam's step without decay."""

    name = "adamw"

    def __init__(self, lr=1e-3, betas=_BETAS, eps=_EPS, weight_decay=0.01):
        super().__init__(
            lr, weight_decay, betas=tuple(betas) if isinstance(betas, list) else betas, eps=eps
        )


class RMSprop(Optimizer):
    """torch.optim.RMSprop (centered=False): v = alpha v + (1 - alpha) g^2;
    u = g / (sqrt(v) + eps); params -= lr u (or through a momentum buffer)."""

    name = "rmsprop"

    def __init__(
        self, lr=0.01, alpha=_D["alpha"], eps=_EPS, weight_decay=0.0, momentum=_D["momentum"]
    ):
        super().__init__(lr, weight_decay, alpha=alpha, eps=eps, momentum=momentum)
