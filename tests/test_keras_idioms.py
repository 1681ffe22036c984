"""Keras idioms in fit: self.model.stop_training, EarlyStopping's messages, an interrupt's
message, Keras' epoch numbering (initial_epoch, integer epochs), validation_freq,
predict(batch_size=) and the progress default (verbose="auto")."""

import io

import numpy as np
import pytest

import mlpcore as mc
from mlpcore._progress import Printer
from mlpcore.callbacks import Callback, EarlyStopping

from conftest import assert_all_equal, make


def _data(rng, n=60):
    X = rng.normal(size=(n, 4))
    return X, (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)


def _net(backend, seed=0):
    return make(
        [mc.Dense(4, 16), mc.ReLU(), mc.Dense(16, 3)],
        backend,
        loss="softmax_cross_entropy",
        seed=seed,
    )


class StopAt(Callback):
    """Keras' idiom: set self.model.stop_training in on_epoch_end."""

    def __init__(self, epoch):
        self.epoch, self.ends = epoch, []

    def on_epoch_end(self, epoch, logs=None):
        self.ends.append(epoch)
        if epoch == self.epoch:
            self.model.stop_training = True


def test_model_stop_training_in_a_callback_stops_the_fit(backend, rng):
    X, y = _data(rng)
    net = _net(backend)
    cb = StopAt(2)
    h = net.fit(X, y, epochs=10, callbacks=[cb])
    assert cb.ends == [0, 1, 2] and len(h) == 3 and net.epoch_ == 3
    # the next fit starts with the flag cleared (as Keras' fit does)
    assert len(net.fit(X, y, epochs=2)) == 2 and net.stop_training is False

    class StopBeforeStarting(Callback):
        def on_train_begin(self, logs=None):
            self.model.stop_training = True

    assert len(net.fit(X, y, epochs=3, callbacks=[StopBeforeStarting()])) == 0


def test_early_stopping_says_when_it_stops_and_what_it_restored(backend, rng, capsys):
    X, y = rng.normal(size=(20, 5)), rng.integers(0, 2, 20)
    Xv, yv = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    net = make(
        [mc.Dense(5, 64), mc.ReLU(), mc.Dense(64, 1)], backend, loss="binary_cross_entropy", seed=0
    )
    cb = EarlyStopping(patience=3, restore_best_weights=True)
    h = net.fit(
        X, y, epochs=300, batch_size=5, lr=0.2, validation_data=(Xv, yv), callbacks=[cb], verbose=0
    )
    best = int(np.argmin(h.history["val_loss"]))
    out = capsys.readouterr().out
    assert len(h) < 300 and out == (
        f"epoch {len(h)}: early stopping: val_loss did not improve by more than 0 for 3 "
        f"epochs (best {h.history['val_loss'][best]:.6g} in epoch {best + 1}); restored the "
        f"weights of epoch {best + 1}\n"
    ), out
    quiet = make(
        [mc.Dense(5, 64), mc.ReLU(), mc.Dense(64, 1)], backend, loss="binary_cross_entropy", seed=0
    )
    quiet.fit(
        X,
        y,
        epochs=300,
        batch_size=5,
        lr=0.2,
        validation_data=(Xv, yv),
        verbose=0,
        callbacks=[EarlyStopping(patience=3, restore_best_weights=True, verbose=0)],
    )
    assert capsys.readouterr().out == ""
    assert_all_equal(quiet.get_weights(), net.get_weights(), "verbose=0 vs 1")


def test_an_interrupt_says_where_training_stopped(backend, rng):
    X, y = _data(rng)
    net = _net(backend)

    class CtrlC(Callback):
        def on_epoch_begin(self, epoch, logs=None):
            if epoch == 2:
                raise KeyboardInterrupt

    with pytest.raises(
        KeyboardInterrupt,
        match=r"training interrupted in epoch 3/5; that epoch "
        r"was rolled back, so the model holds the weights after epoch 2 \(2 "
        r"epochs of this fit completed.*initial_epoch=2\)",
    ):
        net.fit(X, y, epochs=5, callbacks=[CtrlC()])
    assert net.epoch_ == 2 and net.history_["epoch"] == [0, 1]


