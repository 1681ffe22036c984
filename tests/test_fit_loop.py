"""Sequential.fit as a user sees it: History, net.history_ across fits and files, evaluate and
its metrics, validation_split, class_weight, callbacks, verbose output, the divergence checks,
and Ctrl-C during a long epoch (in a subprocess)."""

import csv
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import Dense, ReLU, Tanh
from mlpcore._engine import EpochOptions
from mlpcore.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ReduceLROnPlateau,
)

from conftest import assert_all_equal, assert_close, assert_unchanged, make, snapshot


def _clf(backend, seed=0, k=3, d=4):
    return make(
        [Dense(d, 16), ReLU(), Dense(16, k)], backend, loss="softmax_cross_entropy", seed=seed
    )


def _data(rng, n=60, d=4, k=3):
    X = rng.normal(size=(n, d))
    return X, (X[:, 0] > 0).astype(int) + (X[:, 1] > 1).astype(int) * (k > 2)


# ---- History and history_ ------------------------------------------------------------------
def test_history_is_the_list_of_losses_and_a_keras_like_record(backend, rng):
    X, y = _data(rng)
    model = _clf(backend)
    h = model.fit(
        X, y, epochs=4, batch_size=16, lr=0.1, validation_data=(X[:20], y[:20]), grad_norms=True
    )
    assert isinstance(h, list) and isinstance(h, mc.History) and len(h) == 4
    assert list(h) == h.history["loss"] == model.history_["loss"]
    assert h.epoch == [0, 1, 2, 3]
    assert set(h.history) == {
        "epoch",
        "loss",
        "val_loss",
        "val_accuracy",
        "lr",
        "time",
        "grad_norm_0",
        "grad_norm_2",
    }
    assert h.history["lr"] == [0.1] * 4
    assert all(t > 0 for t in h.history["time"])
    assert h.history["val_loss"][-1] == pytest.approx(model.loss(X[:20], y[:20]), rel=1e-12)
    assert h.history["val_accuracy"][-1] == model.evaluate(X[:20], y[:20])["accuracy"]
    assert h.params["steps"] == 4 and h.params["samples"] == 60
    pytest.importorskip("pandas")
    df = h.to_pandas()
    assert list(df.index) == [0, 1, 2, 3] and df["loss"].tolist() == list(h)
    h2 = pickle.loads(pickle.dumps(h))
    assert h2 == h and h2.history == h.history and h2.epoch == h.epoch


def test_history_accumulates_across_fits_and_files(backend, rng, tmp_path):
    X, y = _data(rng)
    model = _clf(backend)
    model.fit(X, y, epochs=2, batch_size=16, validation_split=0.25, grad_norms=True)
    model.fit(X, y, epochs=3, batch_size=16, record_steps=True)
    hist = model.history_
    # each fit numbers its epochs as Keras does (0 .. epochs - 1); epoch_ counts them all
    assert hist["epoch"] == [0, 1, 0, 1, 2] and model.epoch_ == 5
    assert all(type(e) is int for e in hist["epoch"])
    assert len(hist["loss"]) == 5 and hist["val_loss"][2:] == [None] * 3
    assert all(len(v) == 5 for v in hist.values())
    mc.save(model, tmp_path / "m.npz")
    for copy in (mc.load(tmp_path / "m.npz"), pickle.loads(pickle.dumps(model))):
        assert copy.history_ == hist
    # the whole record plots (matplotlib) or says what to install
    try:
        import matplotlib

        matplotlib.use("Agg")
        axes = mc.history.plot_history(hist)
        assert len(axes) == 3
    except ImportError:
        pass


def test_plot_without_matplotlib_says_what_to_install(backend, rng, monkeypatch):
    X, y = _data(rng)
    h = _clf(backend).fit(X, y, epochs=1)
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(
        ImportError,
        match=r"pip install matplotlib \(in a clone of mlpcore: "
        r"pip install \"\.\[plot\]\"\)",
    ):
        h.plot()


