"""Bad input on both engines: every bad call raises ValueError naming the problem and leaves
the model exactly as it was; convertible input (views, Fortran order, other dtypes, lists)
is converted and gives the same result as the clean array."""

import warnings

import numpy as np
import pytest

from mlpcore import BatchNorm, Dense, Dropout, ReLU, Sequential, Tanh
from mlpcore._engine import EpochOptions
from mlpcore.reference import losses as ref_losses
from mlpcore.reference.train import batch_bounds

from conftest import assert_all_equal, assert_unchanged, make, snapshot, targets

N_IN, N_OUT = 3, 3


def trained(backend, loss="softmax_cross_entropy", dtype="float64", seed=7):
    """A BatchNorm + Dropout model after one epoch, so that weights, running statistics,
    epoch_ and step_ all differ from their initial values."""
    model = make(
        [Dense(N_IN, 5), BatchNorm(5), ReLU(), Dropout(0.2), Dense(5, N_OUT)],
        backend,
        loss=loss,
        dtype=dtype,
        seed=seed,
    )
    rng = np.random.default_rng(seed)
    model.fit(rng.normal(size=(10, N_IN)), targets(loss, 10, N_OUT, rng), epochs=1, batch_size=4)
    assert (model.epoch_, model.step_) == (1, 3)
    return model


def call(model, method, X, y=None):
    """Runs one public method; y is only passed to the methods that take it."""
    if method == "predict":
        return model.predict(X)
    if y is None:
        y = np.zeros(np.shape(X)[0] if np.ndim(X) else 1, dtype=int)
    if method == "fit":
        return model.fit(X, y, epochs=1, batch_size=4)
    return getattr(model, method)(X, y)


METHODS = ["fit", "predict", "loss", "gradients"]
Y_METHODS = ["fit", "loss", "gradients"]


def with_nan(shape, where, value=np.nan):
    a = np.random.default_rng(0).normal(size=shape)
    a[where] = value
    return a


# ---- X -------------------------------------------------------------------------------------
BAD_X = {
    "wrong-width": (np.zeros((4, 2)), "2 features per sample, the network expects 3"),
    "too-wide": (np.zeros((4, 7)), "7 features per sample"),
    "1-D": (np.zeros(3), "2-D"),
    "3-D": (np.zeros((2, 2, 3)), "2-D"),
    "empty": (np.zeros((0, 3)), "empty"),
    "nan": (with_nan((4, 3), (2, 1)), r"NaN or infinity \(first at index \(2, 1\)\)"),
    "inf": (with_nan((4, 3), (0, 2), np.inf), "NaN or infinity"),
    "-inf": (with_nan((4, 3), (3, 0), -np.inf), "NaN or infinity"),
    "strings": (np.array([["a", "b", "c"]]), "real numbers"),
    "complex": (np.ones((2, 3), dtype=complex), "real numbers"),
    "ragged": ([[1.0, 2.0, 3.0], [1.0]], "X must be array-like"),
    "none": (None, "X must hold real numbers"),
}


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("case", list(BAD_X))
def test_bad_X(case, method, backend):
    X, match = BAD_X[case]
    model = trained(backend)
    snap = snapshot(model)
    y = np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match=match):
        call(model, method, X, y)
    assert_unchanged(model, snap)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_predict_finds_one_non_finite_value_at_any_position(dtype, native):
    # predict's fast path scans X in the engine, in vectors of 4-16 elements and a tail:
    # NaN, inf and -inf at every position of a 31 x 3 array (93 = no multiple of a vector)
    model = trained(native, dtype=dtype)
    clean = np.random.default_rng(1).normal(size=(31, N_IN)).astype(dtype)
    model.predict(clean)
    for value in (np.nan, np.inf, -np.inf):
        for r, c in np.ndindex(clean.shape):
            X = clean.copy()
            X[r, c] = value
            with pytest.raises(
                ValueError, match=rf"NaN or infinity \(first at index \({r}, {c}\)\)"
            ):
                model.predict(X)
    X = clean.copy()
    X[[4, 29], [2, 1]] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(4, 2\)"):
        model.predict(X)
    # the engine scans X block by block (256 rows) as predict reads it: a value in a later
    # block, and two in different blocks
    big = np.random.default_rng(2).normal(size=(700, N_IN)).astype(dtype)
    for r, c in [(255, 2), (256, 0), (511, 1), (699, 2)]:
        X = big.copy()
        X[r, c] = np.inf
        with pytest.raises(ValueError, match=rf"first at index \({r}, {c}\)"):
            model.predict(X)
    X = big.copy()
    X[[600, 300], [0, 1]] = np.nan
    with pytest.raises(ValueError, match=r"first at index \(300, 1\)"):
        model.predict(X)
    # the largest finite values and the subnormals pass the check (the outputs may overflow)
    info = np.finfo(dtype)
    X = clean.copy()
    X[[0, 0, 0, 30], [0, 1, 2, 2]] = [
        info.max,
        -info.max,
        info.smallest_subnormal,
        -info.smallest_subnormal,
    ]
    assert model.predict(X).shape == (31, N_OUT)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_float64_beyond_float32_range_is_rejected(backend):
    model = trained(backend, dtype="float32")
    snap = snapshot(model)
    X = np.ones((4, 3))
    X[1, 1] = 1e300
    for method in METHODS:
        with pytest.raises(
            ValueError,
            match=r"X holds 1e\+300 at index \(1, 1\): beyond the "
            "range of float32",
        ):
            call(model, method, X)
    assert_unchanged(model, snap)


