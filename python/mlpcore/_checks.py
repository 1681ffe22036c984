"""Input checks shared by both engines, and the argument checks the layer descriptors call.
Every public entry point converts and checks its arguments here before either engine sees
them, so a bad call raises ValueError (naming the argument, the expected and the actual
value) and leaves the model untouched."""

import math
import numbers

import numpy as np

from ._common import LOSS_USES, LOSSES, OPTIMIZER_DEFAULTS, OPTIMIZERS

DTYPES = {"float32": np.float32, "float64": np.float64}


def check_dtype(dtype):
    try:
        name = np.dtype(dtype).name
    except TypeError:
        name = None
    if name not in DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {dtype!r}")
    return np.dtype(name)


def check_choice(what, value, known, plural=None):
    """value, one of the names in known; the message lists them."""
    if not isinstance(value, str) or value not in known:
        raise ValueError(
            f"unknown {what} {value!r}; known {plural or what + 's'}: {', '.join(known)}"
        )
    return value


# Keras' loss names -> ours. Both categorical forms map to softmax_cross_entropy, which takes
# integer labels and one-hot/probability rows alike. Our mse is HALF the squared error summed
# over the outputs (mean over samples), Keras' is the mean over outputs and samples without the
# half: for K outputs, ours = Keras' * K / 2 (gradients scale the same way).
LOSS_ALIASES = {
    "categorical_crossentropy": "softmax_cross_entropy",
    "sparse_categorical_crossentropy": "softmax_cross_entropy",
    "binary_crossentropy": "binary_cross_entropy",
    "mean_squared_error": "mse",
}


def check_loss(loss, n_outputs):
    """The canonical name (_common.LOSSES) of loss, or of its Keras alias (LOSS_ALIASES),
    checked to fit a network with n_outputs outputs. There is no default loss: a model built
    without one gets a TypeError that lists the losses and what each is for (a default of
    "mse" ran a regression on class labels without a word)."""
    if loss is None:
        uses = "; ".join(f"{name!r} ({use})" for name, use in LOSS_USES.items())
        raise TypeError(
            f"Sequential needs a loss (there is no default): loss= one of {uses}. "
            f"Keras' names are accepted too: {', '.join(LOSS_ALIASES)}"
        )
    loss = LOSS_ALIASES.get(loss, loss) if isinstance(loss, str) else loss
    check_choice("loss", loss, LOSSES + tuple(LOSS_ALIASES), "losses (and Keras aliases)")
    if loss == "softmax_cross_entropy" and n_outputs < 2:
        raise ValueError(
            "softmax_cross_entropy needs at least 2 outputs, the network has "
            f"{n_outputs}; use binary_cross_entropy for one output"
        )
    return loss


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


def check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False, got {value!r}")
    return bool(value)


def check_nonnegative_int(name, value, maximum=(1 << 64) - 1):
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 0 <= value <= maximum
    ):
        raise ValueError(
            f"{name} must be a non-negative integer (at most {maximum}), got {value!r}"
        )
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


# ---- layer arguments (the descriptors in layers.py call these) ------------------------------
MAX_WIDTH = 2**31 - 1  # the BLAS takes 32-bit sizes


def check_width(layer, name, value):
    """A layer width: an integer in [1, MAX_WIDTH]."""
    if (
        isinstance(value, bool)
        or not isinstance(value, numbers.Integral)
        or not 1 <= value <= MAX_WIDTH
    ):
        raise ValueError(f"{layer}: {name} must be an integer in [1, {MAX_WIDTH}], got {value!r}")
    return int(value)


def check_layer_real(layer, name, value, low=-math.inf, high=math.inf, closed=(True, True)):
    """A finite real layer argument in the interval from low to high (closed on the sides
    marked True); the message names the layer, the argument and the interval."""
    if not _is_finite_real(value):
        raise ValueError(f"{layer}: {name} must be a finite real number, got {value!r}")
    v = float(value)
    if not ((v >= low if closed[0] else v > low) and (v <= high if closed[1] else v < high)):
        if high == math.inf:
            rule = f"be {'>=' if closed[0] else '>'} {low:g}"
        else:
            rule = f"lie in {'[' if closed[0] else '('}{low:g}, {high:g}{']' if closed[1] else ')'}"
        raise ValueError(f"{layer}: {name} must {rule}, got {value!r}")
    return v


# ---- optimizer settings: the one place they are checked ------------------------------------
OPTIMIZER_KEYS = ("name", "momentum", "nesterov", "beta1", "beta2", "eps", "alpha")  # optimizer_