def test_plot_draws_loss_metrics_and_gradient_norms(backend, rng):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    X, y = _data(rng)
    h = _clf(backend).fit(X, y, epochs=3, validation_split=0.2, grad_norms=True)
    axes = h.plot()
    assert [len(a.get_lines()) for a in axes] == [2, 1, 2]  # loss+val, accuracy, 2 layers


def test_to_pandas_without_pandas(backend, rng, monkeypatch):
    X, y = _data(rng)
    h = _clf(backend).fit(X, y, epochs=1)
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(ImportError, match="pip install pandas"):
        h.to_pandas()


def test_record_steps_keeps_every_step_loss(backend, rng):
    X, y = _data(rng, n=50)
    model = _clf(backend)
    w0 = model.get_weights()
    h = model.fit(X, y, epochs=2, batch_size=20, lr=0.1, record_steps=True, shuffle=False)
    assert [s.shape for s in h.step_losses] == [(3,), (3,)]
    # the first step's loss is the loss of the first batch before any update
    fresh = _clf(backend)
    fresh.set_weights(w0)
    assert h.step_losses[0][0] == pytest.approx(fresh.loss(X[:20], y[:20], training=True), 1e-12)
    # the epoch loss is the size-weighted mean of its step losses
    assert h[1] == pytest.approx(np.average(h.step_losses[1], weights=[20, 20, 10]), rel=1e-12)
    assert _clf(backend).fit(X, y, epochs=1).step_losses == []


# ---- evaluate and metrics ------------------------------------------------------------------
def test_evaluate_classification_and_regression(backend, rng):
    from sklearn.metrics import accuracy_score, mean_absolute_error, r2_score

    X, y = _data(rng)
    w = rng.uniform(0.5, 2, len(X))
    clf = _clf(backend)
    clf.fit(X, y, epochs=5, lr=0.1)
    ev = clf.evaluate(X, y, sample_weight=w)
    pred = clf.predict(X).argmax(axis=1)
    assert ev["accuracy"] == pytest.approx(accuracy_score(y, pred, sample_weight=w), abs=1e-15)
    assert ev["loss"] == pytest.approx(clf.loss(X, y, sample_weight=w), rel=1e-15)
    Y = np.c_[X[:, 0] + 0.5 * X[:, 1], X[:, 2] ** 2]
    for loss, targets in (("mse", Y), ("poisson", np.exp(0.3 * Y))):
        reg = make([Dense(4, 8), Tanh(), Dense(8, 2)], backend, loss=loss, seed=0)
        reg.fit(X, targets, epochs=5, lr=0.01)
        ev = reg.evaluate(X, targets, sample_weight=w)
        H = reg.predict(X)
        assert set(ev) == {"loss", "r2", "mae"}
        assert ev["r2"] == pytest.approx(r2_score(targets, H, sample_weight=w), abs=1e-12)
        assert ev["mae"] == pytest.approx(
            mean_absolute_error(targets, H, sample_weight=w), abs=1e-12
        )
    binary = make([Dense(4, 1)], backend, loss="binary_cross_entropy", seed=0)
    yb = (X[:, 0] > 0).astype(int)
    acc = binary.evaluate(X, yb)["accuracy"]
    assert acc == accuracy_score(yb, binary.predict(X)[:, 0] > 0.5)


# ---- validation_split and class_weight -----------------------------------------------------
def test_validation_split_is_a_seeded_stratified_hold_out(backend, rng):
    from mlpcore._training import _split

    X, y = _data(rng, n=80)
    y[:10] = 2  # an imbalanced third class
    a = _clf(backend, seed=5)
    ha = a.fit(X, y, epochs=3, batch_size=16, validation_split=0.25)
    Y = np.eye(3)[y]
    tr, va = _split(80, 0.25, Y, "softmax_cross_entropy", 5)
    assert va.size == 20 and np.intersect1d(tr, va).size == 0
    for c in range(3):  # stratified: each class keeps its share (rounded)
        assert (y[va] == c).sum() == round(0.25 * (y == c).sum())
    b = _clf(backend, seed=5)
    hb = b.fit(X[tr], y[tr], epochs=3, batch_size=16, validation_data=(X[va], y[va]))
    assert list(ha) == list(hb) and ha.history["val_loss"] == hb.history["val_loss"]
    assert_all_equal(a.get_weights(), b.get_weights(), "weights")
    with pytest.raises(ValueError, match="validation_split must be a fraction"):
        a.fit(X, y, validation_split=1.0)
    with pytest.raises(ValueError, match="not both"):
        a.fit(X, y, validation_split=0.1, validation_data=(X, y))