def test_float64_targets_beyond_float32_range_are_rejected_by_name(backend):
    """A target that does not fit the model's float32 is named by its value, like X's (it
    used to become inf in the cast and be reported as 'NaN or infinity', with a warning)."""
    model = Sequential([Dense(3, 1)], loss="mse", dtype="float32", backend=backend)
    snap = snapshot(model)
    y = np.ones((4, 1))
    y[2, 0] = -1e300
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning from a cast either
        with pytest.raises(
            ValueError,
            match=r"y holds -1e\+300 at index \(2, 0\): beyond "
            "the range of float32",
        ):
            model.fit(np.ones((4, 3)), y, epochs=1)
    assert_unchanged(model, snap)


# ---- y -------------------------------------------------------------------------------------
BAD_Y = {
    # (loss, y for 4 samples, expected message)
    "too-short": ("softmax_cross_entropy", np.zeros(3, dtype=int), "3 samples but X has 4"),
    "too-long": ("mse", np.zeros((5, 3)), "5 samples but X has 4"),
    "columns": ("mse", np.zeros((4, 2)), "2 columns, the network has 3 outputs"),
    "columns-bce": ("binary_cross_entropy", np.zeros((4, 4)), "4 columns"),
    "1-D-multi-output": ("mse", np.zeros(4), "1-D but the network has 3 outputs"),
    "3-D": ("mse", np.zeros((4, 3, 1)), "1-D or 2-D"),
    "scalar": ("mse", np.float64(1.0), "1-D or 2-D"),
    "nan": ("mse", with_nan((4, 3), (1, 2)), "y contains NaN"),
    "inf-labels": ("softmax_cross_entropy", np.array([0, 1, np.inf, 2]), "NaN or infinity"),
    "negative-label": (
        "softmax_cross_entropy",
        np.array([0, 1, -1, 2]),
        r"class labels must lie in \[0, 2\] for 3 outputs, got values in \[-1, 2\]",
    ),
    "label-too-big": (
        "softmax_cross_entropy",
        np.array([0, 3, 1, 2]),
        r"class labels must lie in \[0, 2\]",
    ),
    "non-integer-label": (
        "softmax_cross_entropy",
        np.array([0, 1.5, 1, 2]),
        "class labels must be integers",
    ),
    "rows-not-summing-to-1": (
        "softmax_cross_entropy",
        np.array([[1, 0, 0], [0.5, 0.4, 0], [0, 0, 1], [0, 1, 0]]),
        "row 1 sums to 0.9",
    ),
    "negative-probability": (
        "softmax_cross_entropy",
        np.array([[1.5, -0.5, 0], [1, 0, 0], [0, 0, 1], [0, 1, 0]]),
        r"must lie in \[0, 1\]",
    ),
    "bce-above-1": (
        "binary_cross_entropy",
        np.full((4, 3), 0.5) + np.eye(4, 3),
        r"targets of binary_cross_entropy must lie in \[0, 1\]",
    ),
    "bce-negative": ("binary_cross_entropy", -np.eye(4, 3), r"must lie in \[0, 1\]"),
    "strings": ("mse", np.array(["a", "b", "c", "d"]), "real numbers"),
}


