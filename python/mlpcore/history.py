"""History: what Sequential.fit returns.

A list of the per-epoch training losses (what fit returned before, so `losses[-1]` and
`len(losses)` keep working) that also carries, like Keras's History:

    history.history   dict of lists, one entry per epoch of this fit: "epoch", "loss",
                      "val_loss" (with validation data), the metrics (mlpcore.metrics:
                      "val_accuracy" or "val_r2"/"val_mae" with validation data), "lr" (the
                      rate of the epoch's last step), "time" (wall seconds of the epoch, its
                      evaluation included) and, with fit(grad_norms=True), "grad_norm_<i>": the
                      mean over the epoch's steps of the L2 norm of the gradient of layer i
                      (net.layers[i], each layer with parameters), measured after clip_value
                      and before clip_norm
    history.epoch     the epoch numbers (net.epoch_ counts across fit calls)
    history.step_losses  with fit(record_steps=True): per epoch, the loss of every step (an
                      array), computed on the step's batch before its update
    history.params    fit's settings (epochs, batch_size, steps per epoch, ...)
    to_pandas()       a DataFrame (pandas installed)
    plot()            loss and metric curves and the per-layer gradient norms (matplotlib,
                      pip install matplotlib; in a clone of mlpcore: pip install ".[plot]")

net.history_ keeps the same dict across all fit calls (None where an epoch lacks a key); it is
saved by mlpcore.save and pickles.
"""

import numpy as np


class History(list):
    """What `Sequential.fit` returns: the list of the per-epoch training losses, with
    Keras' History attributes (the module doc describes each).

    Attributes
    ----------
    history : dict of lists
        One entry per epoch of this fit: "epoch", "loss", "val_loss", the metrics, "lr",
        "time" and, with ``grad_norms=True``, "grad_norm_<i>".
    epoch : list of int
        The epochs' indices (Keras' numbering).
    step_losses : list of ndarray
        With ``fit(record_steps=True)``: per epoch, the loss of every step.
    params : dict
        fit's settings (epochs, batch_size, steps per epoch, ...).

    Examples
    --------
    >>> import numpy as np
    >>> import mlpcore as mc
    >>> X = np.random.default_rng(0).normal(size=(40, 2))
    >>> net = mc.Sequential([mc.Dense(2, 1)], loss="mse", seed=0)
    >>> history = net.fit(X, X[:, 0], epochs=3, batch_size=8)
    >>> len(history), history.epoch, sorted(history.history)
    (3, [0, 1, 2], ['epoch', 'loss', 'lr', 'time'])
    >>> history[-1] == history.history["loss"][-1]
    True
    """

    def __init__(self, params=None):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.step_losses = []
        self.params = dict(params or {})

    def _append(self, logs, step_losses=None):
        """Adds one epoch's logs (a dict of numbers with "epoch" and "loss")."""
        n = len(self.epoch)
        for key, value in logs.items():
            self.history.setdefault(key, [float("nan")] * n).append(
                int(value) if key == "epoch" else float(value)
            )
        for values in self.history.values():
            if len(values) == n:
                values.append(float("nan"))
        self.epoch.append(int(logs["epoch"]))
        self.append(float(logs["loss"]))
        if step_losses is not None:
            self.step_losses.append(np.asarray(step_losses, np.float64))

    @property
    def losses(self):
        """The per-epoch training losses, a plain list."""
        return list(self)

    def to_pandas(self):
        """history.history as a pandas DataFrame indexed by epoch."""
        try:
            import pandas as pd
        except ImportError:
            raise ImportError("History.to_pandas() needs pandas: pip install pandas") from None
        return pd.DataFrame(
            {k: v for k, v in self.history.items() if k != "epoch"},
            index=pd.Index(self.epoch, name="epoch"),
        )

    def plot(self, axes=None):
        """Draws the loss (and validation loss), the metrics and the per-layer gradient norms
        against the epoch with matplotlib; returns the axes."""
        return plot_history(self.history, axes)

    def __repr__(self):
        keys = ", ".join(k for k in self.history if k != "epoch")
        return f"<History: {len(self)} epochs; {keys}>"

    def __reduce_ex__(self, protocol):
        return (_rebuild, (list(self), self.__dict__))


def _rebuild(losses, state):
    h = History()
    h.extend(losses)
    h.__dict__.update(state)
    return h


def plot_history(history, axes=None):
    """The plot of a history dict (History.history or net.history_)."""
    try:
        import matplotlib.pyplot as plt
    except ImportError:
        raise ImportError(
            "plotting the history needs matplotlib: pip install matplotlib "
            '(in a clone of mlpcore: pip install ".[plot]")'
        ) from None
    # one fit's epochs (increasing, from its initial_epoch), else the epochs in the order
    # trained (net.history_ over several fits: each numbers its own from 0)
    epochs = history.get("epoch") or []
    if len(epochs) != len(history.get("loss", [])) or any(
        a is None or b is None or b <= a for a, b in zip(epochs, epochs[1:])
    ):
        epochs = list(range(len(history.get("loss", []))))
    metrics = [k for k in history if k.startswith("val_") and k != "val_loss"]
    norms = sorted(
        (k for k in history if k.startswith("grad_norm_")), key=lambda k: int(k.rsplit("_", 1)[1])
    )
    panels = 1 + bool(metrics) + bool(norms)
    if axes is None:
        _, axes = plt.subplots(1, panels, figsize=(4.5 * panels, 3.5), squeeze=False)
        axes = list(axes[0])
    axes = list(np.atleast_1d(axes))
    ax = iter(axes)
    a = next(ax)
    for key in ("loss", "val_loss"):
        if key in history:
            a.plot(epochs, history[key], label=key)
    a.set_xlabel("epoch")
    a.set_ylabel("loss")
    a.legend()
    if metrics:
        a = next(ax)
        for key in metrics:
            a.plot(epochs, history[key], label=key)
        a.set_xlabel("epoch")
        a.legend()
    if norms:
        a = next(ax)
        for key in norms:
            a.plot(epochs, history[key], label=f"layer {key.rsplit('_', 1)[1]}")
        a.set_yscale("log")
        a.set_xlabel("epoch")
        a.set_ylabel("mean gradient norm")
        a.legend()
    return axes