_D = OPTIMIZER_DEFAULTS


def check_optimizer(
    name,
    momentum=_D["momentum"],
    nesterov=_D["nesterov"],
    betas=(_D["beta1"], _D["beta2"]),
    eps=_D["eps"],
    alpha=_D["alpha"],
):
    """The optimizer's settings as Sequential.optimizer_ records them: {"name", "momentum",
    "nesterov", "beta1", "beta2", "eps", "alpha"}. momentum belongs to sgd and rmsprop,
    nesterov to sgd, betas to adam and adamw, alpha to rmsprop."""
    check_choice("optimizer", name, OPTIMIZERS)
    if (
        isinstance(momentum, bool)
        or not isinstance(momentum, numbers.Real)
        or not 0 <= momentum < 1
    ):
        raise ValueError(f"momentum must lie in [0, 1), got {momentum!r}")
    check_bool("nesterov", nesterov)
    if nesterov and (name != "sgd" or momentum == 0):
        raise ValueError("nesterov needs optimizer='sgd' and a momentum > 0")
    if name not in ("sgd", "rmsprop") and momentum != 0:
        raise ValueError(f"momentum is an option of optimizer='sgd' or 'rmsprop', not {name!r}")
    if (
        not isinstance(betas, (tuple, list))
        or len(betas) != 2
        or not all(
            isinstance(b, numbers.Real) and not isinstance(b, bool) and 0 <= b < 1 for b in betas
        )
    ):
        raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real) or not 0 <= alpha < 1:
        raise ValueError(f"alpha (rmsprop's smoothing constant) must lie in [0, 1), got {alpha!r}")
    eps = check_positive_real("eps (adam_eps)", eps)
    return {
        "name": name,
        "momentum": float(momentum),
        "nesterov": bool(nesterov),
        "beta1": float(betas[0]),
        "beta2": float(betas[1]),
        "eps": eps,
        "alpha": float(alpha),
    }


def check_optimizer_dict(name, d):
    """An optimizer_ dict (as Sequential.optimizer_ holds it; missing keys take the
    defaults), checked by check_optimizer; None passes."""
    if d is None:
        return None
    if not isinstance(d, dict) or not set(d) <= set(OPTIMIZER_KEYS):
        raise ValueError(
            f"{name} must be a dict like optimizer_ (keys {', '.join(OPTIMIZER_KEYS)})"
            f" or None, got {d!r}"
        )
    o = {**OPTIMIZER_DEFAULTS, **d}
    return check_optimizer(
        o["name"], o["momentum"], o["nesterov"], (o["beta1"], o["beta2"]), o["eps"], o["alpha"]
    )


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


def _all_finite(arr):
    """Whether every element of a float array is finite, checked in blocks of rows of about
    64K elements: no n x d temporary (and faster than one pass over a large array)."""
    if arr.ndim == 0:
        return bool(np.isfinite(arr))
    if arr.size == 0:  # (e.g. the data of an all-zero sparse matrix)
        return True
    rows = max(1, (1 << 16) // max(1, arr[0].size))
    return all(np.isfinite(arr[i : i + rows]).all() for i in range(0, arr.shape[0], rows))


def _check_finite(name, arr):
    if arr.dtype.kind == "f" and not _all_finite(arr):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(
            f"{name} contains NaN or infinity (first at index {tuple(int(i) for i in bad)})"
        )


def engine_reads_as_is(X, n_features, dtype):
    """Whether X is an array the C++ engine reads without a copy or a conversion: a 2-D,
    non-empty, C-contiguous, aligned ndarray of the model's dtype and width. The serving
    fast paths hand such an X straight to the engine, which checks it for NaN/inf with the
    message of check_X."""
    return (
        type(X) is np.ndarray
        and X.dtype == dtype
        and X.ndim == 2
        and X.shape[0] > 0
        and X.shape[1] == n_features
        and X.flags.c_contiguous
        and X.flags.aligned
    )


def check_X(X, n_features, dtype, name="X", keep_float64=False):
    """X as a C-contiguous, aligned (n_samples, n_features) array of the model's dtype; with
    keep_float64 a float64 X for a float32 model stays float64 (no converted copy: the C++
    engine converts each batch as it gathers it), once its values are known to fit float32.
    A scipy.sparse X is checked as fit checks it (check_X_sparse), then made dense."""
    if is_sparse(X):
        data = check_X_sparse(X, n_features, dtype, name)[0]
        X = X.toarray()  # (its values are those of data: finite and in range)
        return as_engine_array(
            X,
            np.float64
            if keep_float64 and data.dtype == np.float64 and X.dtype == np.float64
            else dtype,
        )
    arr = _as_numeric(name, X)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (n_samples, n_features={n_features}), "
            f"got an array of shape {arr.shape}"
        )
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {arr.shape}, expected at least one sample")
    if arr.shape[1] != n_features:
        raise ValueError(
            f"{name} has {arr.shape[1]} features per sample, the network expects "
            f"{n_features} (shape {arr.shape})"
        )
    _check_finite(name, arr)
    if arr.dtype.kind == "f" and arr.dtype.itemsize > np.dtype(dtype).itemsize:
        _check_range(name, arr, dtype)
    if keep_float64 and arr.dtype == np.float64 and np.dtype(dtype) == np.float32:
        return as_engine_array(arr, np.float64)
    return as_engine_array(arr, dtype)