@pytest.mark.parametrize("method", Y_METHODS)
@pytest.mark.parametrize("case", list(BAD_Y))
def test_bad_y(case, method, backend):
    loss, y, match = BAD_Y[case]
    model = trained(backend, loss=loss)
    snap = snapshot(model)
    X = np.random.default_rng(1).normal(size=(4, N_IN))
    with pytest.raises(ValueError, match=match):
        call(model, method, X, y)
    assert_unchanged(model, snap)


# ---- weights and state ---------------------------------------------------------------------
def test_bad_set_weights(backend):
    model = trained(backend)
    snap = snapshot(model)
    good = model.get_weights()  # [W1 (3,5), b1, gamma, beta, W2 (5,3), b2]
    bad_cases = [
        (good[:-1], "weights must hold 6 arrays, got 5"),
        (good + [good[-1]], "weights must hold 6 arrays, got 7"),
        ([], "must hold 6 arrays, got 0"),
        ([good[0].T] + good[1:], r"weights\[0\] must have shape \(3, 5\), got \(5, 3\)"),
        (good[:4] + [good[4].ravel()] + good[5:], r"weights\[4\] must have shape \(5, 3\)"),
        (good[:1] + [good[1][:, None]] + good[2:], r"weights\[1\] must have shape \(5,\)"),
        (good[:2] + [np.full(5, np.nan)] + good[3:], r"weights\[2\] contains NaN"),
        (good[:5] + [np.array(["a", "b", "c"])], r"weights\[5\] must hold real numbers"),
        (np.concatenate([w.ravel() for w in good]), "list of 6 arrays"),
        (None, "list of 6 arrays"),
    ]
    for weights, match in bad_cases:
        with pytest.raises(ValueError, match=match):
            model.set_weights(weights)
        assert_unchanged(model, snap)


@pytest.mark.filterwarnings("ignore:overflow encountered in cast:RuntimeWarning")
def test_weights_beyond_float32_range_are_rejected(backend):
    model = trained(backend, dtype="float32")
    snap = snapshot(model)
    weights = [w.astype(np.float64) for w in model.get_weights()]
    weights[0][0, 0] = 1e40
    with pytest.raises(ValueError, match=r"weights\[0\] contains NaN or infinity"):
        model.set_weights(weights)
    assert_unchanged(model, snap)


def test_bad_set_state(backend):
    model = trained(backend)
    snap = snapshot(model)
    mean, var = model.get_state()
    bad_cases = [
        ([mean], "state must hold 2 arrays, got 1"),
        ([mean, var, var], "must hold 2 arrays, got 3"),
        ([mean, var[:4]], r"state\[1\] must have shape \(5,\)"),
        ([mean, -var], r"state\[1\] is a running variance and must be >= 0"),
        ([np.full(5, np.inf), var], r"state\[0\] contains NaN"),
    ]
    for state, match in bad_cases:
        with pytest.raises(ValueError, match=match):
            model.set_state(state)
        assert_unchanged(model, snap)


def test_returned_and_given_arrays_are_copies(backend, rng):
    model = trained(backend)
    snap = snapshot(model)
    for w in model.get_weights() + model.get_state():
        w[...] = 123.0
    assert_unchanged(model, snap)
    new = [rng.normal(size=w.shape) for w in snap["weights"]]
    given = [w.copy() for w in new]
    model.set_weights(given)
    for w in given:
        w[...] = -1.0
    assert_all_equal(model.get_weights(), new, "weights after the caller's arrays changed")


def test_state_only_for_batchnorm(backend):
    model = make([Dense(2, 3), Tanh(), Dense(3, 1)], backend, seed=0)
    assert model.get_state() == []
    model.set_state([])
    with pytest.raises(ValueError, match="state must hold 0 arrays, got 2"):
        model.set_state([np.zeros(3), np.ones(3)])


# ---- construction --------------------------------------------------------------------------
def test_unknown_loss_lists_known_ones(backend):
    with pytest.raises(ValueError, match="unknown loss 'cross_entropy'") as info:
        make([Dense(2, 2)], backend, loss="cross_entropy")
    for name in ref_losses.NAMES:
        assert name in str(info.value)
    assert set(ref_losses.NAMES) == {
        "softmax_cross_entropy",
        "binary_cross_entropy",
        "mse",
        "poisson",
        "hinge",
        "squared_hinge",
    }


