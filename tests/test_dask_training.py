"""One model trained data-parallel on a dask.distributed LocalCluster of two worker processes
(mlpcore/_dask.py, docs/distributed.md): full batch and L-BFGS equal the single-machine fit
to rounding; minibatch (local SGD, averaged every epoch) reaches its accuracy within one
point; DataFrames with a string/categorical label column through the estimators; History,
callbacks, validation data; a killed worker; Ctrl-C. Skipped without dask.distributed."""

import os
import signal
import subprocess
import sys
import threading
import warnings

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from sklearn.datasets import load_digits, load_iris, make_classification  # noqa: E402
from sklearn.exceptions import ConvergenceWarning  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402

import mlpcore as mc  # noqa: E402


def _one_thread():
    import threadpoolctl

    import mlpcore._core  # noqa: F401  (its OpenBLAS, so that the limit reaches it)

    threadpoolctl.threadpool_limits(1)


@pytest.fixture(scope="module")
def client():
    # two worker processes, one thread each (the machine has two cores); the HTTP server on a
    # free port (the default 8787 may be taken by another cluster: a UserWarning)
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        ) as cluster,
        distributed.Client(cluster) as c,
    ):
        c.run(_one_thread)
        yield c


def _max_diff(a, b):
    return max(float(np.abs(np.asarray(p) - np.asarray(q)).max()) for p, q in zip(a, b))