def test_class_weight_balanced_is_scikit_learns(backend, rng):
    from sklearn.utils.class_weight import compute_sample_weight

    X, y = _data(rng, n=70)
    y[:8] = 2
    a, b = _clf(backend), _clf(backend)
    ha = a.fit(X, y, epochs=2, batch_size=10, class_weight="balanced")
    hb = b.fit(X, y, epochs=2, batch_size=10, sample_weight=compute_sample_weight("balanced", y))
    assert_close(list(ha), list(hb), rtol=1e-12, atol=0, what="losses")
    c = _clf(backend)
    hc = c.fit(X, y, epochs=2, batch_size=10, class_weight={2: 3.0})
    d = _clf(backend)
    hd = d.fit(X, y, epochs=2, batch_size=10, sample_weight=np.where(y == 2, 3.0, 1.0))
    assert list(hc) == list(hd)
    with pytest.raises(ValueError, match="class_weight needs a classification loss"):
        make([Dense(4, 1)], backend).fit(X, X[:, 0], class_weight="balanced")
    with pytest.raises(ValueError, match="class indices"):
        c.fit(X, y, class_weight={5: 1.0})


# ---- optimizer objects in fit ------------------------------------------------------------
def test_optimizer_object_settings_cannot_be_overridden_in_fit(backend, rng):
    X, y = _data(rng)
    model = _clf(backend)
    with pytest.raises(ValueError, match="lr, momentum given to fit together with"):
        model.fit(X, y, optimizer=mc.SGD(0.1), lr=0.2, momentum=0.5)
    a, b = _clf(backend), _clf(backend)
    a.fit(X, y, epochs=2, optimizer=mc.SGD(lr=0.05, momentum=0.9, weight_decay=1e-3))
    b.fit(X, y, epochs=2, optimizer="sgd", lr=0.05, momentum=0.9, weight_decay=1e-3)
    assert_all_equal(a.get_weights(), b.get_weights(), "object vs string optimizer")


# ---- callbacks -----------------------------------------------------------------------------
class Recorder(Callback):
    def __init__(self):
        self.calls = []

    def on_train_begin(self, logs=None):
        self.calls.append("begin")

    def on_epoch_begin(self, epoch, logs=None):
        self.calls.append(("epoch_begin", epoch))

    def on_epoch_end(self, epoch, logs=None):
        self.calls.append(("epoch_end", epoch, logs["loss"]))
        if epoch == 2:
            self.loop.stop_training = True

    def on_train_end(self, logs=None):
        self.calls.append("end")


def test_callback_protocol_and_stop_training(backend, rng):
    X, y = _data(rng)
    model = _clf(backend)
    model.fit(X, y, epochs=1)
    rec = Recorder()
    # resuming: epochs 1 .. 9 (Keras' numbering); the recorder stops after epoch 2
    h = model.fit(X, y, epochs=10, initial_epoch=1, callbacks=[rec])
    assert rec.model is model and len(h) == 2 and model.epoch_ == 3
    assert rec.calls == [
        "begin",
        ("epoch_begin", 1),
        ("epoch_end", 1, h[0]),
        ("epoch_begin", 2),
        ("epoch_end", 2, h[1]),
        "end",
    ]
    assert h.epoch == [1, 2] and h.history["epoch"] == [1, 2]