def test_unknown_backend():
    with pytest.raises(ValueError, match="unknown backend 'cuda'.*native.*numpy"):
        Sequential([Dense(2, 2)], loss="mse", backend="cuda")


@pytest.mark.parametrize("dtype", ["float16", "int32", np.int64, "complex128", "double-ish", 3])
def test_bad_dtype(dtype, backend):
    with pytest.raises(ValueError, match="dtype must be 'float32' or 'float64'"):
        make([Dense(2, 2)], backend, dtype=dtype)


@pytest.mark.parametrize(
    "dtype,expected",
    [
        ("float32", np.float32),
        (np.float64, np.float64),
        ("f4", np.float32),
        (np.dtype("float64"), np.float64),
    ],
)
def test_dtype_spellings(dtype, expected, backend):
    model = make([Dense(2, 2)], backend, dtype=dtype, seed=0)
    assert model.get_weights()[0].dtype == expected
    assert model.predict(np.ones((1, 2))).dtype == expected


@pytest.mark.parametrize("seed", [-1, 1.5, "7", True, 2**64])
def test_bad_seed(seed, backend):
    with pytest.raises(ValueError, match="seed must be None or an integer"):
        make([Dense(2, 2)], backend, seed=seed)


@pytest.mark.parametrize(
    "layers,match",
    [
        ([], "must not be empty"),
        (Dense(2, 2), "must be a list"),
        ([Dense(2, 2), "relu"], r"layers\[1\] must be an mlpcore layer"),
        (
            [Dense(2, 3), Dense(2, 1)],
            r"layers\[1\] \(Dense\(2, 1\)\) expects 2 inputs but the layer before it produces 3",
        ),
        ([Dense(2, 3), ReLU(), BatchNorm(4)], r"layers\[2\].*expects 4 inputs.*produces 3"),
        ([BatchNorm(3), Dense(4, 1)], "expects 4 inputs"),
        ([ReLU(), Dropout(0.5)], "at least one Dense or BatchNorm"),
    ],
)
def test_bad_layer_lists(layers, match, backend):
    with pytest.raises(ValueError, match=match):
        make(layers, backend, seed=0)


def test_softmax_needs_two_outputs(backend):
    with pytest.raises(ValueError, match="softmax_cross_entropy needs at least 2 outputs"):
        make([Dense(3, 1)], backend, loss="softmax_cross_entropy")


@pytest.mark.parametrize(
    "make_layer,match",
    [
        (lambda: Dense(0, 3), r"n_in must be an integer in \[1, "),
        (lambda: Dense(2**31, 3), r"n_in must be an integer in \[1, 2147483647\]"),
        (lambda: Dense(2, -1), r"n_out must be an integer in \[1, "),
        (lambda: Dense(2.5, 3), "n_in"),
        (lambda: Dense(True, 3), "n_in"),
        (lambda: Dropout(-0.1), r"p must lie in \[0, 1\)"),
        (lambda: Dropout(1.0), r"p must lie in \[0, 1\)"),
        (lambda: Dropout(1.5), r"p must lie in \[0, 1\)"),
        (lambda: Dropout(float("nan")), "p must be a finite real number"),
        (lambda: Dropout("0.5"), "p must be a finite real number"),
        (lambda: BatchNorm(0), "n_features"),
        (lambda: BatchNorm(4, momentum=-0.1), r"momentum must lie in \[0, 1\]"),
        (lambda: BatchNorm(4, momentum=1.1), r"momentum must lie in \[0, 1\]"),
        (lambda: BatchNorm(4, momentum=float("inf")), "momentum must be a finite"),
        (lambda: BatchNorm(4, eps=0), "eps must be > 0"),
        (lambda: BatchNorm(4, eps=-1e-5), "eps must be > 0"),
        (lambda: BatchNorm(4, eps=float("nan")), "eps must be a finite"),
    ],
)
def test_bad_layer_arguments(make_layer, match):
    with pytest.raises(ValueError, match=match):
        make_layer()


@pytest.mark.parametrize(
    "layer",
    [
        lambda: Dropout(0.0),
        lambda: BatchNorm(3, momentum=0.0),
        lambda: BatchNorm(3, momentum=1.0, eps=1e-12),
    ],
)
def test_edge_layer_arguments_are_accepted(layer, backend, rng):
    model = make([Dense(2, 3), layer(), Dense(3, 1)], backend, seed=0)
    X, y = rng.normal(size=(8, 2)), rng.normal(size=8)
    model.fit(X, y, epochs=2, batch_size=4, lr=0.1)
    assert all(np.isfinite(w).all() for w in model.get_weights() + model.get_state())