def _xor_data(n=600, d=5, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    y = (X[:, 0] + X[:, 1] ** 2 > 1).astype(int)
    return X, y


def _net(d=5, k=2, **kw):
    return mc.Sequential(
        [mc.Dense(d, 16), mc.Tanh(), mc.Dense(16, k)],
        loss="softmax_cross_entropy",
        dtype="float64",
        seed=0,
        **kw,
    )


# ---- full batch: the partitions' gradients summed equal the whole batch's -----------------------
@pytest.mark.parametrize(
    "opt",
    [
        dict(optimizer="adam", lr=0.01),
        dict(optimizer=mc.SGD(lr=0.2, momentum=0.9, nesterov=True, weight_decay=1e-3)),
        dict(optimizer=mc.AdamW(lr=mc.schedules.StepDecay(0.02, 5, 0.5)), clip_norm=0.5),
    ],
    ids=["adam", "nesterov", "adamw-schedule-clip"],
)
def test_full_batch_equals_single_machine(client, opt):
    X, y = _xor_data()
    w = np.random.default_rng(1).uniform(0.5, 2.0, X.shape[0])
    kw = dict(epochs=15, batch_size=len(X), l2_alpha=1e-3, grad_norms=True, **opt)
    local, dist = _net(), _net()
    h1 = local.fit(X, y, sample_weight=w, **kw)
    # three uneven blocks on two workers
    chunks = ((250, 200, 150),)
    h2 = dist.fit(
        da.from_array(X, chunks=(chunks[0], 5)),
        da.from_array(y, chunks=chunks),
        sample_weight=da.from_array(w, chunks=chunks),
        **kw,
    )
    diff = _max_diff(local.get_weights(), dist.get_weights())
    loss_diff = float(np.abs(np.array(h1) - np.array(h2)).max())
    print(f"full batch, 15 epochs: max |weights difference| {diff:.2e}, losses {loss_diff:.2e}")
    assert diff < 1e-12 and loss_diff < 1e-12
    np.testing.assert_allclose(h1.history["grad_norm_0"], h2.history["grad_norm_0"], rtol=1e-10)
    assert (dist.epoch_, dist.step_, dist.opt_steps_) == (local.epoch_, local.step_, 15)
    assert dist.get_optimizer_state()[0][0].any()


def test_lbfgs_classifier_dataframe_with_string_labels(client):
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    df = pd.DataFrame(X, columns=["sl", "sw", "pl", "pw"])
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    df["species"] = names
    df["species_cat"] = pd.Categorical(names)
    ddf = dd.from_pandas(df, npartitions=3)
    cols = ["sl", "sw", "pl", "pw"]
    kw = dict(hidden_layer_sizes=(10,), solver="lbfgs", random_state=0, max_iter=15)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        local = mc.MLPClassifier(**kw).fit(df[cols], df["species"])
        for label in ("species", "species_cat"):
            dist = mc.MLPClassifier(**kw).fit(ddf[cols], ddf[label])
            diff = _max_diff(local.coefs_ + local.intercepts_, dist.coefs_ + dist.intercepts_)
            print(f"L-BFGS on a DataFrame ({label}), 15 iterations: max difference {diff:.2e}")
            assert diff < 1e-9
            assert list(dist.classes_) == ["setosa", "versicolor", "virginica"]
            assert list(dist.feature_names_in_) == cols
            assert dist.n_iter_ == local.n_iter_ and abs(dist.loss_ - local.loss_) < 1e-12
            assert (dist.predict(df[cols]) == local.predict(df[cols])).all()


def test_lbfgs_regressor_and_binary_classifier_on_dask_arrays(client):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 6))
    y = X @ rng.normal(size=6) + 0.1 * rng.normal(size=400)
    Xd, yd = da.from_array(X, chunks=(130, 3)), da.from_array(y, chunks=100)  # misaligned
    kw = dict(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0, max_iter=20, alpha=1e-3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        r1, r2 = mc.MLPRegressor(**kw).fit(X, y), mc.MLPRegressor(**kw).fit(Xd, yd)
        labels = np.where(y > 0, "yes", "no")
        c1 = mc.MLPClassifier(**kw).fit(X, labels)
        c2 = mc.MLPClassifier(**kw).fit(Xd, da.from_array(labels, chunks=200))
    d_r = _max_diff(r1.coefs_ + r1.intercepts_, r2.coefs_ + r2.intercepts_)
    d_c = _max_diff(c1.coefs_ + c1.intercepts_, c2.coefs_ + c2.intercepts_)
    print(f"L-BFGS on dask arrays: regressor {d_r:.2e}, binary classifier {d_c:.2e}")
    assert d_r < 1e-9 and d_c < 1e-9 and list(c2.classes_) == ["no", "yes"]


# ---- minibatch: local SGD averaged every epoch --------------------------------------------------
def _minibatch_accuracy(X, y, layers, epochs, n_parts):
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.25, random_state=0, stratify=y)

    def make():
        return mc.Sequential(layers(), loss="softmax_cross_entropy", seed=0)

    kw = dict(epochs=epochs, batch_size=64, optimizer="adam", lr=3e-3)
    local = make()
    local.fit(Xtr, ytr, **kw)
    rows = -(-len(Xtr) // n_parts)
    dist = make()
    hist = dist.fit(
        da.from_array(Xtr, chunks=(rows, X.shape[1])), da.from_array(ytr, chunks=rows), **kw
    )
    a1 = local.evaluate(Xte, yte)["accuracy"]
    a2 = dist.evaluate(Xte, yte)["accuracy"]
    return a1, a2, hist, dist


def test_minibatch_digits_within_one_point(client):
    X, y = load_digits(return_X_y=True)
    X = X / 16.0

    def layers():
        return [mc.Dense(64, 64), mc.BatchNorm(64), mc.ReLU(), mc.Dropout(0.1), mc.Dense(64, 10)]

    a1, a2, hist, dist = _minibatch_accuracy(X, y, layers, 30, 2)
    print(f"digits, 30 epochs, batch 64, adam: single machine {a1:.4f}, 2 workers {a2:.4f}")
    assert a2 >= a1 - 0.01
    # the running statistics were averaged (not left at their initial values)
    mean, var = dist.get_state()
    assert np.abs(mean).max() > 0 and not np.allclose(var, 1)
    # batch_size is the global batch: the 2 partitions (674 and 673 rows) take batches of
    # 32: 22 and 21 steps per epoch (673 = 21 x 32 + 1, the one-sample batch folded, batch
    # norm); every step's dropout masks have their own step number; the moments and the
    # schedule count the local steps (the larger partition's)
    assert dist.step_ == 30 * (22 + 21) and dist.opt_steps_ == 30 * 22
    assert hist.params["steps"] == 22


def test_minibatch_synthetic_within_one_point(client):
    X, y = make_classification(
        12000, 20, n_informative=10, n_classes=3, random_state=0, class_sep=1.0
    )

    def layers():
        return [mc.Dense(20, 64), mc.ReLU(), mc.Dense(64, 64), mc.ReLU(), mc.Dense(64, 3)]

    a1, a2, _, _ = _minibatch_accuracy(X, y, layers, 20, 4)
    print(f"synthetic 12000 x 20, 3 classes, 20 epochs: single {a1:.4f}, 4 partitions {a2:.4f}")
    assert a2 >= a1 - 0.01


# ---- the loop around it ---------------------------------------------------------------------
def test_history_callbacks_early_stopping_and_dask_validation_data(client):
    X, y = _xor_data(800)
    Xv, yv = _xor_data(200, seed=5)
    seen = []
    net = _net()
    hist = net.fit(
        da.from_array(X, chunks=(200, 5)),
        da.from_array(y, chunks=200),
        epochs=200,
        batch_size=32,
        optimizer="adam",
        lr=0.05,
        validation_data=(da.from_array(Xv, chunks=100), da.from_array(yv, chunks=100)),
        callbacks=[
            mc.callbacks.EarlyStopping("val_loss", patience=2, restore_best_weights=True),
            mc.callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(e)),
        ],
        record_steps=True,
    )
    n = len(hist)
    assert 3 <= n < 200 and seen == list(range(n)) and net.history_["epoch"] == seen
    assert set(hist.history) >= {"loss", "val_loss", "val_accuracy", "lr", "time"}
    best = int(np.argmin(hist.history["val_loss"]))
    assert abs(net.evaluate(Xv, yv)["loss"] - hist.history["val_loss"][best]) < 1e-12
    # the global batch 32 is 8 rows on each of the 4 partitions of 200 rows: 25 steps each
    assert len(hist.step_losses[0]) == 4 * 25 and hist.params["steps"] == 25
    assert hist.history["val_accuracy"][best] > 0.85


