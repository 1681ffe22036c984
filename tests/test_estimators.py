"""The scikit-learn estimators (mlpcore.estimators): learning on small real problems, both
engines agreeing, sklearn tooling (clone, Pipeline, cross-validation, grid search), early
stopping, errors, and scikit-learn's own estimator checks."""
import pickle
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn.base import clone  # noqa: E402
from sklearn.datasets import (load_digits, load_iris, make_blobs,  # noqa: E402
                              make_multilabel_classification)
from sklearn.exceptions import NotFittedError  # noqa: E402
from sklearn.model_selection import (GridSearchCV, cross_val_score,  # noqa: E402
                                     train_test_split)
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402
from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

import mlpcore  # noqa: E402
from mlpcore.estimators import MLPClassifier, MLPRegressor  # noqa: E402

from conftest import assert_close  # noqa: E402


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16.0, y, test_size=0.25, stratify=y, random_state=0)


def smooth_regression(n=600, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1, 1, (n, 2))
    y = np.sin(2 * X[:, 0]) + X[:, 1] ** 2
    return X, y


def blobs(n=200, centers=2, seed=0):
    X, y = make_blobs(n_samples=n, centers=centers, cluster_std=1.0, random_state=seed)
    return StandardScaler().fit_transform(X), y


# ---- learning ------------------------------------------------------------------------------
def test_digits_classification(backend, digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier((64,), lr=0.1, max_iter=20, random_state=0, backend=backend)
    clf.fit(X_train, y_train)
    assert clf.score(X_test, y_test) > 0.9
    assert clf.model_.loss_name == "softmax_cross_entropy"
    np.testing.assert_array_equal(clf.classes_, np.arange(10))
    proba = clf.predict_proba(X_test)
    assert proba.shape == (len(X_test), 10) and proba.dtype == np.float64
    assert_close(proba.sum(axis=1), np.ones(len(X_test)), rtol=0, atol=1e-5, what="row sums")
    np.testing.assert_array_equal(clf.predict(X_test), np.argmax(proba, axis=1))
    assert clf.n_iter_ == 20 and len(clf.loss_curve_) == 20
    assert clf.loss_curve_ == clf.model_.history_["loss"]
    assert clf.loss_curve_[-1] < clf.loss_curve_[0]
    assert clf.n_features_in_ == 64 and clf.n_outputs_ == 10


def test_binary_string_labels(backend):
    X, y = blobs()
    labels = np.array(["dog", "cat"])[y]
    clf = MLPClassifier((16,), lr=0.1, max_iter=30, random_state=0, backend=backend)
    clf.fit(X, labels)
    np.testing.assert_array_equal(clf.classes_, ["cat", "dog"])
    assert clf.model_.loss_name == "binary_cross_entropy" and clf.n_outputs_ == 1
    proba = clf.predict_proba(X)
    assert proba.shape == (len(X), 2)
    assert_close(proba.sum(axis=1), np.ones(len(X)), rtol=0, atol=1e-12, what="row sums")
    # column 1 is the probability of classes_[1], the network's sigmoid output
    assert_close(proba[:, 1], clf.model_.predict(X)[:, 0], rtol=0, atol=1e-7, what="p")
    pred = clf.predict(X)
    assert set(pred) <= {"cat", "dog"}
    np.testing.assert_array_equal(pred, clf.classes_[np.argmax(proba, axis=1)])
    assert clf.score(X, labels) > 0.9
    assert_close(clf.predict_log_proba(X), np.log(proba), rtol=1e-12, atol=0, what="log")


def test_integer_labels_not_starting_at_zero(backend):
    X, y = blobs(centers=3)
    y = np.array([-5, 7, 100])[y]
    clf = MLPClassifier((16,), lr=0.1, max_iter=30, random_state=0, backend=backend).fit(X, y)
    np.testing.assert_array_equal(clf.classes_, [-5, 7, 100])
    assert set(clf.predict(X)) <= {-5, 7, 100}
    assert clf.score(X, y) > 0.9


def test_multilabel(backend):
    X, Y = make_multilabel_classification(n_samples=300, n_features=10, n_classes=4,
                                          random_state=0)
    X = StandardScaler().fit_transform(X)
    clf = MLPClassifier((32,), lr=0.1, max_iter=50, random_state=0, backend=backend)
    clf.fit(X[:200], Y[:200])
    assert clf.model_.loss_name == "binary_cross_entropy" and clf.n_outputs_ == 4
    np.testing.assert_array_equal(clf.classes_, np.arange(4))
    proba = clf.predict_proba(X[200:])
    pred = clf.predict(X[200:])
    assert proba.shape == pred.shape == (100, 4)
    assert set(np.unique(pred)) <= {0, 1}
    np.testing.assert_array_equal(pred, (proba > 0.5).astype(int))
    # far better than predicting each label's majority value
    baseline = np.mean(Y[200:] == np.round(Y[:200].mean(axis=0)))
    assert np.mean(pred == Y[200:]) > baseline + 0.15


def test_regression_smooth_function(backend):
    X, y = smooth_regression()
    reg = MLPRegressor((32,), activation="tanh", lr=0.1, max_iter=200, random_state=0,
                       backend=backend)
    reg.fit(X[:400], y[:400])
    assert reg.model_.loss_name == "mse"
    pred = reg.predict(X[400:])
    assert pred.shape == (200,) and pred.dtype == np.float64
    assert reg.score(X[400:], y[400:]) > 0.9


def test_regression_two_outputs(backend):
    X, y = smooth_regression()
    Y = np.column_stack([y, -2 * y])
    reg = MLPRegressor((32,), lr=0.05, max_iter=100, random_state=0, backend=backend)
    reg.fit(X, Y)
    assert reg.n_outputs_ == 2 and reg.predict(X).shape == (600, 2)
    assert reg.score(X, Y) > 0.9
    # a column vector y stays 2-D
    assert reg.fit(X, y[:, None]).predict(X[:5]).shape == (5, 1)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_backends_give_same_predictions(native, dtype):
    X, y = blobs(centers=3)
    kw = dict(hidden_layer_sizes=(16, 8), batch_norm=True, dropout=0.2, weight_decay=1e-3,
              lr=0.1, max_iter=20, batch_size=16, random_state=3, dtype=dtype)
    a = MLPClassifier(backend="numpy", **kw).fit(X, y)
    b = MLPClassifier(backend="native", **kw).fit(X, y)
    tol = {"float64": 1e-9, "float32": 1e-4}[dtype]
    assert_close(b.loss_curve_, a.loss_curve_, rtol=tol, atol=tol, what="loss curves")
    assert_close(b.predict_proba(X), a.predict_proba(X), rtol=tol, atol=tol, what="proba")
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    Xr, yr = smooth_regression(100)
    kw = dict(hidden_layer_sizes=(8,), lr=0.1, max_iter=20, random_state=4, dtype=dtype)
    ra = MLPRegressor(backend="numpy", **kw).fit(Xr, yr)
    rb = MLPRegressor(backend="native", **kw).fit(Xr, yr)
    assert_close(rb.predict(Xr), ra.predict(Xr), rtol=tol, atol=tol, what="regression")


def test_random_state(backend):
    X, y = blobs()
    kw = dict(hidden_layer_sizes=(8,), max_iter=3, backend=backend)
    a = MLPClassifier(random_state=5, **kw).fit(X, y).predict_proba(X)
    b = MLPClassifier(random_state=5, **kw).fit(X, y).predict_proba(X)
    np.testing.assert_array_equal(a, b)
    c = MLPClassifier(random_state=6, **kw).fit(X, y).predict_proba(X)
    assert not np.array_equal(a, c)
    # None draws a fresh seed every fit; a RandomState draws the seed from it
    est = MLPClassifier(random_state=None, **kw)
    assert est.fit(X, y).model_.seed != est.fit(X, y).model_.seed
    d = MLPClassifier(random_state=np.random.RandomState(0), **kw).fit(X, y)
    e = MLPClassifier(random_state=np.random.RandomState(0), **kw).fit(X, y)
    assert d.model_.seed == e.model_.seed


# ---- the network built from the parameters -------------------------------------------------
def test_network_layout():
    X, y = blobs(centers=3)
    clf = MLPClassifier((6, 4), activation="logistic", batch_norm=True, dropout=0.25,
                        max_iter=1, random_state=0, backend="numpy", dtype="float64")
    net = clf.fit(X, y).model_
    assert isinstance(net, mlpcore.Sequential)
    assert [repr(l) for l in net.layers] == [
        "Dense(2, 6)", "BatchNorm(6, momentum=0.1, eps=1e-05)", "Sigmoid()",
        "Dropout(p=0.25)", "Dense(6, 4)", "BatchNorm(4, momentum=0.1, eps=1e-05)",
        "Sigmoid()", "Dropout(p=0.25)", "Dense(4, 3)"]
    assert net.dtype == np.float64 and net.backend == "numpy" and net.seed == 0
    plain = MLPRegressor(5, activation="identity", max_iter=1, backend="numpy").fit(X, y)
    assert [repr(l) for l in plain.model_.layers] == ["Dense(2, 5)", "Identity()",
                                                      "Dense(5, 1)"]
    linear = MLPRegressor((), max_iter=1, backend="numpy").fit(X, y)
    assert [repr(l) for l in linear.model_.layers] == ["Dense(2, 1)"]


def test_fit_options_are_passed_to_sequential(backend):
    X, y = smooth_regression(64)
    kw = dict(hidden_layer_sizes=(8,), lr=0.05, max_iter=4, shuffle=False, batch_size=10,
              weight_decay=0.01, random_state=1, backend=backend, dtype="float64")
    reg = MLPRegressor(**kw).fit(X, y)
    net = mlpcore.Sequential(reg.model_.layers, loss="mse", dtype="float64", seed=1,
                             backend=backend)
    losses = net.fit(X, y, epochs=4, batch_size=10, lr=0.05, shuffle=False, weight_decay=0.01)
    assert reg.loss_curve_ == losses
    for a, b in zip(reg.model_.get_weights(), net.get_weights()):
        np.testing.assert_array_equal(a, b)


def test_verbose_prints_every_epoch(capsys):
    X, y = blobs()
    MLPClassifier((4,), max_iter=3, verbose=True, backend="numpy", random_state=0).fit(X, y)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("Epoch 1/3: loss = ")
    MLPClassifier((4,), max_iter=2, verbose=True, early_stopping=True, backend="numpy",
                  random_state=0).fit(X, y)
    assert "validation loss" in capsys.readouterr().out


# ---- early stopping ------------------------------------------------------------------------
def test_early_stopping_classifier(backend, digits):
    X_train, X_test, y_train, y_test = digits
    clf = MLPClassifier((32,), lr=0.2, max_iter=500, early_stopping=True, n_iter_no_change=3,
                        random_state=0, backend=backend).fit(X_train, y_train)
    assert clf.n_iter_ < 500
    assert len(clf.loss_curve_) == len(clf.validation_loss_curve_) == clf.n_iter_
    assert len(clf.validation_scores_) == clf.n_iter_
    assert all(0 <= s <= 1 for s in clf.validation_scores_)
    best = int(np.argmin(clf.validation_loss_curve_))
    assert clf.best_validation_loss_ == clf.validation_loss_curve_[best]
    assert clf.n_iter_ == best + 1 + 3  # stopped after 3 epochs without improvement
    assert clf.score(X_test, y_test) > 0.9
    # refitting without early stopping drops the validation attributes
    clf.set_params(early_stopping=False, max_iter=2).fit(X_train, y_train)
    assert not hasattr(clf, "validation_scores_") and not hasattr(clf, "best_validation_loss_")


def test_early_stopping_regressor_restores_best_weights(backend):
    X, y = smooth_regression(300)
    kw = dict(hidden_layer_sizes=(16,), lr=0.05, max_iter=300, early_stopping=True,
              validation_fraction=0.2, n_iter_no_change=2, random_state=0, backend=backend,
              dtype="float64")
    reg = MLPRegressor(**kw).fit(X, y)
    assert reg.n_iter_ < 300
    # the held-out part is the random split of sklearn's train_test_split by the seed
    _, X_val, _, y_val = train_test_split(X, y, test_size=0.2,
                                          random_state=np.random.RandomState(0))
    assert_close(reg.model_.loss(X_val, y_val), reg.best_validation_loss_, rtol=1e-12,
                 atol=0, what="validation loss of the restored weights")
    assert reg.validation_scores_[int(np.argmin(reg.validation_loss_curve_))] == \
        pytest.approx(reg.score(X_val, y_val))
    # max_iter runs out before the patience: the best epoch (6 of 10) is restored as well
    reg.set_params(lr=0.3, max_iter=10, n_iter_no_change=50).fit(X, y)
    assert reg.n_iter_ == 10 and int(np.argmin(reg.validation_loss_curve_)) == 5
    assert_close(reg.model_.loss(X_val, y_val), reg.best_validation_loss_, rtol=1e-12,
                 atol=0, what="validation loss of the restored weights")


def test_early_stopping_split_is_stratified():
    X, y = blobs(n=100, centers=2)
    y = np.where(np.arange(100) < 10, 1, 0)  # 10 % of one class
    clf = MLPClassifier((4,), max_iter=1, early_stopping=True, validation_fraction=0.2,
                        random_state=0, backend="numpy")

    calls = []
    original = mlpcore.Sequential.fit

    def spy(net, X, y, **kw):
        calls.append(kw["validation_data"][1])
        return original(net, X, y, **kw)

    mlpcore.Sequential.fit = spy
    try:
        clf.fit(X, y)
    finally:
        mlpcore.Sequential.fit = original
    assert np.sum(calls[0]) == 2 and len(calls[0]) == 20  # 2 of the 10 minority samples


# ---- scikit-learn tooling ------------------------------------------------------------------
def test_clone_get_params_set_params():
    clf = MLPClassifier((7, 3), activation="tanh", lr=0.3, random_state=2)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (7, 3) and params["lr"] == 0.3
    assert set(params) == {
        "hidden_layer_sizes", "activation", "batch_norm", "dropout", "weight_decay", "optimizer",
        "momentum",
        "batch_size", "lr", "max_iter", "shuffle", "early_stopping", "validation_fraction",
        "n_iter_no_change", "random_state", "dtype", "backend", "verbose"}
    copy = clone(clf)
    assert copy is not clf and copy.get_params() == params
    assert clf.set_params(max_iter=5, dropout=0.1) is clf
    assert clf.max_iter == 5 and clf.dropout == 0.1
    X, y = blobs()
    clf.set_params(backend="numpy").fit(X, y)
    fresh = clone(clf)
    assert not hasattr(fresh, "model_")
    with pytest.raises(NotFittedError):
        fresh.predict(X)
    assert MLPRegressor().get_params().keys() == params.keys()


def test_pickle_fitted(backend):
    X, y = blobs(centers=3)
    clf = MLPClassifier((8,), max_iter=5, batch_norm=True, random_state=0,
                        backend=backend).fit(X, y)
    back = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    assert back.model_.backend == backend


def test_pipeline_cross_val_and_grid_search(backend):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(),
                         MLPClassifier((16,), lr=0.1, max_iter=40, random_state=0,
                                       backend=backend))
    scores = cross_val_score(pipe, X, y, cv=3)
    assert scores.shape == (3,) and scores.mean() > 0.85
    grid = GridSearchCV(pipe, {"mlpclassifier__hidden_layer_sizes": [(4,), (16,)],
                               "mlpclassifier__lr": [0.001, 0.1]}, cv=3)
    grid.fit(X, y)
    assert grid.best_params_["mlpclassifier__lr"] == 0.1
    assert grid.best_score_ > 0.85
    assert grid.predict(X[:5]).shape == (5,)