# ---- fit / predict arguments ---------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"epochs": -1}, "epochs must be a non-negative integer"),
        ({"epochs": 1.5}, "epochs"),
        ({"epochs": True}, "epochs"),
        ({"epochs": "2"}, "epochs"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"batch_size": -3}, "batch_size"),
        ({"batch_size": 2.0}, "batch_size"),
        ({"batch_size": None}, "batch_size"),
        ({"lr": 0}, "lr must be a finite number > 0"),
        ({"lr": -0.1}, "lr"),
        ({"lr": float("nan")}, "lr"),
        ({"lr": float("inf")}, "lr"),
        ({"lr": "0.1"}, "lr"),
    ],
)
def test_bad_fit_arguments(kwargs, match, backend, rng):
    model = trained(backend)
    snap = snapshot(model)
    X, y = rng.normal(size=(8, N_IN)), rng.integers(0, N_OUT, 8)
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, **{"epochs": 1, "batch_size": 4, "lr": 0.1, **kwargs})
    assert_unchanged(model, snap)


def test_zero_epochs_change_nothing(backend, rng):
    model = trained(backend)
    snap = snapshot(model)
    assert model.fit(rng.normal(size=(8, N_IN)), rng.integers(0, N_OUT, 8), epochs=0) == []
    assert_unchanged(model, snap)


@pytest.mark.parametrize("step", [-1, 1.5, "3"])
@pytest.mark.parametrize("method", METHODS[1:])
def test_bad_step(step, method, backend, rng):
    model = trained(backend)
    snap = snapshot(model)
    X, y = rng.normal(size=(4, N_IN)), rng.integers(0, N_OUT, 4)
    args = (X,) if method == "predict" else (X, y)
    with pytest.raises(ValueError, match="step must be a non-negative integer"):
        getattr(model, method)(*args, training=True, step=step)
    assert_unchanged(model, snap)


# ---- conversions ---------------------------------------------------------------------------
def converted_variants(X):
    """(name, variant, the clean array it must behave like)."""
    wide = np.ascontiguousarray(np.hstack([X, X])[:, ::-1])  # a strided view below
    return [
        ("reversed-view", X[:, ::-1], np.ascontiguousarray(X[:, ::-1])),
        ("strided-view", wide[:, ::2], np.ascontiguousarray(wide[:, ::2])),
        ("row-view", np.repeat(X, 2, axis=0)[::2], X),
        ("fortran", np.asfortranarray(X), X),
        ("list", X.tolist(), X),
        ("int", np.round(X * 3).astype(np.int32), np.round(X * 3)),
        ("float32", X.astype(np.float32), X.astype(np.float32).astype(np.float64)),
    ]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_converted_X_gives_the_same_results(dtype, backend, rng):
    model = trained(backend, loss="mse", dtype=dtype)
    X = rng.normal(size=(6, N_IN))
    y = rng.normal(size=(6, N_OUT))
    for name, variant, clean in converted_variants(X):
        clean = clean.astype(dtype)
        assert_all_equal([model.predict(variant)], [model.predict(clean)], f"predict({name})")
        assert model.loss(variant, y) == model.loss(clean, y), name
        assert_all_equal(
            model.gradients(variant, y, training=True),
            model.gradients(clean, y, training=True),
            f"gradients({name})",
        )


def test_converted_inputs_fit_the_same(backend, rng):
    X = rng.normal(size=(10, N_IN))
    labels = rng.integers(0, N_OUT, 10)
    clean = trained(backend)
    clean.fit(X, labels, epochs=2, batch_size=3)
    expected = clean.get_weights() + clean.get_state()
    variants = [
        (np.asfortranarray(X), labels.astype(np.float64)),  # labels as integral floats
        (X.tolist(), labels.tolist()),
        (np.hstack([X, X])[:, :N_IN], labels.astype(np.uint8)),
        (X, np.eye(N_OUT)[labels]),  # one-hot rows = the labels
        (X, np.asfortranarray(np.eye(N_OUT)[labels].astype(np.float32))),
    ]
    for i, (Xv, yv) in enumerate(variants):
        model = trained(backend)
        model.fit(Xv, yv, epochs=2, batch_size=3)
        assert_all_equal(model.get_weights() + model.get_state(), expected, f"variant {i}")