def test_errors_say_what_to_do(client):
    X, y = _xor_data(100)
    Xd, yd = da.from_array(X, chunks=50), da.from_array(y, chunks=50)
    net = _net()
    with pytest.raises(ValueError, match="validation_data"):
        net.fit(Xd, yd, validation_split=0.2)
    with pytest.raises(ValueError, match="sample_weight"):
        net.fit(Xd, yd, class_weight="balanced")
    with pytest.raises(ValueError, match="class labels must lie in"):
        net.fit(Xd, da.from_array(y + 5, chunks=50))
    with pytest.raises(ValueError, match="5 features per sample, the network expects 4"):
        mc.Sequential([mc.Dense(4, 2)], loss="mse").fit(Xd, yd)
    bn = mc.Sequential([mc.Dense(5, 4), mc.BatchNorm(4), mc.Dense(4, 2)], loss="mse", seed=0)
    with pytest.raises(ValueError, match="minibatch batch_size"):
        bn.fit(Xd, da.from_array(X[:, :2], chunks=50), batch_size=100)
    with pytest.raises(ValueError, match="solver='lbfgs'"):
        mc.MLPClassifier(solver="adam").fit(Xd, yd)
    assert net.epoch_ == 0 and len(net.history_["loss"]) == 0


def test_without_a_client_the_error_says_how():
    X, y = _xor_data(100)
    code = (
        "import numpy as np, dask.array as da, mlpcore as mc\n"
        "net = mc.Sequential([mc.Dense(2, 2)], loss='softmax_cross_entropy')\n"
        "try:\n"
        "    net.fit(da.ones((10, 2)), da.zeros(10, dtype=int))\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert "create a client" in out.stdout, out.stderr


def test_import_mlpcore_imports_no_dask():
    code = (
        "import sys, mlpcore; assert 'pandas' not in sys.modules; "
        "import mlpcore.estimators; "
        "bad = [m for m in ('dask', 'distributed') if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- failures: Ctrl-C and a lost worker --------------------------------------------------------
def test_ctrl_c_cancels_the_round_and_keeps_the_last_epoch(client):
    X, y = _xor_data(3000)
    Xd, yd = da.from_array(X, chunks=(750, 5)), da.from_array(y, chunks=750)
    net = _net()
    # a process started with SIGINT ignored (a background job of a script, as CI may be) has
    # no Python handler: install the default one, the test is about fit, not about the parent
    inherited = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            net.fit(Xd, yd, epochs=100_000, batch_size=len(X), optimizer="adam", lr=0.01)
    finally:
        timer.cancel()
        signal.signal(signal.SIGINT, inherited)
    done = net.epoch_
    assert done == len(net.history_["loss"]) >= 1
    # the model is the one of `done` completed epochs: the single-machine fit of as many
    ref = _net()
    ref.fit(X, y, epochs=done, batch_size=len(X), optimizer="adam", lr=0.01)
    diff = _max_diff(ref.get_weights(), net.get_weights())
    print(f"interrupted after {done} epochs: max difference to {done} local epochs {diff:.2e}")
    assert diff < 1e-12
    # nothing of the interrupted round keeps running on the cluster
    distributed.wait(client.submit(int, 0))
    for _ in range(100):
        if not any(client.processing().values()):
            break
        threading.Event().wait(0.05)
    assert not any(client.processing().values())


def test_killed_worker_recovers_to_the_same_model(client):
    X, y = _xor_data(900)
    kw = dict(epochs=8, batch_size=len(X), optimizer="adam", lr=0.01)
    ref = _net()
    ref.fit(X, y, **kw)
    workers = list(client.scheduler_info()["workers"])

    pid = client.run(os.getpid, workers=[workers[0]])[workers[0]]

    def kill(epoch, logs):
        if epoch == 2:  # one worker process dies (its data with it); its nanny starts a new one
            os.kill(pid, signal.SIGKILL)

    net = _net()
    net.fit(
        da.from_array(X, chunks=(300, 5)),
        da.from_array(y, chunks=300),
        callbacks=[mc.callbacks.LambdaCallback(on_epoch_end=kill)],
        **kw,
    )
    diff = _max_diff(ref.get_weights(), net.get_weights())
    print(f"a worker killed after epoch 3 of 8: max difference to the local fit {diff:.2e}")
    assert diff < 1e-12 and net.epoch_ == 8
    client.wait_for_workers(2, timeout=60)