def test_regressor_in_pipeline(backend):
    X, y = smooth_regression(300)
    pipe = make_pipeline(StandardScaler(), MLPRegressor((16,), lr=0.05, max_iter=60,
                                                        random_state=0, backend=backend))
    assert cross_val_score(pipe, X, y, cv=2, scoring="r2").mean() > 0.8


def test_importing_mlpcore_needs_no_sklearn():
    code = ("import sys; sys.modules['sklearn'] = None; import mlpcore; "
            "assert 'mlpcore.estimators' not in sys.modules; "
            "mlpcore.Sequential([mlpcore.Dense(2, 1)], backend='numpy')")
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- errors ------------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_not_fitted(Est):
    est = Est(backend="numpy")
    methods = ["predict", "predict_proba", "predict_log_proba", "score"]
    for name in methods:
        if hasattr(est, name):
            with pytest.raises(NotFittedError):
                getattr(est, name)(*((np.zeros((2, 3)),) if name != "score"
                                     else (np.zeros((2, 3)), np.zeros(2))))


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_bad_input(Est):
    X, y = blobs()
    est = Est((4,), max_iter=2, backend="numpy", random_state=0)
    bad = X.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        est.fit(bad, y)
    with pytest.raises(ValueError, match="infinity"):
        est.fit(np.where(bad == bad, bad, np.inf), y)
    with pytest.raises(ValueError):
        est.fit(X, y[:-1])
    with pytest.raises(ValueError):
        est.fit(X[:, 0], y)  # 1-D X
    with pytest.raises(ValueError):
        est.fit(X[:0], y[:0])
    est.fit(X, y)
    with pytest.raises(ValueError, match="NaN"):
        est.predict(bad)
    with pytest.raises(ValueError, match="2 features"):
        est.predict(np.zeros((3, 5)))
    with pytest.raises(ValueError):
        est.predict(X[0])
    if Est is MLPRegressor:
        with pytest.raises(ValueError, match="NaN"):
            est.fit(X, np.where(np.arange(len(y)) == 5, np.nan, y))