def test_epochs_are_numbered_as_keras_numbers_them(backend, rng):
    X, y = _data(rng)
    whole = _net(backend)
    h = whole.fit(X, y, epochs=6, optimizer="adam", lr=0.01)
    assert h.epoch == [0, 1, 2, 3, 4, 5] and h.history["epoch"] == h.epoch
    assert all(type(e) is int for e in h.history["epoch"] + whole.history_["epoch"])
    assert h.params["epochs"] == 6 and h.params["initial_epoch"] == 0
    # stopped after epoch 2 and resumed with initial_epoch: the same as one fit (epoch_ keys
    # the shuffle, the optimizer's moments carry over)
    parts = _net(backend)
    parts.fit(X, y, epochs=3, optimizer="adam", lr=0.01)
    h2 = parts.fit(X, y, epochs=6, initial_epoch=3, optimizer="adam", lr=0.01)
    assert h2.epoch == [3, 4, 5] and len(h2) == 3 and parts.epoch_ == 6
    assert_all_equal(parts.get_weights(), whole.get_weights(), "resumed vs whole")
    assert parts.history_["epoch"] == [0, 1, 2, 3, 4, 5]
    with pytest.raises(ValueError, match="initial_epoch=7 is past epochs=6"):
        parts.fit(X, y, epochs=6, initial_epoch=7)
    assert len(parts.fit(X, y, epochs=6, initial_epoch=6)) == 0  # nothing left to run


def test_the_bar_numbers_epochs_as_the_history_does(backend, rng, capsys):
    X, y = _data(rng)
    net = _net(backend)
    net.fit(X, y, epochs=2, verbose=2)
    net.fit(X, y, epochs=4, initial_epoch=2, verbose=2)
    labels = [l.split()[1] for l in capsys.readouterr().out.splitlines()]
    assert labels == ["1/2", "2/2", "3/4", "4/4"], labels


def test_validation_freq(backend, rng):
    X, y = _data(rng)
    net = _net(backend)
    h = net.fit(X, y, epochs=6, validation_data=(X, y), validation_freq=2)
    validated = [i for i, v in enumerate(h.history["val_loss"]) if v == v]
    assert validated == [1, 3, 5]  # epochs 2, 4, 6 counted from 1
    assert [v is not None for v in net.history_["val_loss"]] == [False, True] * 3
    h = _net(backend).fit(X, y, epochs=5, validation_data=(X, y), validation_freq=[1, 4])
    assert [v == v for v in h.history["val_loss"]] == [True, False, False, True, False]
    # EarlyStopping on val_loss waits for the validated epochs
    cb = EarlyStopping(patience=1, verbose=0)
    _net(backend).fit(X, y, epochs=6, validation_data=(X, y), validation_freq=3, callbacks=[cb])
    for bad in (0, -1, 1.5, [], [0], "2", True):
        with pytest.raises(ValueError, match="validation_freq must be"):
            net.fit(X, y, epochs=1, validation_data=(X, y), validation_freq=bad)


def test_predict_in_batches(backend, rng, tol):
    X, y = _data(rng, n=50)
    net = make(
        [mc.Dense(4, 8), mc.BatchNorm(8), mc.ReLU(), mc.Dense(8, 3)],
        backend,
        loss="softmax_cross_entropy",
        seed=0,
    )
    net.fit(X, y, epochs=2)
    full = net.predict(X)
    for b in (1, 7, 50, 1000):
        out = net.predict(X, batch_size=b)
        assert out.shape == full.shape and np.allclose(out, full, rtol=1e-12, atol=1e-15), b
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        net.predict(X, batch_size=0)
    with pytest.raises(ValueError, match="at least 2 samples per batch"):
        net.predict(X, training=True, batch_size=7)  # 50 = 7 * 7 + 1: a last batch of 1


class FakeTerminal(io.StringIO):
    def isatty(self):
        return True


def test_verbose_auto_is_silent_off_a_terminal_and_for_short_fits(backend, rng, capsys):
    X, y = _data(rng)
    _net(backend).fit(X, y, epochs=3)  # the default: verbose="auto"; stdout is captured
    assert capsys.readouterr().out == ""
    # on a terminal: nothing for epochs that are short and few ...
    tty = FakeTerminal()
    p = Printer("auto", 10, 100, 10, stream=tty)
    p.epoch_begin(0, None)
    p.epoch_end(0, {"epoch": 0, "loss": 0.5}, 0.01)  # 9 more epochs of 0.01 s: a short fit
    assert tty.getvalue() == "" and not p.verbose
    # ... and verbose=1 from the first epoch that shows the fit is long
    p.epoch_begin(1, None)
    p.epoch_end(1, {"epoch": 1, "loss": 0.4}, 1.5)  # 8 more of 1.5 s: 12 s to go
    assert p.verbose == 1 and "epoch 2/10" in tty.getvalue() and "loss 0.4" in tty.getvalue()
    p.stop()
    # not a terminal: never
    p = Printer("auto", 10, 100, 10, stream=io.StringIO())
    p.epoch_end(0, {"epoch": 0, "loss": 0.5}, 100.0)
    assert not p.verbose