def test_targets_are_converted(backend, rng):
    X = rng.normal(size=(5, N_IN))
    model = trained(backend, loss="binary_cross_entropy")
    y = rng.integers(0, 2, size=(5, N_OUT))
    expected = model.loss(X, y.astype(np.float64))
    assert model.loss(X, y.astype(bool)) == expected
    assert model.loss(X, y.tolist()) == expected
    assert model.loss(X, np.asfortranarray(y)) == expected
    one = make([Dense(N_IN, 1)], backend, loss="binary_cross_entropy", seed=0)
    y1 = rng.integers(0, 2, 5)
    assert one.loss(X, y1) == one.loss(X, y1[:, None].astype(float))  # (n,) = (n, 1)


# ---- batch norm with one sample ------------------------------------------------------------
def test_batchnorm_training_call_with_one_sample(backend, rng):
    model = trained(backend)
    snap = snapshot(model)
    X, y = rng.normal(size=(1, N_IN)), np.array([1])
    for method in METHODS[1:]:
        args = (X,) if method == "predict" else (X, y)
        with pytest.raises(ValueError, match="at least 2 samples"):
            getattr(model, method)(*args, training=True)
        getattr(model, method)(*args, training=False)  # evaluation mode is fine
    with pytest.raises(ValueError, match="at least 2 samples"):
        model.fit(X, y)
    assert_unchanged(model, snap)


def test_batch_bounds():
    assert batch_bounds(10, 4, False) == [(0, 4), (4, 8), (8, 10)]
    assert batch_bounds(9, 4, False) == [(0, 4), (4, 8), (8, 9)]
    assert batch_bounds(9, 4, True) == [(0, 4), (4, 9)]  # the trailing sample joins
    assert batch_bounds(5, 100, True) == [(0, 5)]
    assert batch_bounds(2, 1, True) == [(0, 2)]
    for n in range(1, 30):
        for b in range(1, 12):
            for fold in (False, True):
                bounds = batch_bounds(n, b, fold)
                starts = [s for s, _ in bounds]
                ends = [e for _, e in bounds]
                assert starts[0] == 0 and ends[-1] == n and starts[1:] == ends[:-1]
                sizes = [e - s for s, e in bounds]
                assert all(size == b for size in sizes[:-1]) and 1 <= sizes[-1]
                if fold and b > 1 and n > 1:
                    assert sizes[-1] > 1


@pytest.mark.parametrize("n,batch_size,steps", [(9, 4, 2), (13, 4, 3), (10, 3, 3), (2, 5, 1)])
def test_fit_folds_a_trailing_single_sample(n, batch_size, steps, backend, rng):
    model = make([Dense(N_IN, 4), BatchNorm(4), Tanh(), Dense(4, 1)], backend, seed=3)
    X, y = rng.normal(size=(n, N_IN)), rng.normal(size=n)
    history = model.fit(X, y, epochs=2, batch_size=batch_size, lr=0.1)
    assert model.step_ == 2 * steps == 2 * len(batch_bounds(n, batch_size, True))
    assert np.isfinite(history).all()
    # without batch norm the single sample is a batch of its own
    plain = make([Dense(N_IN, 4), Tanh(), Dense(4, 1)], backend, seed=3)
    plain.fit(X, y, epochs=1, batch_size=batch_size)
    assert plain.step_ == len(batch_bounds(n, batch_size, False))


def test_fit_with_batch_size_one_and_batchnorm(backend, rng):
    # every batch would hold one sample, which has no batch variance: refused, model intact
    model = trained(backend)
    snap = snapshot(model)
    with pytest.raises(ValueError, match="BatchNorm"):
        model.fit(rng.normal(size=(6, N_IN)), rng.integers(0, N_OUT, 6), batch_size=1)
    assert_unchanged(model, snap)