def _check_range(name, arr, dtype):
    """Every value of the finite float array arr fits dtype, checked in blocks of rows (no
    n x d temporary); the message names the first one that does not."""
    if arr.size == 0:
        return
    big = float(np.finfo(dtype).max)
    rows = max(1, (1 << 16) // max(1, arr[0].size)) if arr.ndim else 1
    for i in range(0, arr.shape[0] if arr.ndim else 1, rows):
        block = arr[i : i + rows] if arr.ndim else arr
        if block.max() > big or block.min() < -big:
            where = np.argwhere(np.abs(block) > big)[0]
            index = (i + int(where[0]),) + tuple(int(k) for k in where[1:]) if arr.ndim else ()
            raise ValueError(
                f"{name} holds {float(block[tuple(where)])!r} at index {index}: "
                f"beyond the range of {np.dtype(dtype).name}, the model's dtype"
            )


def check_targets(y, loss, n_samples, n_outputs, dtype, name="y"):
    """y as the (n_samples, n_outputs) target matrix both engines train on.

    softmax_cross_entropy: integer class labels (n_samples,) in [0, n_outputs), or rows of
        class probabilities (n_samples, n_outputs) that are >= 0 and sum to 1;
    binary_cross_entropy: values in [0, 1], (n_samples, n_outputs) or (n_samples,) for one output;
    mse: any finite values, (n_samples, n_outputs) or (n_samples,) for one output;
    poisson: values >= 0 (counts, rates), shaped as for mse;
    hinge, squared_hinge: labels, all in {-1, 1} or all in {0, 1} (the engines read 0 as -1),
        shaped as for mse.
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
            raise ValueError(
                f"{name}: class labels must lie in [0, {n_outputs - 1}] for "
                f"{n_outputs} outputs, got values in [{lo}, {hi}]"
            )
        out = np.zeros((n_samples, n_outputs), dtype=dtype)
        out[np.arange(n_samples), labels.astype(np.int64)] = 1
        return out
    if arr.ndim == 1:
        if n_outputs != 1:
            hint = ""
            if (
                (arr.dtype.kind in "iub" or np.array_equal(arr, np.round(arr)))
                and arr.min() >= 0
                and arr.max() < n_outputs
            ):
                hint = (
                    f"; if these are class labels 0..{n_outputs - 1}, use "
                    f"loss='softmax_cross_entropy' (this model's loss is {loss!r})"
                )
            raise ValueError(
                f"{name} is 1-D but the network has {n_outputs} outputs: "
                f"expected shape ({n_samples}, {n_outputs}){hint}"
            )
        arr = arr.reshape(n_samples, 1)
    if arr.shape[1] != n_outputs:
        raise ValueError(
            f"{name} has {arr.shape[1]} columns, the network has {n_outputs} "
            f"outputs (expected shape ({n_samples}, {n_outputs}))"
        )
    if arr.dtype.kind == "f" and arr.dtype.itemsize > np.dtype(dtype).itemsize:
        _check_range(name, arr, dtype)  # before the cast, which would make inf of it
    out = as_engine_array(arr, dtype)
    if loss in ("softmax_cross_entropy", "binary_cross_entropy"):
        if out.min() < 0 or out.max() > 1:
            raise ValueError(
                f"{name}: targets of {loss} must lie in [0, 1], got values in "
                f"[{out.min()}, {out.max()}]"
            )
    if loss in ("hinge", "squared_hinge"):
        values = set(np.unique(out).tolist())
        if not (values <= {-1.0, 1.0} or values <= {0.0, 1.0}):
            shown = ", ".join(f"{v:g}" for v in sorted(values)[:6])
            raise ValueError(
                f"{name}: targets of {loss} must be labels, all in {{-1, 1}} or all "
                f"in {{0, 1}}, got the values {shown}"
                f"{', ...' if len(values) > 6 else ''}"
            )
    if loss == "poisson" and out.min() < 0:
        raise ValueError(
            f"{name}: targets of the poisson loss must be >= 0, got values down to {out.min()}"
        )
    if loss == "softmax_cross_entropy":
        sums = out.sum(axis=1, dtype=np.float64)
        worst = int(np.argmax(np.abs(sums - 1)))
        if abs(sums[worst] - 1) > 1e-5:
            raise ValueError(
                f"{name}: probability rows must sum to 1, row {worst} sums to {sums[worst]}"
            )
    return out


def check_array_list(name, arrays, shapes, dtype):
    """A list of arrays with exactly the given shapes, finite, converted to dtype."""
    if isinstance(arrays, np.ndarray) or not hasattr(arrays, "__len__"):
        raise ValueError(
            f"{name} must be a list of {len(shapes)} arrays, got {type(arrays).__name__}"
        )
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


def check_sample_weight(sample_weight, n_samples, dtype, name="sample_weight", relative=False):
    """None, or the weights as a (n_samples,) array of dtype, every one finite and > 0
    (zero weights: drop those rows instead). relative: divided by the largest first (in
    float64), for uses that only depend on their ratios (a weighted mean): tiny weights
    (subnormal, or below float32's range) then weigh what their ratios say instead of
    underflowing in the products."""
    if sample_weight is None:
        return None
    w = _as_numeric(name, sample_weight)
    if w.ndim != 1 or w.shape[0] != n_samples:
        raise ValueError(
            f"{name} must have shape ({n_samples},) (one weight per sample), got shape {w.shape}"
        )
    _check_finite(name, w)
    if relative and w.size and w.dtype.kind in "biuf":
        w64 = np.asarray(w, dtype=np.float64)
        top = w64.max()
        if top > 0 and np.all(w64 > 0):
            w = w64 / top
    out = np.ascontiguousarray(w, dtype=dtype)
    bad = np.flatnonzero(~(out > 0))
    if bad.size:
        raise ValueError(
            f"{name} must be > 0 (drop the samples of weight 0 instead), got "
            f"{w[bad[0]]!r} at index {int(bad[0])}"
        )
    if not np.isfinite(out.sum(dtype=np.float64)):
        raise ValueError(f"{name} sums to infinity")
    return out


def is_dask(obj):
    """Whether obj is a Dask collection (array, DataFrame, Series); dask is not imported."""
    mod = type(obj).__module__.split(".")[0]
    return mod in ("dask", "dask_expr") and hasattr(obj, "__dask_graph__")


def any_dask(*objs):
    return any(o is not None and is_dask(o) for o in objs)


def dask_to_local(a):
    """A (small) Dask collection computed to NumPy on the client (validation data); any
    other value as it is."""
    if not is_dask(a):
        return a
    out = a.compute()
    return out.to_numpy() if hasattr(out, "to_numpy") else np.asarray(out)


def is_sparse(X):
    """True for a scipy.sparse matrix or array (duck-typed: scipy is not imported)."""
    return hasattr(X, "tocsr") and hasattr(X, "nnz") and hasattr(X, "shape")


def check_X_sparse(X, n_features, dtype, name="X"):
    """A scipy.sparse X as the CSR triple the engines take: (data (nnz,) of dtype, indices
    (nnz,) int64, indptr (n + 1,) int64), finite, with canonical (summed) duplicates."""
    if len(X.shape) != 2:
        raise ValueError(f"{name} must be 2-D, got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} is empty: shape {X.shape}, expected at least one sample")
    if X.shape[1] != n_features:
        raise ValueError(
            f"{name} has {X.shape[1]} features per sample, the network expects "
            f"{n_features} (shape {X.shape})"
        )
    csr = X.tocsr()
    if csr.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold real numbers, got dtype {csr.dtype}")
    if not csr.has_canonical_format:
        csr = csr.copy()
        csr.sum_duplicates()
    _check_finite(name, csr.data)
    if csr.dtype.kind == "f" and csr.dtype.itemsize > np.dtype(dtype).itemsize:
        _check_range(name, csr.data, dtype)  # before the cast, which would make inf of it
    data = np.ascontiguousarray(csr.data, dtype=dtype)
    return (
        data,
        np.ascontiguousarray(csr.indices, dtype=np.int64),
        np.ascontiguousarray(csr.indptr, dtype=np.int64),
    )
