"""Input checks shared by both engines. Every public entry point converts and checks its
arguments here before either engine sees them, so a bad call raises ValueError (naming
the argument, the expected and the actual value) and leaves the model untouched."""
import math
import numbers

import numpy as np

DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(name)


def check_seed(seed):
    if seed is None:
        return int(np.random.SeedSequence().entropy % (1 << 63))
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= seed < 1 << 64:
        raise ValueError(f"seed must be None or an integer in [0, 2**64), got {seed!r}")
    return int(seed)


def check_positive_int(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


def check_nonnegative_int(name, value, maximum=(1 << 64) - 1):
    if (isinstance(value, bool) or not isinstance(value, numbers.Integral)
            or not 0 <= value <= maximum):
        raise ValueError(f"{name} must be a non-negative integer (at most {maximum}), "
                         f"got {value!r}")
    return int(value)


def _is_finite_real(value):
    """A real number (not bool) that is finite as a float; ints beyond float's range are not."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def check_positive_real(name, value):
    if not _is_finite_real(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def check_nonnegative_real(name, value):
    if not _is_finite_real(value) or value < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def check_optimizer(name, momentum, nesterov, betas, eps):
    """The optimizer's settings (all but lr and weight_decay) as a dict."""
    if name not in ("sgd", "adam"):
        raise ValueError(f"unknown optimizer {name!r}; known optimizers: sgd, adam")
    if (isinstance(momentum, bool) or not isinstance(momentum, numbers.Real)
            or not 0 <= momentum < 1):
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    if not isinstance(nesterov, (bool, np.bool_)):
        raise ValueError(f"nesterov must be True or False, got {nesterov!r}")
    if nesterov and (name != "sgd" or momentum == 0):
        raise ValueError("nesterov needs optimizer='sgd' and a momentum > 0")
    if name != "sgd" and momentum != 0:
        raise ValueError(f"momentum is an option of optimizer='sgd', not {name!r}")
    if (not isinstance(betas, (tuple, list)) or len(betas) != 2
            or not all(isinstance(b, numbers.Real) and not isinstance(b, bool) and 0 <= b < 1
                       for b in betas)):
        raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
    eps = check_positive_real("adam_eps", eps)
    return {"name": name, "momentum": float(momentum), "nesterov": bool(nesterov),
            "beta1": float(betas[0]), "beta2": float(betas[1]), "eps": eps}


def _as_numeric(name, a):
    try:
        arr = np.asarray(a)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{name} must be array-like of numbers: {exc}") from None
    if arr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    return arr


def as_engine_array(arr, dtype):
    """arr in dtype (native byte order), C-contiguous and aligned: the only form an engine
    may see (a misaligned view, e.g. np.frombuffer(buf, offset=1), is undefined behaviour in
    C++). Arrays that already qualify are returned as they are, without a copy."""
    return np.require(arr, dtype=dtype, requirements=["C", "A"])


def _check_finite(name, arr):
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} contains NaN or infinity (first at index {tuple(int(i) for i in bad)})")


def check_X(X, n_features, dtype, name="X"):
    """X as a C-contiguous (n_samples, n_features) array of the model's dtype."""
    arr = _as_numeric(name, X)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (n_samples, n_features={n_features}), "
                         f"got an array of shape {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}, expected at least one sample")
    if arr.shape[1] != n_features:
        raise ValueError(f"{name} has {arr.shape[1]} features per sample, the network expects "
                         f"{n_features} (shape {arr.shape})")
    _check_finite(name, arr)
    out = as_engine_array(arr, dtype)
    _check_finite(name, out)  # float64 values beyond float32's range overflow here
    return out


def check_targets(y, loss, n_samples, n_outputs, dtype, name="y"):
    """y as the (n_samples, n_outputs) target matrix both engines train on.

    softmax_cross_entropy: integer class labels (n_samples,) in [0, n_outputs), or rows of
        class probabilities (n_samples, n_outputs) that are >= 0 and sum to 1;
    binary_cross_entropy: values in [0, 1], (n_samples, n_outputs) or (n_samples,) for one output;
    mse: any finite values, (n_samples, n_outputs) or (n_samples,) for one output.
    """
    arr = _as_numeric(name, y)
    if arr.ndim == 0 or arr.ndim > 2:
        raise ValueError(f"{name} must be 1-D or 2-D, got an array of shape {arr.shape}")
    if arr.shape[0] != n_samples:
        raise ValueError(f"{name} has {arr.shape[0]} samples but X has {n_samples}")
    _check_finite(name, arr)
    if loss == "softmax_cross_entropy" and arr.ndim == 1:
        labels = arr
        if labels.dtype.kind == "f" and not np.array_equal(labels, np.round(labels)):
            raise ValueError(f"{name}: class labels must be integers, got non-integer values")
        lo, hi = labels.min(), labels.max()
        if lo < 0 or hi >= n_outputs:
            raise ValueError(f"{name}: class labels must lie in [0, {n_outputs - 1}] for "
                             f"{n_outputs} outputs, got values in [{lo}, {hi}]")
        out = np.zeros((n_samples, n_outputs), dtype=dtype)
        out[np.arange(n_samples), labels.astype(np.int64)] = 1
        return out
    if arr.ndim == 1:
        if n_outputs != 1:
            raise ValueError(f"{name} is 1-D but the network has {n_outputs} outputs: "
                             f"expected shape ({n_samples}, {n_outputs})")
        arr = arr.reshape(n_samples, 1)
    if arr.shape[1] != n_outputs:
        raise ValueError(f"{name} has {arr.shape[1]} columns, the network has {n_outputs} "
                         f"outputs (expected shape ({n_samples}, {n_outputs}))")
    out = as_engine_array(arr, dtype)
    _check_finite(name, out)
    if loss in ("softmax_cross_entropy", "binary_cross_entropy"):
        if out.min() < 0 or out.max() > 1:
            raise ValueError(f"{name}: targets of {loss} must lie in [0, 1], got values in "
                             f"[{out.min()}, {out.max()}]")
    if loss == "softmax_cross_entropy":
        sums = out.sum(axis=1, dtype=np.float64)
        worst = int(np.argmax(np.abs(sums - 1)))
        if abs(sums[worst] - 1) > 1e-5:
            raise ValueError(f"{name}: probability rows must sum to 1, row {worst} sums to "
                             f"{sums[worst]}")
    return out


def check_array_list(name, arrays, shapes, dtype):
    """A list of arrays with exactly the given shapes, finite, converted to dtype."""
    if isinstance(arrays, np.ndarray) or not hasattr(arrays, "__len__"):
        raise ValueError(f"{name} must be a list of {len(shapes)} arrays, got {type(arrays).__name__}")
    if len(arrays) != len(shapes):
        raise ValueError(f"{name} must hold {len(shapes)} arrays, got {len(arrays)}")
    out = []
    for i, (a, shape) in enumerate(zip(arrays, shapes)):
        arr = _as_numeric(f"{name}[{i}]", a)
        if arr.shape != shape:
            raise ValueError(f"{name}[{i}] must have shape {shape}, got {arr.shape}")
        arr = as_engine_array(arr, dtype)
        _check_finite(f"{name}[{i}]", arr)
        out.append(arr)
    return out
