"""The constructor's defaults: no default loss (a TypeError listing the losses), float32 by
default; the scikit-learn estimators keep scikit-learn's float64."""

import numpy as np
import pytest

import mlpcore as mc
from mlpcore.reference import losses as ref_losses


def test_a_model_without_a_loss_is_refused_with_the_losses_listed(backend):
    with pytest.raises(TypeError, match="needs a loss") as info:
        mc.Sequential([mc.Dense(3, 1)], backend=backend)
    message = str(info.value)
    for name in ref_losses.NAMES:
        assert repr(name) in message, f"{name} missing from: {message}"
    assert "integer labels" in message and "sparse_categorical_crossentropy" in message


def test_the_default_dtype_is_float32(backend, rng):
    net = mc.Sequential(
        [mc.Dense(3, 4), mc.ReLU(), mc.Dense(4, 2)], loss="mse", seed=0, backend=backend
    )
    assert net.dtype == np.float32 and net.get_config()["dtype"] == "float32"
    X = rng.normal(size=(5, 3))  # float64 input is converted
    assert net.predict(X).dtype == np.float32
    assert all(w.dtype == np.float32 for w in net.get_weights())


def test_class_labels_under_a_regression_loss_get_a_hint(backend):
    net = mc.Sequential([mc.Dense(3, 3)], loss="mse", seed=0, backend=backend)
    X, y = np.zeros((4, 3)), np.array([0, 1, 2, 1])
    with pytest.raises(
        ValueError,
        match=r"1-D but the network has 3 outputs.*"
        r"loss='softmax_cross_entropy'.*'mse'",
    ):
        net.fit(X, y, epochs=1)
    # a 1-D y that cannot be labels gets the shape message alone
    with pytest.raises(ValueError, match=r"expected shape \(4, 3\)$"):
        net.fit(X, np.array([0.5, 1.5, 2.0, 7.0]), epochs=1)


def test_the_estimators_keep_scikit_learns_float64():
    pytest.importorskip("sklearn", reason="scikit-learn is not installed")
    X = np.random.default_rng(0).normal(size=(40, 3))
    y = (X[:, 0] > 0).astype(int)
    clf = mc.MLPClassifier(hidden_layer_sizes=(4,), max_iter=5, random_state=0).fit(X, y)
    assert clf.model_.dtype == np.float64 and clf.coefs_[0].dtype == np.float64