def test_classifier_bad_targets():
    X, _ = blobs(20)
    clf = MLPClassifier((4,), max_iter=1, backend="numpy")
    with pytest.raises(ValueError, match="at least 2 classes.*1 class"):
        clf.fit(X, np.full(20, "only"))
    with pytest.raises(ValueError, match="Unknown label type"):
        clf.fit(X, np.linspace(0, 1, 20))  # continuous: a regression target
    with pytest.raises(ValueError, match="multi-label indicator"):
        clf.fit(X, np.random.default_rng(0).integers(0, 3, (20, 2)))


@pytest.mark.parametrize("param, value", [
    ("hidden_layer_sizes", (0,)), ("hidden_layer_sizes", "8"), ("hidden_layer_sizes", (4.5,)),
    ("activation", "softplus"), ("activation", "step"), ("batch_norm", "yes"),
    ("dropout", 1.0), ("dropout", -0.1), ("weight_decay", -1.0), ("batch_size", 0),
    ("lr", 0.0), ("lr", np.inf), ("max_iter", 0), ("max_iter", 2.5), ("shuffle", None),
    ("early_stopping", 1), ("validation_fraction", 1.0), ("validation_fraction", 0),
    ("n_iter_no_change", 0), ("random_state", -1), ("random_state", "seed"),
    ("dtype", "int8"), ("backend", "gpu"), ("verbose", "loud")])
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_bad_parameters_raise_in_fit(Est, param, value):
    X, y = blobs(20)
    est = Est(**{"backend": "numpy", "max_iter": 1, param: value})  # stored, not checked
    assert est.get_params()[param] is value
    with pytest.raises(ValueError, match=param if param != "hidden_layer_sizes" else "hidden"):
        est.fit(X, y)
    assert not hasattr(est, "model_")


