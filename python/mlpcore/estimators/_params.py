"""The constructor parameters of MLPClassifier/MLPRegressor as one declarative table:
name -> (default, constraint). scikit-learn 1.9's parameters come first with its names,
defaults and allowed values; mlpcore's own follow (keyword-only). `validate(estimator)`
checks every parameter against its constraint and raises a ValueError that names the
class the user called, the parameter, what it must be and what it got."""

import numbers

import numpy as np


class _Constraint:
    def ok(self, value):
        raise NotImplementedError

    def __str__(self):
        raise NotImplementedError


class Options(_Constraint):
    """One of a few values (strings, None)."""

    def __init__(self, *values):
        self.values = values

    def ok(self, value):
        return any(value is v or (isinstance(value, str) and value == v) for v in self.values)

    def __str__(self):
        return "one of " + ", ".join(repr(v) for v in self.values)


class Interval(_Constraint):
    """A real (or integral) number in [lo, hi] with the given closed ends."""

    def __init__(self, kind, lo, hi, closed):
        self.kind, self.lo, self.hi, self.closed = kind, lo, hi, closed

    def ok(self, value):
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, self.kind):
            return False
        if isinstance(value, numbers.Real) and np.isnan(value):
            return False
        left = self.closed in ("left", "both")
        right = self.closed in ("right", "both")
        if self.lo is not None and not (value >= self.lo if left else value > self.lo):
            return False
        if self.hi is not None and not (value <= self.hi if right else value < self.hi):
            return False
        return True

    def __str__(self):
        kind = "an int" if self.kind is numbers.Integral else "a float"
        lo = "-inf" if self.lo is None else self.lo
        hi = "inf" if self.hi is None else self.hi
        left = "[" if self.closed in ("left", "both") and self.lo is not None else "("
        right = "]" if self.closed in ("right", "both") and self.hi is not None else ")"
        return f"{kind} in the range {left}{lo}, {hi}{right}"


class Boolean(_Constraint):
    def ok(self, value):
        return isinstance(value, (bool, np.bool_))

    def __str__(self):
        return "a bool"


class Verbose(_Constraint):
    def ok(self, value):
        return isinstance(value, (bool, np.bool_, numbers.Integral))

    def __str__(self):
        return "a bool or an int"


class RandomState(_Constraint):
    def ok(self, value):
        if value is None or isinstance(value, np.random.RandomState):
            return True
        return (
            isinstance(value, numbers.Integral)
            and not isinstance(value, (bool, np.bool_))
            and 0 <= value <= 2**32 - 1
        )

    def __str__(self):
        return "None, an int in [0, 2**32 - 1] or a numpy RandomState"


class LayerSizes(_Constraint):
    """An int >= 1 or a sequence of them (an empty sequence: no hidden layer)."""

    def ok(self, value):
        if Interval(numbers.Integral, 1, None, "left").ok(value):
            return True
        if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
            return False
        try:
            sizes = np.asarray(value)
        except Exception:
            return False
        return sizes.ndim == 1 and sizes.dtype.kind in "iu" or sizes.size == 0

    def __str__(self):
        return "an int >= 1 or an array-like of ints >= 1"


class DType(_Constraint):
    def ok(self, value):
        if value is None:
            return True
        try:
            return np.dtype(value).name in ("float32", "float64")
        except TypeError:
            return False

    def __str__(self):
        return "None (the dtype of X, as scikit-learn), 'float32' or 'float64'"


class ClassWeight(_Constraint):
    def ok(self, value):
        return (
            value is None
            or (isinstance(value, str) and value == "balanced")
            or (isinstance(value, dict))
        )

    def __str__(self):
        return "None, 'balanced' or a dict {class label: weight}"


class AnyOf(_Constraint):
    def __init__(self, *constraints):
        self.constraints = constraints

    def ok(self, value):
        return any(c.ok(value) for c in self.constraints)

    def __str__(self):
        return " or ".join(str(c) for c in self.constraints)


_Int, _Real = numbers.Integral, numbers.Real

# scikit-learn 1.9's parameters, in its constructor order: name -> (default, constraint).
SKLEARN = {
    "hidden_layer_sizes": ((100,), LayerSizes()),
    "activation": ("relu", Options("identity", "logistic", "tanh", "relu")),
    "solver": ("adam", Options("lbfgs", "sgd", "adam")),
    "alpha": (0.0001, Interval(_Real, 0, None, "left")),
    "batch_size": ("auto", AnyOf(Options("auto"), Interval(_Int, 1, None, "left"))),
    "learning_rate": ("constant", Options("constant", "invscaling", "adaptive")),
    "learning_rate_init": (0.001, Interval(_Real, 0, None, "neither")),
    "power_t": (0.5, Interval(_Real, 0, None, "left")),
    "max_iter": (200, Interval(_Int, 1, None, "left")),
    "shuffle": (True, Boolean()),
    "random_state": (None, RandomState()),
    "tol": (1e-4, Interval(_Real, 0, None, "left")),
    "verbose": (False, Verbose()),
    "warm_start": (False, Boolean()),
    "momentum": (0.9, Interval(_Real, 0, 1, "both")),
    "nesterovs_momentum": (True, Boolean()),
    "early_stopping": (False, Boolean()),
    "validation_fraction": (0.1, Interval(_Real, 0, 1, "left")),
    "beta_1": (0.9, Interval(_Real, 0, 1, "left")),
    "beta_2": (0.999, Interval(_Real, 0, 1, "left")),
    "epsilon": (1e-8, Interval(_Real, 0, None, "neither")),
    "n_iter_no_change": (10, AnyOf(Interval(_Int, 1, None, "left"), Options(np.inf))),
    "max_fun": (15000, Interval(_Int, 1, None, "left")),
}
REGRESSOR_ONLY = {"loss": ("squared_error", Options("squared_error", "poisson"))}

# mlpcore's own, keyword-only.
MLPCORE = {
    "batch_norm": (False, Boolean()),
    "dropout": (0.0, Interval(_Real, 0, 1, "left")),
    "dtype": (None, DType()),
    "class_weight": (None, ClassWeight()),  # classifier only
    "n_threads": (None, AnyOf(Options(None), Interval(_Int, 1, None, "left"))),
    "backend": ("native", Options("native", "numpy")),
}


def _inf_ok(value):
    # n_iter_no_change=np.inf: Options compares by identity, accept any infinite float too
    return isinstance(value, float) and np.isinf(value) and value > 0


def validate(estimator):
    """Checks every constructor parameter of `estimator` against the table."""
    cls = type(estimator).__name__
    table = {**SKLEARN, **REGRESSOR_ONLY, **MLPCORE}
    for name, value in estimator.get_params(deep=False).items():
        constraint = table[name][1]
        if name == "n_iter_no_change" and _inf_ok(value):
            continue
        if not constraint.ok(value):
            raise ValueError(
                f"The {name!r} parameter of {cls} must be {constraint}. Got {value!r} instead."
            )
    sizes = estimator.hidden_layer_sizes
    sizes = [sizes] if not hasattr(sizes, "__iter__") else list(sizes)
    if any(
        isinstance(s, (bool, np.bool_)) or not isinstance(s, numbers.Integral) or s <= 0
        for s in sizes
    ):
        raise ValueError(f"{cls}: hidden_layer_sizes must be > 0, got {sizes}.")
    return [int(s) for s in sizes]