def test_early_stopping_restores_the_best_weights(backend, rng):
    X, y = rng.normal(size=(20, 5)), rng.integers(0, 2, 20)
    Xv, yv = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    model = make([Dense(5, 64), ReLU(), Dense(64, 1)], backend, loss="binary_cross_entropy", seed=0)
    cb = EarlyStopping(monitor="val_loss", patience=4, restore_best_weights=True)
    h = model.fit(X, y, epochs=300, batch_size=5, lr=0.2, validation_data=(Xv, yv), callbacks=[cb])
    best = int(np.argmin(h.history["val_loss"]))
    assert len(h) == best + 5 < 300 and cb.stopped_epoch == len(h) - 1
    assert model.loss(Xv, yv) == pytest.approx(h.history["val_loss"][best], rel=1e-12)
    # the patience= shortcut does the same
    other = make([Dense(5, 64), ReLU(), Dense(64, 1)], backend, loss="binary_cross_entropy", seed=0)
    h2 = other.fit(X, y, epochs=300, batch_size=5, lr=0.2, validation_data=(Xv, yv), patience=4)
    assert list(h2) == list(h)
    assert_all_equal(other.get_weights(), model.get_weights(), "patience= vs EarlyStopping")


def test_early_stopping_on_a_metric_in_max_mode(backend, rng):
    X, y = _data(rng)
    cb = EarlyStopping(monitor="val_accuracy", patience=2, min_delta=0.5)  # auto: max
    h = _clf(backend).fit(X, y, epochs=50, validation_split=0.3, callbacks=[cb])
    assert cb.mode == "max" and len(h) == 3  # never improves by 0.5 after the first epoch
    with pytest.raises(ValueError, match="cannot monitor 'val_r2'"):
        _clf(backend).fit(X, y, epochs=2, validation_split=0.3, callbacks=[EarlyStopping("val_r2")])


def test_model_checkpoint_saves_the_best(backend, rng, tmp_path):
    X, y = _data(rng)
    path = tmp_path / "best.npz"
    model = _clf(backend)
    h = model.fit(
        X,
        y,
        epochs=8,
        lr=0.5,
        validation_split=0.3,
        callbacks=[ModelCheckpoint(path, save_best_only=True)],
    )
    best = int(np.argmin(h.history["val_loss"]))
    saved = mc.load(path)
    assert saved.epoch_ == best + 1
    assert saved.history_["val_loss"][-1] == min(h.history["val_loss"])
    every = ModelCheckpoint(str(tmp_path / "ep{epoch:02d}.npz"))
    model.fit(X, y, epochs=10, initial_epoch=8, callbacks=[every])
    assert sorted(os.listdir(tmp_path)) == ["best.npz", "ep08.npz", "ep09.npz"]


def test_reduce_lr_on_plateau_and_learning_rate_scheduler(backend, rng):
    X, y = _data(rng)
    # the monitored loss never improves by 1e9: after the first epoch, every epoch reduces
    cb = ReduceLROnPlateau(
        monitor="loss", factor=0.5, patience=0, min_delta=1e9, threshold_mode="abs"
    )
    h = _clf(backend).fit(X, y, epochs=4, lr=0.1, callbacks=[cb])
    assert_close(h.history["lr"], [0.1, 0.1, 0.05, 0.025], rtol=1e-15, atol=0)
    sched = LearningRateScheduler(lambda epoch, lr: 0.2 * 0.5**epoch)
    a = _clf(backend)
    h = a.fit(X, y, epochs=3, lr=0.1, callbacks=[sched])
    assert_close(h.history["lr"], [0.2, 0.1, 0.05], rtol=1e-15, atol=0)
    b = _clf(backend)
    for lr in (0.2, 0.1, 0.05):
        b.fit(X, y, epochs=1, lr=lr)
    assert_close(list(a.history_["loss"]), list(b.history_["loss"]), rtol=1e-12, atol=0)
    with pytest.raises(ValueError, match="finite rate > 0"):
        _clf(backend).fit(X, y, epochs=1, callbacks=[LearningRateScheduler(lambda e, lr: 0)])