def test_batch_norm_needs_two_samples():
    with pytest.raises(ValueError, match="1 sample"):
        MLPRegressor(batch_norm=True, backend="numpy").fit(np.ones((1, 3)), [1.0])


# ---- scikit-learn's estimator checks -------------------------------------------------------
# Small settings keep them fast. lr=0.005 lets plain SGD fit check_regressor_multioutput's
# unscaled make_regression targets (|y| ~ 160) without diverging while still reaching the
# scores check_classifiers_train / check_regressors_train demand in 100 epochs.
_CHECK_KW = dict(hidden_layer_sizes=(8,), max_iter=100, lr=0.005, random_state=0,
                 backend="numpy")
_CHECK_OPTIONS = dict(batch_norm=True, dropout=0.1, early_stopping=True, lr=0.01)


def _check_estimators():
    ests = [MLPClassifier(**_CHECK_KW), MLPRegressor(**_CHECK_KW),
            MLPClassifier(**{**_CHECK_KW, **_CHECK_OPTIONS}),
            MLPRegressor(**{**_CHECK_KW, **_CHECK_OPTIONS})]
    try:
        from mlpcore import _core  # noqa: F401
    except ImportError:
        pass
    else:
        ests += [MLPClassifier(**{**_CHECK_KW, "backend": "native"}),
                 MLPRegressor(**{**_CHECK_KW, "backend": "native"})]
    return ests


@parametrize_with_checks(_check_estimators())
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize("optimizer, momentum, lr", [("sgd", 0.9, 0.02), ("adam", 0.0, 0.003)])
def test_optimizer_options_reach_the_network(optimizer, momentum, lr):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split
    from mlpcore.estimators import MLPClassifier
    X, y = load_digits(return_X_y=True)
    Xtr, Xte, ytr, yte = train_test_split(X / 16, y, random_state=0, stratify=y)
    clf = MLPClassifier(hidden_layer_sizes=(64,), optimizer=optimizer, momentum=momentum,
                        lr=lr, max_iter=15, random_state=0, backend="numpy").fit(Xtr, ytr)
    assert clf.model_.optimizer_["name"] == optimizer
    assert clf.model_.optimizer_["momentum"] == momentum
    assert clf.score(Xte, yte) > 0.9, f"test accuracy {clf.score(Xte, yte)}"
    with pytest.raises(ValueError, match="momentum"):
        MLPClassifier(optimizer="adam", momentum=0.5, max_iter=1).fit(Xtr, ytr)