# ---- divergence ----------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_raises_and_restores(backend, dtype, rng):
    model = make([Dense(4, 8), Tanh(), Dense(8, 2)], backend, loss="mse", dtype=dtype, seed=5)
    X, y = rng.normal(0, 10, size=(32, 4)), rng.normal(size=(32, 2))
    before = None
    with pytest.raises(FloatingPointError, match="diverged"):
        for _ in range(200):  # one epoch per call: remember the weights before each
            before = snapshot(model)
            model.fit(X, y, epochs=1, batch_size=8, lr=50.0)
    assert_unchanged(model, before)
    assert all(np.isfinite(w).all() for w in model.get_weights())

    # the same inside one multi-epoch call: the completed epochs are kept
    fresh = make([Dense(4, 8), Tanh(), Dense(8, 2)], backend, loss="mse", dtype=dtype, seed=5)
    with pytest.raises(FloatingPointError):
        fresh.fit(X, y, epochs=200, batch_size=8, lr=50.0)
    assert (fresh.epoch_, fresh.step_) == (model.epoch_, model.step_)
    assert_all_equal(fresh.get_weights(), model.get_weights(), "weights")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fit_never_leaves_non_finite_weights(backend, dtype):
    # The epoch's loss is measured before each batch's update, so an update that overflows
    # in the last batch of an epoch is not seen by the loss. float32 cannot even hold this lr.
    lr = 1e39 if dtype == "float32" else 1e308
    model = make([Dense(1, 1)], backend, loss="mse", dtype=dtype, seed=0)
    model.set_weights([[[1.0]], [1.0]])
    X, y = np.ones((2, 1)), np.full(2, -1.0)  # z - y = 3: the gradient is 3 for w and b
    before = model.get_weights()
    # float32 refuses the lr up front (ValueError); float64 diverges in the last update
    with pytest.raises(ValueError if dtype == "float32" else FloatingPointError, match="lr"):
        model.fit(X, y, epochs=1, batch_size=2, lr=lr)
    weights = model.get_weights()
    assert all(np.array_equal(a, b) for a, b in zip(before, weights)), "weights changed"
    assert all(np.isfinite(w).all() for w in weights), f"weights after fit: {weights}"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_history_covers_the_epochs_completed_before_divergence(backend, rng):
    # epoch_ counts the epochs kept after a divergence; history_ should hold their losses
    model = make([Dense(4, 8), Tanh(), Dense(8, 2)], backend, loss="mse", seed=5)
    X, y = rng.normal(0, 10, size=(32, 4)), rng.normal(size=(32, 2))
    with pytest.raises(FloatingPointError):
        model.fit(X, y, epochs=200, batch_size=8, lr=50.0)
    assert model.epoch_ > 0, "the test needs at least one completed epoch"
    assert len(model.history_["loss"]) == model.epoch_, (
        f"history_ has {len(model.history_['loss'])} losses after {model.epoch_} epochs"
    )


# ---- found in review: overflow, extreme integers, direct engine calls -------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_batchnorm_statistics_overflow_is_a_divergence(backend):
    # finite float32 inputs whose squares overflow: the running variance would become inf
    model = make([BatchNorm(2), Dense(2, 1)], backend, loss="mse", dtype="float32", seed=0)
    X = np.array([[1e20, 1.0], [-1e20, 2.0], [3e19, 0.5], [0.0, 0.0]])
    snap = snapshot(model)
    with pytest.raises(FloatingPointError, match="diverged"):
        model.fit(X, np.ones(4), epochs=2, batch_size=4)
    assert_unchanged(model, snap)


def test_early_stopping_without_any_finite_validation_loss(backend):
    model = make([Dense(1, 1)], backend, loss="mse", seed=0)
    with np.errstate(over="ignore"):
        losses = model.fit(
            np.ones((4, 1)),
            np.ones(4),
            epochs=5,
            patience=1,
            validation_data=(np.full((2, 1), 1e200), np.zeros(2)),
        )
    assert len(losses) == 1, f"expected a stop after one epoch without improvement: {losses}"


def test_huge_batch_size_is_full_batch(backend, rng):
    X, y = rng.normal(size=(10, 3)), rng.normal(size=10)
    models = [make([Dense(3, 1)], backend, loss="mse", seed=0) for _ in range(2)]
    models[0].fit(X, y, epochs=2, batch_size=2**40, lr=0.1)
    models[1].fit(X, y, epochs=2, batch_size=10, lr=0.1)
    assert_all_equal(models[0].get_weights(), models[1].get_weights())


@pytest.mark.parametrize("step", [-1, 2**64, 1.5])
def test_step_out_of_range(step, backend):
    model = make([Dense(2, 1)], backend)
    with pytest.raises(ValueError, match="step"):
        model.predict(np.zeros((1, 2)), training=True, step=step)


