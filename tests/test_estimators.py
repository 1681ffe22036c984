"""mlpcore's scikit-learn estimators beyond scikit-learn's own tests (test_sklearn_port.py):
the same numbers as scikit-learn for the same random_state, the L-BFGS objective's gradient,
sparse input, the parameter table's errors, mlpcore's own options, both engines, sklearn
tooling, sample and class weights."""

import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest

pytest.importorskip("sklearn")

import scipy.sparse as sp  # noqa: E402
from sklearn.base import clone  # noqa: E402
from sklearn.datasets import load_iris, load_wine, make_regression  # noqa: E402
from sklearn.exceptions import ConvergenceWarning, NotFittedError  # noqa: E402
from sklearn.model_selection import GridSearchCV, cross_val_score  # noqa: E402
from sklearn.neural_network import MLPClassifier as SkClassifier  # noqa: E402
from sklearn.neural_network import MLPRegressor as SkRegressor  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

from mlpcore import MLPClassifier, MLPRegressor  # noqa: E402
from mlpcore.estimators import _engine  # noqa: E402

from conftest import assert_close  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tiny problems: 1 thread


@pytest.fixture(scope="module")
def iris():
    X, y = load_iris(return_X_y=True)
    return StandardScaler().fit_transform(X), y


@pytest.fixture(scope="module")
def regression():
    X, y = make_regression(n_samples=120, n_features=6, n_targets=2, noise=5.0, random_state=3)
    return StandardScaler().fit_transform(X), y / y.std(axis=0)


def max_coef_diff(a, b):
    return max(
        float(np.abs(x - y).max())
        for x, y in zip(a.coefs_ + a.intercepts_, b.coefs_ + b.intercepts_)
    )


# ---- the same numbers as scikit-learn (float64, same random_state) ------------------------------
SAME_AS_SKLEARN = [
    dict(solver="sgd"),  # momentum 0.9 with Nesterov
    dict(solver="sgd", nesterovs_momentum=False, batch_size=32),  # a smaller trailing batch
    dict(solver="sgd", momentum=0.0, alpha=0.01, batch_size=50),
    dict(solver="sgd", learning_rate="invscaling", learning_rate_init=0.1),
    dict(solver="sgd", learning_rate="adaptive", tol=0.05, n_iter_no_change=2),
    dict(solver="sgd", early_stopping=True, batch_size=40),
    dict(solver="adam"),  # full batch: exact Adam steps
    dict(solver="adam", activation="tanh", shuffle=False),
    dict(solver="lbfgs"),
    dict(solver="lbfgs", activation="logistic", alpha=0.1),
]


