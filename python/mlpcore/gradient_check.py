"""Gradient check of a whole model: backpropagation against central finite differences,
per layer and per parameter array (``mlpcore.check_gradients``)."""

from typing import Dict, List, NamedTuple, Optional

import numpy as np

from . import _checks


class GradientCheckRow(NamedTuple):
    """One parameter array of a gradient check (a row of its table)."""

    layer: int  # index of the layer in net.layers
    layer_name: str  # e.g. "Dense(2, 4)"
    param: str  # the parameter's name in its layer: "W", "b", "gamma", "beta"
    shape: tuple
    entries: np.ndarray  # (n_checked,) flat indices of the entries compared
    backprop: np.ndarray  # (n_checked,) the gradient by backpropagation at those entries
    numerical: np.ndarray  # (n_checked,) the central finite difference at those entries
    max_abs_grad: float  # max |backprop| over the compared entries
    max_abs_error: float  # max |backprop - numerical|
    max_rel_error: float  # max |backprop - numerical| / max(|backprop|, |numerical|, floor)

    @property
    def name(self) -> str:
        """``"<layer index> <layer class> <param>"``, e.g. ``"0 Dense W"``."""
        return f"{self.layer} {self.layer_name.split('(')[0]} {self.param}"


class GradientCheck:
    """The result of :func:`check_gradients`: one row per parameter array.

    Printing it shows the table. The numbers are also available as attributes.

    Attributes
    ----------
    rows : list of GradientCheckRow
        One per parameter array, in ``get_weights()`` order, with the compared entries'
        flat indices (``entries``) and both gradients (``backprop``, ``numerical``) for plotting.
    loss : float
        The loss at the unperturbed parameters.
    max_rel_error : float
        The largest relative error over all compared entries.
    tol : float
        The tolerance ``passed`` compares ``max_rel_error`` with.
    passed : bool
        ``max_rel_error <= tol``.
    eps, dtype, backend, training, step, floor
        How the check ran.
    """

    def __init__(self, rows, loss, eps, dtype, backend, training, step, floor, tol):
        self.rows: List[GradientCheckRow] = rows
        self.loss = float(loss)
        self.eps, self.dtype, self.backend = eps, dtype, backend
        self.training, self.step, self.floor, self.tol = training, step, floor, tol
        self.max_rel_error = max((r.max_rel_error for r in rows), default=0.0)
        self.passed = bool(self.max_rel_error <= tol)

    @property
    def errors(self) -> np.ndarray:
        """(n_arrays,) the max relative error of each parameter array, in row order."""
        return np.array([r.max_rel_error for r in self.rows])

    def max_rel_errors(self) -> Dict[str, float]:
        """``{row.name: max relative error}``, e.g. ``{"0 Dense W": 3e-10, ...}``."""
        return {r.name: r.max_rel_error for r in self.rows}

    def by_layer(self) -> Dict[int, float]:
        """``{layer index: max relative error over its parameter arrays}``."""
        out: Dict[int, float] = {}
        for r in self.rows:
            out[r.layer] = max(out.get(r.layer, 0.0), r.max_rel_error)
        return out

    def to_dict(self) -> Dict[str, list]:
        """The table as columns (lists), e.g. for ``pandas.DataFrame(check.to_dict())``."""
        keys = ("layer", "layer_name", "param", "shape", "max_abs_grad", "max_abs_error")
        out: Dict[str, list] = {k: [getattr(r, k) for r in self.rows] for k in keys}
        out["checked"] = [len(r.entries) for r in self.rows]
        out["size"] = [int(np.prod(r.shape)) for r in self.rows]
        out["max_rel_error"] = [r.max_rel_error for r in self.rows]
        return out

    def __str__(self) -> str:
        mode = f"training=True, step={self.step}" if self.training else "evaluation mode"
        lines = [
            f"gradient check: backprop vs central differences (eps={self.eps:g}, "
            f"{self.dtype}, {self.backend} engine, {mode}; loss {self.loss:.6g})",
            f"{'layer':<14} {'param':<6} {'shape':<12} {'checked':>9} "
            f"{'max |grad|':>10} {'max abs err':>11} {'max rel err':>11}",
        ]
        for r in self.rows:
            size = int(np.prod(r.shape))
            lines.append(
                f"{str(r.layer) + ' ' + r.layer_name.split('(')[0]:<14.14} {r.param:<6} "
                f"{str(r.shape):<12} "
                f"{f'{len(r.entries)}/{size}':>9} {r.max_abs_grad:>10.2e} "
                f"{r.max_abs_error:>11.2e} {r.max_rel_error:>11.2e}"
            )
        verdict = "passed" if self.passed else "FAILED"
        lines.append(
            f"max relative error {self.max_rel_error:.2e} (tolerance {self.tol:g}): {verdict}"
        )
        return "\n".join(lines)

    def __repr__(self) -> str:
        return self.__str__()


