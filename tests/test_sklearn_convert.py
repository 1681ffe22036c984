"""mlpcore.from_sklearn: the converted network predicts what the fitted scikit-learn
MLPClassifier / MLPRegressor predicts, for every activation and output kind."""

import warnings

import numpy as np
import pytest

import mlpcore as mc

sklearn_nn = pytest.importorskip("sklearn.neural_network")
from interop_nets import LOSSES  # noqa: E402

from conftest import assert_close  # noqa: E402

ACTIVATIONS = ["identity", "logistic", "tanh", "relu"]


def fitted(estimator, X, y):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: a few iterations are enough here
        return estimator.fit(X, y)


def report(what, ours, theirs, rtol):
    diff = float(np.max(np.abs(ours - theirs)))
    print(f"{what}: max |mlpcore - scikit-learn| = {diff:.3e}")
    assert_close(
        ours, theirs, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(theirs)))), what=what
    )


def data(rng, n=80, d=6):
    return rng.normal(size=(n, d))


# output kind -> (estimator class, targets, sklearn output, mlpcore loss, our output -> theirs)
def classification_cases(rng, X):
    w = rng.normal(size=(X.shape[1], 3))
    score = X @ w
    return {
        "binary": (
            sklearn_nn.MLPClassifier,
            np.where(score[:, 0] > 0, "yes", "no"),
            lambda est: est.predict_proba(X)[:, 1:],
            "binary_cross_entropy",
        ),
        "multiclass": (
            sklearn_nn.MLPClassifier,
            np.argmax(score, axis=1),
            lambda est: est.predict_proba(X),
            "softmax_cross_entropy",
        ),
        "multilabel": (
            sklearn_nn.MLPClassifier,
            (score > 0).astype(int),
            lambda est: est.predict_proba(X),
            "binary_cross_entropy",
        ),
        "regression": (
            sklearn_nn.MLPRegressor,
            score[:, 0],
            lambda est: est.predict(X).reshape(len(X), -1),
            "mse",
        ),
        "multioutput": (sklearn_nn.MLPRegressor, score[:, :2], lambda est: est.predict(X), "mse"),
    }


@pytest.mark.parametrize(
    "kind", ["binary", "multiclass", "multilabel", "regression", "multioutput"]
)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_predictions_equal(kind, activation, backend, rng):
    X = data(rng)
    cls, y, output, loss = classification_cases(rng, X)[kind]
    est = fitted(
        cls(hidden_layer_sizes=(7, 5), activation=activation, max_iter=30, random_state=0), X, y
    )
    net = mc.from_sklearn(est, backend=backend)
    assert net.loss_name == loss and net.dtype == np.float64
    hidden = {"identity": "Identity", "logistic": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}
    assert [type(l).__name__ for l in net.layers][1::2] == [hidden[activation]] * 2
    report(f"{kind} {activation}", net.predict(X), output(est), 1e-12)


def test_no_hidden_layer_and_float32(rng):
    X = data(rng)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    est = fitted(sklearn_nn.MLPClassifier(hidden_layer_sizes=(), max_iter=20, random_state=0), X, y)
    report("no hidden layer", mc.from_sklearn(est).predict(X), est.predict_proba(X), 1e-12)
    net32 = mc.from_sklearn(est, dtype="float32")
    assert net32.dtype == np.float32
    report(
        "no hidden layer, float32", net32.predict(X.astype(np.float32)), est.predict_proba(X), 1e-5
    )


def test_float32_estimator_keeps_its_dtype(rng):
    X = data(rng).astype(np.float32)
    est = fitted(
        sklearn_nn.MLPRegressor(hidden_layer_sizes=(4,), max_iter=20, random_state=0),
        X,
        X[:, 0] * 2,
    )
    net = mc.from_sklearn(est)
    assert net.dtype == est.coefs_[0].dtype == np.float32
    report("float32 regressor", net.predict(X)[:, 0], est.predict(X), 1e-5)


def test_rejects_what_it_cannot_convert(rng):
    with pytest.raises(ValueError, match="fitted scikit-learn MLPClassifier or MLPRegressor"):
        mc.from_sklearn(sklearn_nn.MLPClassifier())
    with pytest.raises(ValueError, match="fitted scikit-learn"):
        mc.from_sklearn(object())
    X = data(rng)
    est = fitted(
        sklearn_nn.MLPRegressor(
            hidden_layer_sizes=(3,), activation="relu", max_iter=5, random_state=0
        ),
        X,
        X[:, 0],
    )
    est.activation = "softsign"
    with pytest.raises(ValueError, match="activation='softsign'"):
        mc.from_sklearn(est)
    # mlpcore's own estimator with batch norm: its coefs_ are not the whole network
    bn = fitted(
        mc.MLPClassifier(hidden_layer_sizes=(4,), batch_norm=True, max_iter=3, random_state=0),
        X,
        (X[:, 0] > 0).astype(int),
    )
    with pytest.raises(ValueError, match=r"batch_norm=True.*estimator\.model_"):
        mc.from_sklearn(bn)
    plain = fitted(
        mc.MLPClassifier(hidden_layer_sizes=(4,), max_iter=3, random_state=0),
        X,
        (X[:, 0] > 0).astype(int),
    )
    diff = np.abs(mc.from_sklearn(plain).predict(X)[:, 0] - plain.predict_proba(X)[:, 1]).max()
    print(f"from_sklearn(mlpcore.MLPClassifier) vs predict_proba: {diff:.2g}")
    assert diff <= 1e-12


def test_poisson_regressor(rng):
    """MLPRegressor(loss="poisson") has an exp output: mlpcore's "poisson" loss where this
    mlpcore has it, else a ValueError saying so."""
    X = data(rng)
    est = fitted(
        sklearn_nn.MLPRegressor(
            hidden_layer_sizes=(5,), loss="poisson", max_iter=20, random_state=0
        ),
        X,
        rng.poisson(np.exp(X[:, 0] / 2)),
    )
    if "poisson" not in LOSSES:
        with pytest.raises(ValueError, match="out_activation_='exp' needs the mlpcore loss"):
            mc.from_sklearn(est)
        return
    net = mc.from_sklearn(est)
    assert net.loss_name == "poisson"
    report("poisson regression", net.predict(X)[:, 0], est.predict(X), 1e-12)