@pytest.mark.parametrize("kw", SAME_AS_SKLEARN, ids=lambda kw: "-".join(map(str, kw.values())))
def test_classifier_same_as_sklearn(kw, iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPClassifier((20,), random_state=0, max_iter=40, **kw).fit(X, y)
        ref = SkClassifier((20,), random_state=0, max_iter=40, **kw).fit(X, y)
    diff = max_coef_diff(ours, ref)
    print(f"{kw}: max |coef diff| = {diff:.3g}, loss {ours.loss_:.10f} vs {ref.loss_:.10f}")
    assert ours.n_iter_ == ref.n_iter_
    assert diff < 1e-7
    assert_close(ours.loss_, ref.loss_, rtol=1e-6, atol=1e-9, what="loss_")
    if kw["solver"] != "lbfgs":
        # the penalty in loss_curve_ comes from the weights before/after each epoch
        assert_close(ours.loss_curve_, ref.loss_curve_, rtol=1e-6, atol=1e-9, what="curve")
        assert ours.t_ == ref.t_
    if kw.get("early_stopping"):
        assert_close(
            ours.validation_scores_,
            ref.validation_scores_,
            rtol=0,
            atol=1e-12,
            what="validation scores",
        )
        assert ours.best_validation_score_ == ref.best_validation_score_
    if kw.get("learning_rate") == "adaptive":
        assert ours._optimizer.learning_rate == ref._optimizer.learning_rate
    assert_close(
        ours.predict_proba(X), ref.predict_proba(X), rtol=1e-6, atol=1e-8, what="predict_proba"
    )


@pytest.mark.parametrize(
    "kw",
    [
        dict(solver="sgd", batch_size=50),
        dict(solver="adam"),
        dict(solver="lbfgs"),
        dict(solver="lbfgs", loss="poisson"),
    ],
)
def test_regressor_same_as_sklearn(kw, regression):
    X, Y = regression
    if kw.get("loss") == "poisson":
        Y = np.exp(Y)  # any y >= 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(hidden_layer_sizes=(15,), random_state=1, max_iter=30, **kw).fit(X, Y)
        ref = SkRegressor(hidden_layer_sizes=(15,), random_state=1, max_iter=30, **kw).fit(X, Y)
    diff = max_coef_diff(ours, ref)
    print(f"{kw}: max |coef diff| = {diff:.3g}, loss_ {ours.loss_!r} vs {ref.loss_!r}")
    assert diff < 1e-7
    # scikit-learn's squared_error is averaged over the 2 outputs (ours sums): mapped
    assert_close(ours.loss_, ref.loss_, rtol=1e-6, atol=1e-9, what="loss_")
    assert_close(ours.predict(X), ref.predict(X), rtol=1e-6, atol=1e-8, what="predict")


@pytest.mark.parametrize("hidden, epochs", [((20,), 30), ((100,), 50)])
def test_minibatch_adam_same_as_sklearn(hidden, epochs, iris):
    """5 batches per epoch: the engine adds Adam's epsilon where scikit-learn does."""
    X, y = iris
    kw = dict(hidden_layer_sizes=hidden, batch_size=32, random_state=0, max_iter=epochs)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, ref = MLPClassifier(**kw).fit(X, y), SkClassifier(**kw).fit(X, y)
    diff = max_coef_diff(ours, ref)
    print(f"{hidden}, {epochs} epochs: max |coef diff| = {diff:.3g}")
    assert diff < 1e-12
    assert_close(ours.loss_curve_, ref.loss_curve_, rtol=1e-6, atol=1e-9, what="loss curve")


# ---- sample weights and the Poisson loss: scikit-learn's definitions (1.7+) --------------------
WEIGHTS = np.random.RandomState(0).rand(150) * 2 + 0.1  # unequal, in [0.1, 2.1)


@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("task", ["classifier", "regressor"])
def test_weighted_fit_same_as_sklearn(solver, task, iris, regression):
    X, y = iris if task == "classifier" else regression
    w = WEIGHTS[: len(X)]
    Ours, Ref = (
        (MLPClassifier, SkClassifier) if task == "classifier" else (MLPRegressor, SkRegressor)
    )
    kw = dict(
        hidden_layer_sizes=(20,),
        solver=solver,
        batch_size=32,
        max_iter=30,
        alpha=0.01,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours, ref = Ours(**kw).fit(X, y, sample_weight=w), Ref(**kw).fit(X, y, sample_weight=w)
    diff = max_coef_diff(ours, ref)
    print(f"{task} {solver}: max |coef diff| = {diff:.3g}, loss_ {ours.loss_!r} vs {ref.loss_!r}")
    assert diff < (1e-9 if solver == "lbfgs" else 1e-12)
    # the alpha penalty of loss_ (sgd/adam) uses the weights before and after each epoch
    assert_close(ours.loss_, ref.loss_, rtol=1e-5, atol=1e-9, what="loss_")


@pytest.mark.parametrize("solver", ["sgd", "adam"])
@pytest.mark.parametrize("weighted", [False, True])
def test_poisson_minibatches_same_as_sklearn(solver, weighted, regression):
    X, Y = regression
    Y = np.exp(Y)
    w = WEIGHTS[: len(X)] if weighted else None
    kw = dict(
        hidden_layer_sizes=(15,),
        solver=solver,
        batch_size=32,
        max_iter=30,
        loss="poisson",
        learning_rate_init=0.01,
        random_state=1,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = MLPRegressor(**kw).fit(X, Y, sample_weight=w)
        ref = SkRegressor(**kw).fit(X, Y, sample_weight=w)
    diff = max_coef_diff(ours, ref)
    print(f"poisson {solver} weighted={weighted}: max |coef diff| = {diff:.3g}")
    assert diff < 1e-12
    # loss_curve_'s alpha penalty: from the weights before and after each epoch
    assert_close(ours.loss_curve_, ref.loss_curve_, rtol=1e-5, atol=1e-9, what="loss curve")
    assert_close(ours.predict(X), ref.predict(X), rtol=1e-10, atol=1e-12, what="predict")


def test_partial_fit_same_as_sklearn(iris):
    X, y = iris
    ours, ref = (
        MLPClassifier(random_state=0, solver="sgd"),
        SkClassifier(random_state=0, solver="sgd"),
    )
    for i in range(0, 150, 30):
        rows = np.arange(i, i + 30)
        ours.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
        ref.partial_fit(X[rows], y[rows], classes=[0, 1, 2])
    diff = max_coef_diff(ours, ref)
    print(f"max |coef diff| = {diff:.3g}")
    assert diff < 1e-10 and ours.t_ == ref.t_ == 150


# ---- the L-BFGS objective (replaces scikit-learn's test_gradient) --------------------------------
@pytest.mark.parametrize("activation", ["identity", "logistic", "tanh", "relu"])
@pytest.mark.parametrize(
    "task", ["binary", "multiclass", "squared_error", "poisson", "weighted_squared_error"]
)
def test_lbfgs_objective_gradient(activation, task):
    rng = np.random.RandomState(42)
    X = rng.rand(5, 10)
    if task in ("binary", "multiclass"):
        Est, y = MLPClassifier, 1 + np.mod(np.arange(5) + 1, 2 if task == "binary" else 3)
    else:
        Est, y = MLPRegressor, rng.rand(5) * 3  # (2 outputs: test_regressor_same_as_sklearn)
    kw = {"loss": "poisson"} if task == "poisson" else {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        mlp = Est(
            activation=activation,
            hidden_layer_sizes=10,
            solver="lbfgs",
            alpha=1e-2,
            max_iter=1,
            random_state=1,
            **kw,
        ).fit(X, y)
    Y = mlp._engine_targets(mlp._validate_input(X, y, True, False)[1].reshape(5, -1))
    sw = rng.rand(5) + 0.5 if task.startswith("weighted") else None
    f = _engine.FullBatchObjective(mlp.model_, X, Y, sw, mlp.out_activation_, mlp.alpha)
    theta = f.pack()
    value, grad = f(theta)
    eps = 1e-6
    num = np.array(
        [(f(theta + eps * e)[0] - f(theta - eps * e)[0]) / (2 * eps) for e in np.eye(theta.size)]
    )
    print(f"{task}/{activation}: max |analytic - numeric| = {np.abs(grad - num).max():.3g}")
    assert_close(grad, num, rtol=1e-5, atol=1e-7, what="gradient")


# ---- sparse X ----------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["csr", "csc"])
@pytest.mark.parametrize("solver", ["sgd", "adam", "lbfgs"])
@pytest.mark.parametrize("backend", ["native", "numpy"])
def test_sparse_equals_dense(fmt, solver, backend, iris, monkeypatch):
    # 40-row chunks: L-BFGS and predict (the epochs read the sparse rows in the engine)
    monkeypatch.setattr(_engine, "CHUNK_BYTES", 40 * 4 * 8)
    X, y = iris
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    kw = dict(
        hidden_layer_sizes=(8,),
        random_state=0,
        max_iter=15,
        solver=solver,
        batch_size=20,
        backend=backend,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        dense = MLPClassifier(**kw).fit(X, y)
        sparse = MLPClassifier(**kw).fit(sp.csr_matrix(X) if fmt == "csr" else sp.csc_matrix(X), y)
    diff = max_coef_diff(dense, sparse)
    print(f"max |coef diff| sparse vs dense = {diff:.3g}")
    assert diff < 1e-12
    assert_close(
        sparse.predict_proba(sp.csr_matrix(X)),
        dense.predict_proba(X),
        rtol=1e-12,
        atol=1e-12,
        what="proba",
    )


def test_sparse_rows_go_to_the_engine_as_csr(iris, monkeypatch):
    """The C++ engine gets the CSR triple itself (no densified rows), one call per epoch with
    scikit-learn's order; duplicate entries of a non-canonical CSR matrix are summed."""
    from mlpcore import _core

    X, y = iris
    X = np.where(np.abs(X) < 0.5, 0.0, X)
    coo = sp.coo_matrix(X)
    half = coo.data / 2  # every entry stored twice, as two halves: not canonical
    Xs = sp.csr_matrix(
        (np.r_[half, half], (np.r_[coo.row, coo.row], np.r_[coo.col, coo.col])), shape=X.shape
    )
    Xs.has_canonical_format = False
    calls = []
    real = _core.Network64.train_epoch

    def spy(self, X_in, Y, options, *args):
        calls.append((type(X_in).__name__, len(options.order)))
        return real(self, X_in, Y, options, *args)

    monkeypatch.setattr(_core.Network64, "train_epoch", spy)
    kw = dict(hidden_layer_sizes=(8,), random_state=0, max_iter=4, solver="sgd", batch_size=20)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        sparse = MLPClassifier(**kw).fit(Xs, y)
        dense = MLPClassifier(**kw).fit(X, y)
    assert calls[:4] == [("tuple", 150)] * 4 and calls[4:] == [("ndarray", 150)] * 4
    diff = max_coef_diff(dense, sparse)
    print(f"max |coef diff| non-canonical CSR vs dense = {diff:.3g}")
    assert diff < 1e-12


@pytest.mark.parametrize("loss", ["squared_error", "poisson"])
def test_a_failing_epoch_changes_nothing(loss, regression, monkeypatch):
    """An exception after the engine ran an epoch (here: raised by a spy) leaves the
    weights, the optimizer moments and the counters as they were before that epoch."""
    from mlpcore import _core

    X, Y = regression
    Y = np.exp(Y) if loss == "poisson" else Y
    reg = MLPRegressor(
        loss=loss,
        hidden_layer_sizes=(8,),
        solver="adam",
        max_iter=2,
        warm_start=True,
        random_state=0,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        reg.fit(X, Y)
    net = reg.model_
    before = (
        net.get_weights(),
        net.get_optimizer_state(),
        net.opt_steps_,
        net.step_,
        net.epoch_,
        dict(net.optimizer_),
    )
    real = _core.Network64.train_epoch

    def failing(self, *args, **kw):
        real(self, *args, **kw)
        raise RuntimeError("after the epoch")

    monkeypatch.setattr(_core.Network64, "train_epoch", failing)
    with pytest.raises(RuntimeError, match="after the epoch"):
        reg.fit(X, Y)
    after = (
        net.get_weights(),
        net.get_optimizer_state(),
        net.opt_steps_,
        net.step_,
        net.epoch_,
        net.optimizer_,
    )
    for a, b in zip(before[0] + before[1][0] + before[1][1], after[0] + after[1][0] + after[1][1]):
        np.testing.assert_array_equal(a, b)
    assert before[2:] == after[2:] == (2, 2, 2, before[5])  # 2 epochs of one batch (120 rows)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dense_rows_are_not_copied(dtype, iris, monkeypatch):
    """The C++ engine reads the caller's float64 X itself every epoch (a float32 model
    converts batch by batch), in scikit-learn's shuffled order."""
    from mlpcore import _core

    X, y = iris
    X = np.ascontiguousarray(X, dtype=np.float64)
    seen = []
    cls = _core.Network32 if dtype == "float32" else _core.Network64
    real = cls.train_epoch

    def spy(self, X_in, Y, options, *args):
        seen.append(np.shares_memory(X_in, X) and len(options.order) == len(X))
        return real(self, X_in, Y, options, *args)

    monkeypatch.setattr(cls, "train_epoch", spy)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((8,), max_iter=3, random_state=0, dtype=dtype).fit(X, y)
    assert seen == [True] * 3


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_twin_runs_each_epoch_in_one_engine_call(solver, iris, monkeypatch):
    """Both engines take scikit-learn's order, weights, alpha and epsilon: one train_epoch
    call per epoch, and the twin's fit equals the C++ engine's."""
    from mlpcore.reference.network import Network

    X, y = iris
    kw = dict(
        hidden_layer_sizes=(8,),
        random_state=0,
        max_iter=5,
        solver=solver,
        batch_size=20,
        backend="numpy",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        calls = []
        real = Network.train_epoch
        monkeypatch.setattr(
            Network,
            "train_epoch",
            lambda self, X, *a, **k: (calls.append(len(X)), real(self, X, *a, **k))[1],
        )
        twin = MLPClassifier(**kw).fit(X, y)
        native = MLPClassifier(**{**kw, "backend": "native"}).fit(X, y)
    assert calls == [150] * 5
    diff = max_coef_diff(native, twin)
    print(f"max |coef diff| native vs twin = {diff:.3g}")
    assert diff < 1e-12


# ---- parameters ---------------------------------------------------------------------------------
@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
@pytest.mark.parametrize(
    "param, value, expected",
    [
        ("alpha", -1.0, "a float in the range [0, inf)"),
        ("solver", "newton", "one of 'lbfgs', 'sgd', 'adam'"),
        ("batch_size", 0, "'auto' or an int in the range [1, inf)"),
        ("learning_rate_init", 0.0, "a float in the range (0, inf)"),
        ("momentum", 1.5, "a float in the range [0, 1]"),
        ("max_iter", 2.5, "an int in the range [1, inf)"),
        ("hidden_layer_sizes", "ten", "an int >= 1 or an array-like"),
        ("shuffle", "yes", "a bool"),
        ("random_state", -3, "None, an int in [0, 2**32 - 1]"),
        ("n_iter_no_change", 0, "or one of inf"),
        ("dropout", 1.0, "a float in the range [0, 1)"),
        ("dtype", "int8", "'float32' or 'float64'"),
        ("n_threads", 0, "None or an int in the range [1, inf)"),
    ],
)
def test_bad_parameter_names_class_and_parameter(Est, param, value, expected, iris):
    X, y = iris
    with pytest.raises(ValueError) as err:
        Est(**{param: value}).fit(X, y)
    msg = str(err.value)
    print(msg)
    assert f"The {param!r} parameter of {Est.__name__} must be" in msg and expected in msg
    assert repr(value) in msg


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_unknown_parameter_names_the_class(Est):
    with pytest.raises(TypeError, match=f"{Est.__name__}.__init__.. got an unexpected keyword"):
        Est(learning_rate_initial=0.1)
    with pytest.raises(ValueError, match=f"Invalid parameter 'lr' for estimator {Est.__name__}"):
        Est().set_params(lr=0.1)


def test_hidden_layer_sizes_must_be_positive(iris):
    with pytest.raises(ValueError, match=r"hidden_layer_sizes must be > 0, got \[10, 0\]"):
        MLPClassifier((10, 0)).fit(*iris)


def test_every_sklearn_parameter_with_its_default():
    for ours, ref in ((MLPClassifier(), SkClassifier()), (MLPRegressor(), SkRegressor())):
        mine, theirs = ours.get_params(), ref.get_params()
        assert {k: mine[k] for k in theirs} == theirs
        assert set(mine) - set(theirs) <= {
            "batch_norm",
            "dropout",
            "dtype",
            "class_weight",
            "n_threads",
            "backend",
        }


def test_combinations_the_engine_cannot_run(iris, regression):
    with pytest.raises(ValueError, match="batch_norm and dropout need a stochastic solver"):
        MLPClassifier(solver="lbfgs", dropout=0.2).fit(*iris)
    X, Y = regression
    with pytest.raises(ValueError, match="needs y >= 0"):
        MLPRegressor(loss="poisson", solver="lbfgs").fit(X, Y)


# ---- behaviour ----------------------------------------------------------------------------------
def test_verbose_format(capsys, iris):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        MLPClassifier((5,), max_iter=2, verbose=True, early_stopping=True, random_state=0).fit(
            *iris
        )
    out = capsys.readouterr().out.splitlines()
    print(out)
    assert out[0].startswith("Iteration 1, loss = ") and len(out[0].split("= ")[1]) == 10
    assert out[1].startswith("Validation score: ")


def test_convergence_warning_and_stopping(iris):
    with pytest.warns(ConvergenceWarning, match=r"Maximum iterations \(3\) reached"):
        MLPClassifier(max_iter=3, random_state=0).fit(*iris)
    clf = MLPClassifier(solver="sgd", tol=0.5, random_state=0).fit(*iris)  # no warning
    assert clf.n_iter_ == clf.n_iter_no_change + 2 and clf.best_loss_ == min(clf.loss_curve_)


def test_warm_start_keeps_the_optimizer_moments(iris):
    clf = MLPClassifier(warm_start=True, max_iter=5, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(*iris)
        steps = clf.model_.opt_steps_
        clf.fit(*iris)
    assert steps == 5 and clf.model_.opt_steps_ == 10  # Adam's step count continues
    assert clf.n_iter_ == 5 and len(clf.loss_curve_) == 10 and clf.t_ == 1500


def test_assigned_coefs_are_trained_from(iris):
    X, y = iris
    clf = MLPClassifier(solver="sgd", momentum=0.0, max_iter=1, random_state=0).fit(X, y)
    clf.coefs_ = [np.zeros_like(c) for c in clf.coefs_]
    clf.intercepts_ = [np.zeros_like(b) for b in clf.intercepts_]
    clf.partial_fit(X, y)
    # all-zero weights: the hidden layer stays zero, only the output biases move
    assert not np.any(clf.coefs_[0]) and not np.any(clf.coefs_[1]) and np.any(clf.intercepts_[1])


def test_divergence_is_rolled_back_and_reported(iris):
    X, y = iris
    with pytest.raises(ValueError, match="Solver produced non-finite parameter weights"):
        MLPRegressor(
            solver="sgd", learning_rate_init=10.0, activation="identity", random_state=0
        ).fit(X * 1e3, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_dtype_option(dtype, iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=20, random_state=0, dtype=dtype).fit(X, y)
        ref = SkClassifier(max_iter=20, random_state=0).fit(X, y)
    assert clf.coefs_[0].dtype == dtype and clf.predict_proba(X).dtype == dtype
    diff = max_coef_diff(clf, ref)
    print(f"{dtype}: max |coef diff| vs scikit-learn (float64) = {diff:.3g}")
    assert diff < (1e-4 if dtype == "float32" else 1e-10)


def test_batch_norm_dropout_and_backends_agree(native, iris):
    X, y = iris
    kw = dict(
        hidden_layer_sizes=(16, 8),
        batch_norm=True,
        dropout=0.2,
        batch_size=16,
        max_iter=10,
        random_state=3,
        solver="sgd",
        learning_rate_init=0.05,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(backend="numpy", **kw).fit(X, y)
        b = MLPClassifier(backend="native", **kw).fit(X, y)
    assert_close(b.loss_curve_, a.loss_curve_, rtol=1e-9, atol=1e-9, what="loss curves")
    assert_close(b.predict_proba(X), a.predict_proba(X), rtol=1e-9, atol=1e-9, what="proba")
    assert b.score(X, y) > 0.8 and len(b.coefs_) == 3


def test_n_threads_and_pickle(iris):
    X, y = iris
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf = MLPClassifier(max_iter=5, random_state=0, n_threads=1).fit(X, y)
        back = pickle.loads(pickle.dumps(clf))
        np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
        back.partial_fit(X, y)
        clf.partial_fit(X, y)
    assert max_coef_diff(back, clf) == 0  # the optimizer moments travelled too


def test_zero_weights_drop_the_samples(iris):
    X, y = iris
    w = np.where(np.arange(150) % 3 == 0, 0.0, 1.0)
    a = MLPClassifier(solver="lbfgs", random_state=0, max_iter=30)
    b = clone(a)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a.fit(X, y, sample_weight=w)
        b.fit(X[w > 0], y[w > 0])
    assert max_coef_diff(a, b) < 1e-12


def test_weighted_lbfgs_regression_equals_duplication(regression):
    X, Y = regression
    w = np.arange(len(X)) % 3  # 0, 1, 2
    kw = dict(solver="lbfgs", random_state=0, max_iter=20, hidden_layer_sizes=(10,))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for backend in ("native", "numpy"):  # the twin: weights computed in Python
            a = MLPRegressor(backend=backend, **kw).fit(X, Y, sample_weight=w)
            b = MLPRegressor(**kw).fit(np.repeat(X, w, axis=0), np.repeat(Y, w, axis=0))
            diff = max_coef_diff(a, b)
            print(f"{backend}: max |coef diff| weights vs duplication = {diff:.3g}")
            assert diff < 1e-8


def test_unequal_weights_on_the_twin(iris):
    """backend="numpy": the twin's fit with unequal weights equals the C++ engine's."""
    X, y = iris
    w = np.arange(150) % 2 + 1.0
    kw = dict(hidden_layer_sizes=(8,), max_iter=5, random_state=0)
    twin = MLPClassifier(backend="numpy", **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        twin.fit(X, y, sample_weight=w)
        native = MLPClassifier(**kw).fit(X, y, sample_weight=w)
    assert max_coef_diff(twin, native) < 1e-12


@pytest.mark.parametrize("solver", ["lbfgs", "adam", "sgd"])
def test_weights_equal_duplication(solver, iris):
    X, y = iris
    w = np.arange(150) % 3  # 0, 1, 2: zero weights drop out, weight 2 counts twice
    kw = dict(solver=solver, random_state=0, max_iter=10, batch_size=1000, alpha=0.1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning, batch_size clipped
        a = MLPClassifier(**kw).fit(X, y, sample_weight=w)
        b = MLPClassifier(**kw).fit(np.repeat(X, w, axis=0), np.repeat(y, w))
    diff = max_coef_diff(a, b)
    print(f"max |coef diff| weights vs duplication = {diff:.3g}")
    assert diff < 1e-8
    assert_close(a.loss_, b.loss_, rtol=1e-8, atol=1e-10, what="loss_")


@pytest.mark.parametrize("solver", ["lbfgs", "sgd"])
def test_class_weight(solver, iris):
    X, y = iris
    keep = np.r_[0:50, 50:60, 100:150]  # class 1 has 10 samples, the others 50
    counts = np.bincount(y[keep])
    kw = dict(solver=solver, random_state=0, max_iter=20, batch_size=32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        a = MLPClassifier(class_weight={0: 1, 1: 5, 2: 1}, **kw).fit(X[keep], y[keep])
        b = MLPClassifier(**kw).fit(X[keep], y[keep], sample_weight=np.where(y[keep] == 1, 5, 1))
        c = MLPClassifier(class_weight="balanced", **kw).fit(X[keep], y[keep])
        d = SkClassifier(**kw).fit(
            X[keep], y[keep], sample_weight=np.array([110 / 150, 110 / 30, 110 / 150])[y[keep]]
        )
    assert max_coef_diff(a, b) == 0 and counts.tolist() == [50, 10, 50]
    diff = max_coef_diff(c, d)
    print(f"balanced vs scikit-learn with n / (3 * count) weights: max |coef diff| = {diff:.3g}")
    assert diff < (1e-9 if solver == "lbfgs" else 1e-12)


# ---- scikit-learn tooling -----------------------------------------------------------------------
def test_pipeline_grid_search_clone(iris):
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), MLPClassifier(max_iter=300, random_state=0))
    grid = GridSearchCV(pipe, {"mlpclassifier__alpha": [1e-4, 1e-1]}, cv=3).fit(X, y)
    assert grid.best_score_ > 0.9
    assert clone(grid.best_estimator_[-1]).get_params() == grid.best_estimator_[-1].get_params()


@pytest.mark.parametrize("Est", [MLPClassifier, MLPRegressor])
def test_not_fitted(Est):
    with pytest.raises(NotFittedError):
        Est().predict(np.zeros((2, 3)))


def test_partial_fit_not_for_lbfgs():
    assert not hasattr(MLPClassifier(solver="lbfgs"), "partial_fit")
    assert hasattr(MLPRegressor(solver="sgd"), "partial_fit")


@pytest.mark.parametrize("data", ["iris", "wine"])
def test_default_scores_match_sklearn(data):
    """The estimators score as scikit-learn's on the fast data sets (bench/bench_sklearn.py has all five):
    5-fold CV of make_pipeline(StandardScaler(), est) with default parameters."""
    X, y = {"iris": load_iris, "wine": load_wine}[data](return_X_y=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        ours = cross_val_score(
            make_pipeline(StandardScaler(), MLPClassifier(random_state=0)), X, y, cv=5
        ).mean()
        ref = cross_val_score(
            make_pipeline(StandardScaler(), SkClassifier(random_state=0)), X, y, cv=5
        ).mean()
    print(f"{data}: mlpcore {ours:.4f}, scikit-learn {ref:.4f}")
    assert ours >= ref - 0.01


# ---- the lazy import ----------------------------------------------------------------------------
def test_import_mlpcore_needs_no_sklearn():
    code = (
        "import sys, mlpcore; assert 'sklearn' not in sys.modules; "
        "assert 'MLPClassifier' in dir(mlpcore); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "ok" in out.stdout, out.stderr


def test_estimators_without_sklearn_say_what_to_install():
    code = (
        "import sys; sys.modules['sklearn'] = None\n"
        "import mlpcore\n"
        "try:\n    from mlpcore import MLPRegressor\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert (
        'pip install scikit-learn (in a clone of mlpcore: pip install ".[sklearn]")' in out.stdout
    ), out.stdout + out.stderr
    import mlpcore

    assert mlpcore.MLPClassifier is MLPClassifier
    with pytest.raises(AttributeError, match="no attribute 'MLPThing'"):
        mlpcore.MLPThing  # noqa: B018


@pytest.mark.parametrize("solver", ["sgd", "adam"])
def test_numpy_backend_trains_like_the_native_one_with_weights(solver):
    """The twin now has every engine option the estimators use (sample weights, scikit-learn's
    alpha, the sample order, scikit-learn's Adam eps): both backends give the same weights."""
    pytest.importorskip("mlpcore._core")
    from sklearn.datasets import load_iris

    X, y = load_iris(return_X_y=True)
    w = np.random.default_rng(0).uniform(0.5, 2, len(y))
    fitted = [
        MLPClassifier(
            (8,),
            solver=solver,
            max_iter=20,
            random_state=0,
            batch_size=16,
            alpha=1e-3,
            backend=backend,
        ).fit(X, y, sample_weight=w)
        for backend in ("native", "numpy")
    ]
    diff = max(
        float(np.abs(a - b).max())
        for a, b in zip(
            fitted[0].coefs_ + fitted[0].intercepts_, fitted[1].coefs_ + fitted[1].intercepts_
        )
    )
    print(f"{solver}: native vs numpy, max weight difference {diff:.3g}")
    assert diff < 1e-12