def check_gradients(
    net,
    X,
    y,
    training: bool = False,
    step: Optional[int] = None,
    sample_weight=None,
    eps: Optional[float] = None,
    dtype: Optional[str] = "float64",
    max_per_array: Optional[int] = None,
    seed: int = 0,
    floor: Optional[float] = None,
    tol: Optional[float] = None,
) -> GradientCheck:
    """Check a model's backpropagated gradients against central finite differences.

    For every parameter array (each layer's ``W``, ``b``, ``gamma``, ``beta``) and every
    entry ``w`` of it (or a random sample of ``max_per_array`` entries), the numerical
    derivative ``(L(w + eps) - L(w - eps)) / (2 eps)`` of ``net.loss(X, y, training, step)``
    is compared with ``net.gradients(X, y, training, step)``. The check runs on a copy of
    the model in ``dtype`` (float64 by default) on the model's own engine; the model itself
    is not changed.

    Parameters
    ----------
    net : Sequential
        The model to check. Its weights and batch-norm state are copied.
    X : array-like, shape (n_samples, n_features)
        The inputs of the loss.
    y : array-like
        The targets, as ``net.loss`` takes them.
    training : bool, default False
        Check the training-mode loss: batch statistics in batch norm and the dropout masks
        of ``step``, which stay fixed while the parameters are perturbed (so the loss is a
        smooth function of the parameters, as in one training step).
    step : int or None
        The training step whose dropout masks are used (default: the model's next step,
        ``net.step_``).
    sample_weight : array-like of shape (n_samples,) or None
        Per-sample weights of the loss.
    eps : float or None
        The finite-difference step; default 1e-5 in float64 (there the round-off error
        ``1e-16 |L| / eps`` and the truncation error ``eps**2 |L_www| / 6`` of central
        differences, ``L_www`` the third derivative, are both about 1e-11), 1e-2 in
        float32.
    dtype : "float64" (default), "float32" or None
        The precision of the copy the check runs on; None keeps the model's dtype.
    max_per_array : int or None
        Compare at most this many entries of each parameter array, drawn at random with
        ``seed``; None (the default) compares every entry. Each entry costs two loss
        evaluations.
    seed : int
        Seeds the choice of entries when ``max_per_array`` is given.
    floor : float or None
        The relative error of an entry is ``|bp - fd| / max(|bp|, |fd|, floor)``: entries
        whose gradients are below ``floor`` are measured against ``floor``, because the
        finite difference itself carries an absolute error of about ``1e-16 |L| / eps``
        (a gradient that is exactly zero, such as that of a bias before batch norm, gives
        finite differences of about 1e-12). Default 1e-6 in float64, 1e-3 in float32.
    tol : float or None
        ``passed`` is ``max_rel_error <= tol``; default 1e-5 in float64, 1e-2 in float32.

    Returns
    -------
    GradientCheck
        Printable table with one row per parameter array: shape, entries compared,
        largest gradient, largest absolute and relative error; ``max_rel_error``,
        ``passed``, ``max_rel_errors()`` (a dict), ``errors`` (an array), ``to_dict()``.

    Raises
    ------
    TypeError
        If ``net`` is not a ``Sequential``.
    ValueError
        For bad ``X``, ``y``, ``eps``, ``max_per_array`` or ``dtype``, or a model that
        cannot be differentiated (``Step`` or ``Sign`` above a parameter).

    Notes
    -----
    A kink (ReLU at 0, the hinge at margin 1) inside ``[w - eps, w + eps]`` gives a
    large error at that entry that is not a bug; so does a float32 check with a small
    ``eps``. Correct backpropagation in float64 typically gives relative errors of 1e-7
    or less; a wrong gradient gives errors of order 1.

    Examples
    --------
    >>> import numpy as np
    >>> import mlpcore as mc
    >>> net = mc.Sequential([mc.Dense(3, 4), mc.Tanh(), mc.Dense(4, 2)],
    ...                     loss="softmax_cross_entropy", seed=0)
    >>> X = np.random.default_rng(0).normal(size=(8, 3))
    >>> y = np.array([0, 1, 1, 0, 1, 0, 0, 1])
    >>> check = mc.check_gradients(net, X, y)
    >>> check.passed
    True
    >>> [row.name for row in check.rows]
    ['0 Dense W', '0 Dense b', '2 Dense W', '2 Dense b']
    >>> print(check)  # doctest: +SKIP
    gradient check: backprop vs central differences (eps=1e-05, float64, native engine, ...)
    layer          param  shape          checked max |grad| max abs err max rel err
    0 Dense        W      (3, 4)           12/12   2.66e-01    7.16e-11    6.18e-08
    ...
    """
    from .sequential import Sequential

    if not isinstance(net, Sequential):
        raise TypeError(f"net must be an mlpcore.Sequential, got {type(net).__name__}")
    dt = np.dtype(net.dtype if dtype is None else _checks.check_dtype(dtype))
    if eps is None:
        eps = 1e-5 if dt == np.float64 else 1e-2
    eps = _checks.check_positive_real("eps", eps)
    if tol is None:
        tol = 1e-5 if dt == np.float64 else 1e-2
    tol = _checks.check_positive_real("tol", tol)
    if floor is None:
        floor = 1e-6 if dt == np.float64 else 1e-3
    floor = _checks.check_positive_real("floor", floor)
    if max_per_array is not None:
        max_per_array = _checks.check_positive_int("max_per_array", max_per_array)
    step = net.step_ if step is None else _checks.check_nonnegative_int("step", step)
    training = bool(training)

    config = net.get_config()
    config["dtype"] = dt.name
    copy = Sequential.from_config(config, backend=net.backend)
    copy.set_weights([w.astype(dt) for w in net.get_weights()])
    copy.set_state([s.astype(dt) for s in net.get_state()])

    def loss(weights):
        copy.set_weights(weights)
        return copy.loss(X, y, training=training, step=step, sample_weight=sample_weight)

    weights = copy.get_weights()
    base = loss(weights)
    grads = copy.gradients(X, y, training=training, step=step, sample_weight=sample_weight)

    rng = np.random.default_rng(seed)
    rows, a = [], 0
    layout = net._layout
    for i, (layer, width) in enumerate(zip(layout.layers, layout.widths)):
        for p in layer.params(width):
            w, g = weights[a], grads[a]
            size = w.size
            if max_per_array is None or max_per_array >= size:
                index = np.arange(size)
            else:
                index = np.sort(rng.choice(size, max_per_array, replace=False))
            numerical = np.empty(index.size)
            flat = w.reshape(-1)  # a view: perturbing flat perturbs weights[a]
            for k, j in enumerate(index):
                keep = flat[j]
                flat[j] = keep + eps
                up = loss(weights)
                flat[j] = keep - eps
                down = loss(weights)
                flat[j] = keep
                numerical[k] = (up - down) / (2 * eps)
            backprop = g.reshape(-1)[index].astype(np.float64)
            diff = np.abs(backprop - numerical)
            scale = np.maximum(np.maximum(np.abs(backprop), np.abs(numerical)), floor)
            rows.append(
                GradientCheckRow(
                    layer=i,
                    layer_name=repr(layer),
                    param=p.name,
                    shape=tuple(p.shape),
                    entries=index,
                    backprop=backprop,
                    numerical=numerical,
                    max_abs_grad=float(np.abs(backprop).max(initial=0.0)),
                    max_abs_error=float(diff.max(initial=0.0)),
                    max_rel_error=float((diff / scale).max(initial=0.0)),
                )
            )
            a += 1
    return GradientCheck(rows, base, eps, dt.name, net.backend, training, step, floor, tol)