def test_csv_logger(backend, rng, tmp_path):
    X, y = _data(rng)
    path = tmp_path / "log.csv"
    model = _clf(backend)
    model.fit(X, y, epochs=3, validation_split=0.2, callbacks=[CSVLogger(path)], grad_norms=True)
    model.fit(
        X,
        y,
        epochs=5,
        initial_epoch=3,
        validation_split=0.2,
        callbacks=[CSVLogger(path, append=True)],
        grad_norms=True,
    )
    with open(path) as f:
        rows = list(csv.DictReader(f))
    assert [int(r["epoch"]) for r in rows] == [0, 1, 2, 3, 4]
    assert [float(r["loss"]) for r in rows] == model.history_["loss"]
    assert "val_accuracy" in rows[0] and "grad_norm_0" in rows[0]


def test_bad_callbacks_and_verbose(backend, rng):
    X, y = _data(rng)
    model = _clf(backend)
    snap = snapshot(model)
    with pytest.raises(ValueError, match="callbacks must be"):
        model.fit(X, y, callbacks=[42])
    with pytest.raises(ValueError, match="verbose must be 'auto', 0, 1 or 2"):
        model.fit(X, y, verbose=3)
    with pytest.raises(ValueError, match="clip_norm must be a finite number > 0"):
        model.fit(X, y, clip_norm=0)
    with pytest.raises(ValueError, match="clip_value"):
        model.fit(X, y, clip_value=-1)
    assert_unchanged(model, snap)


# ---- verbose -------------------------------------------------------------------------------
def test_verbose_output(backend, rng, capsys):
    X, y = _data(rng)
    model = _clf(backend)
    model.fit(X, y, epochs=3, verbose=2, validation_split=0.2)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("epoch 1/3") and "val_loss" in lines[0]
    model.fit(X, y, epochs=2, verbose=1)
    out = capsys.readouterr().out
    finals = [l.rsplit("\r", 1)[-1] for l in out.strip().split("\n")]
    assert len(finals) == 2 and all("60/60 samples" in f and "samples/s" in f for f in finals)
    model.fit(X, y, epochs=2, verbose=0)
    assert capsys.readouterr().out == ""


def test_the_progress_bar_reads_the_engine_counter(backend):
    import io

    from mlpcore._progress import Printer
    from mlpcore.reference.train import Progress

    p = Progress()
    p.done, p.total = 300, 1000
    out = io.StringIO()
    printer = Printer(1, 5, 1000, 100, stream=out)
    printer.epoch_begin(1, p)
    printer._draw(*printer._epoch)
    line = out.getvalue()
    assert "epoch 2/5 [=======>" in line and "300/1000 samples" in line
    assert "3/10 batches" in line and "left" in line
    p.loss = 0.25  # the running loss, once a step is done
    printer._draw(*printer._epoch)
    assert out.getvalue().endswith("loss 0.25") or "loss 0.25 " in out.getvalue()
    # both engines keep the running epoch loss: at the end it is the epoch's loss
    from mlpcore.reference.network import Network

    if backend == "native":
        core = pytest.importorskip("mlpcore._core")
        prog, net = core.Progress(), core.Network64([("dense", 2, 1)], "mse", 0)
    else:
        prog, net = Progress(), Network([("dense", 2, 1)], "mse", np.float64, 0)
    X, Y = np.arange(20.0).reshape(10, 2) / 10, np.ones((10, 1))
    r = net.train_epoch(
        X, Y, EpochOptions(batch_size=3, optimizer={"name": "sgd"}, lr=0.1, progress=prog), 0, 0, 0
    )
    assert (prog.done, prog.total) == (10, 10)
    assert prog.loss == r["loss"], (prog.loss, r["loss"])


# ---- divergence ------------------------------------------------------------------------------
def test_divergence_from_unscaled_targets_names_the_targets(backend, rng):
    X = rng.normal(size=(64, 3))
    y = 3000 * (1 + X[:, 0])
    model = make([Dense(3, 16), ReLU(), Dense(16, 1)], backend, loss="mse", seed=0)
    with pytest.raises(FloatingPointError, match="targets are the likely cause.*standardise y"):
        with np.errstate(all="ignore"):
            model.fit(X, y, epochs=20, lr=0.1)
    # the epochs before the diverging one are kept, and the model is usable
    assert np.isfinite(model.predict(X)).all() and len(model.history_["loss"]) == model.epoch_
    # scaled targets: the usual advice
    with pytest.raises(FloatingPointError, match="Try a smaller lr") as info:
        with np.errstate(all="ignore"):
            model.fit(X * 1e5, X[:, 0], epochs=20, lr=0.1)
    assert "targets" not in str(info.value)