def test_engine_refuses_training_through_sign_before_touching_state(native):
    from mlpcore import _core

    net = _core.Network64(
        [("dense", 2, 2), ("batchnorm", 2, 2, 0.5, 1e-5), ("sign", 2, 2), ("dense", 2, 2)], "mse", 0
    )
    state = net.get_state()
    with pytest.raises(ValueError, match="zero derivative"):
        net.train_epoch(
            np.ones((4, 2)),
            np.ones((4, 2)),
            EpochOptions(batch_size=2, optimizer={"name": "sgd"}, lr=0.1),
            0,
            0,
            0,
        )
    assert np.array_equal(net.get_state(), state)
    with pytest.raises(ValueError, match="zero derivative"):
        net.gradients(np.ones((4, 2)), np.ones((4, 2)), True, 0)


@pytest.mark.parametrize(
    "spec, match",
    [
        (("batchnorm", 2, 2, 0.1, float("inf")), "eps"),
        (("dropout", 2, 2, 1.0), "p must lie"),
        (("dense", 2), r"layer spec 1: must be a tuple \(kind, n_in, n_out"),
        (("swish", 2, 2), "'swish'.*known"),
    ],
)
def test_engine_rejects_bad_specs(spec, match, native):
    from mlpcore import _core

    with pytest.raises(ValueError, match=match):
        _core.Network64([("dense", 2, 2), spec], "mse", 0)


def test_engine_loss_functions_reject_zero_outputs(native):
    from mlpcore import _core

    kernels = _core.testing
    for call in (
        lambda: kernels.output_activation("softmax_cross_entropy", np.ones((3, 0))),
        lambda: kernels.loss_forward("softmax_cross_entropy", np.ones((3, 0)), np.ones((3, 0))),
    ):
        with pytest.raises(ValueError, match="at least one column"):
            call()


def test_concurrent_fits_on_one_model_run_one_after_the_other(native, rng):
    import threading

    X, y = rng.normal(size=(256, 8)), rng.integers(0, 3, 256)
    layers = [Dense(8, 16), ReLU(), Dropout(0.2), Dense(16, 3)]
    shared = make(layers, "native", loss="softmax_cross_entropy", seed=3)
    threads = [
        threading.Thread(
            target=shared.fit, args=(X, y), kwargs={"epochs": 3, "batch_size": 16, "lr": 0.05}
        )
        for _ in range(2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    serial = make(layers, "native", loss="softmax_cross_entropy", seed=3)
    serial.fit(X, y, epochs=6, batch_size=16, lr=0.05)
    assert (shared.epoch_, shared.step_) == (serial.epoch_, serial.step_)
    assert_all_equal(shared.get_weights(), serial.get_weights())


def test_float64_X_for_a_float32_model_is_not_copied_and_checked_for_range(rng):
    """fit hands a C-contiguous float64 X to a float32 C++ engine as it is (the engine converts
    each batch): the same training as a float32 copy, and values beyond float32 are refused."""
    pytest.importorskip("mlpcore._core")
    X, y = rng.normal(size=(300, 8)), rng.integers(0, 3, 300)
    nets = [
        Sequential(
            [Dense(8, 16), ReLU(), Dense(16, 3)],
            loss="softmax_cross_entropy",
            dtype="float32",
            seed=1,
            backend="native",
        )
        for _ in range(2)
    ]
    h64, h32 = nets[0].fit(X, y, epochs=3), nets[1].fit(X.astype(np.float32), y, epochs=3)
    assert list(h64) == list(h32)
    for a, b in zip(nets[0].get_weights(), nets[1].get_weights()):
        np.testing.assert_array_equal(a, b)
    X[250, 3] = -1e39
    before = nets[0].get_weights()
    with pytest.raises(
        ValueError,
        match=r"X holds -1e\+39 at index \(250, 3\): beyond the "
        "range of float32",
    ):
        nets[0].fit(X, y)
    for a, b in zip(nets[0].get_weights(), before):
        np.testing.assert_array_equal(a, b)


def test_targets_are_required_where_a_loss_is_computed(backend):
    """loss, gradients and evaluate refuse y=None with a ValueError (found by the fuzz test:
    the NumPy engine raised AttributeError)."""
    net = Sequential(
        [Dense(1, 2)], loss="softmax_cross_entropy", dtype="float32", seed=0, backend=backend
    )
    for method in (net.loss, net.gradients, net.evaluate):
        with pytest.raises(ValueError, match="y must hold real numbers"):
            method(np.ones((1, 1)), None)