def test_a_fit_that_returns_never_leaves_a_model_predicting_inf(backend):
    # float32: the last step makes the weight about -5e25 (finite), the loss it reports was
    # computed before that step (finite), but the outputs on X = 1e13 overflow
    model = make([Dense(1, 1)], backend, loss="mse", dtype="float32", seed=0)
    model.set_weights([np.array([[0.5]]), np.array([0.0])])
    X, y = np.full((2, 1), 1e13), np.zeros(2)
    snap = snapshot(model)
    with pytest.raises(FloatingPointError, match="outputs"), np.errstate(all="ignore"):
        model.fit(X, y, epochs=1, batch_size=2, lr=1.0)
    assert_unchanged(model, snap)


# ---- Ctrl-C --------------------------------------------------------------------------------
CHILD = textwrap.dedent("""
    import signal, sys, time
    # a process that started with SIGINT ignored (inherited from its parent) gets no Python
    # handler: say so, and install the default one (the test is about fit, not the parent)
    inherited = signal.getsignal(signal.SIGINT)
    if inherited is not signal.default_int_handler:
        print(f"SIGINT handler at start: {inherited!r}", file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, signal.default_int_handler)
    import numpy as np
    import mlpcore as mc
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40000, 256)).astype(np.float32)
    y = rng.integers(0, 10, 40000)
    net = mc.Sequential([mc.Dense(256, 2048), mc.ReLU(), mc.Dense(2048, 2048), mc.ReLU(),
                         mc.Dense(2048, 10)], loss="softmax_cross_entropy", dtype="float32",
                        seed=0)
    net.fit(X[:64], y[:64], epochs=1, batch_size=64)   # one finished epoch before
    before = net.get_weights()
    print("fitting", flush=True)
    try:
        net.fit(X, y, epochs=1, batch_size=64, verbose=1)
    except KeyboardInterrupt:
        caught = time.time()
        same = all(np.array_equal(a, b) for a, b in zip(net.get_weights(), before))
        print(f"\\ncaught {caught!r} consistent {same} epoch_ {net.epoch_}", flush=True)
        raise
    print("finished", flush=True)
""")


def test_ctrl_c_stops_a_long_epoch_quickly(native):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "fitting"
        time.sleep(1.5)  # well inside the epoch (about 10 s on 2 cores)
        sent = time.time()
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
    line = [l for l in out.splitlines() if l.startswith("caught")]
    assert line, f"the child was not interrupted: {out[-300:]!r} {err[-500:]!r}"
    _, caught, _, consistent, _, epoch = line[0].split()
    delay = float(caught) - sent
    print(f"Ctrl-C delay: {delay * 1000:.0f} ms")
    assert consistent == "True" and epoch == "1", line[0]
    assert delay < 2.0, f"fit took {delay:.2f} s to stop after SIGINT"
    # the interrupt says where training stopped and what the model holds
    assert (
        proc.returncode != 0
        and ("KeyboardInterrupt: training interrupted in epoch 1/1; that epoch was rolled back")
        in err
    ), err[-500:]


def test_records_with_an_older_history_load_and_train_on(backend, rng):
    from mlpcore import _record

    X, y = _data(rng)
    model = _clf(backend)
    meta, arrays = _record.capture(model)
    meta["history_"] = {"loss": [0.9, 0.8], "val_loss": [1.0]}  # an older, ragged record
    old = mc.Sequential._from_record(_record.restore(meta, arrays))
    old.fit(X, y, epochs=1, validation_split=0.2)
    assert old.history_["loss"][:2] == [0.9, 0.8] and len(old.history_["loss"]) == 3
    assert old.history_["val_loss"][:2] == [1.0, None]
    assert all(len(v) == 3 for v in old.history_.values())
