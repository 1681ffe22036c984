"""fit's options beyond plain SGD: weight decay (L2), validation data, early stopping,
callbacks; and mlpcore.save/load."""

import numpy as np
import pytest

import mlpcore
from mlpcore import BatchNorm, Dense, Dropout, ReLU, Tanh

from conftest import TOLERANCES, assert_all_close, assert_all_equal, make


def _data(rng, n=40, d=5, k=3):
    return rng.normal(size=(n, d)), rng.integers(0, k, n)


def test_weight_decay_step_by_hand(backend, dtype, rng):
    # one full-batch step: W <- W - lr (dL/dW + lam W) on dense weights; biases and BatchNorm
    # gamma/beta get plain SGD
    X, y = _data(rng)
    model = make(
        [Dense(5, 8), BatchNorm(8), Tanh(), Dense(8, 3)],
        backend,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=1,
    )
    w0 = model.get_weights()
    g = model.gradients(X, y, training=True)
    lr, lam = 0.3, 0.05
    model.fit(X, y, epochs=1, batch_size=len(X), lr=lr, weight_decay=lam, shuffle=False)
    decays = [True, False, False, False, True, False]  # W1, b1, gamma, beta, W2, b2
    expected = [w - lr * (gw + (lam * w if d else 0)) for w, gw, d in zip(w0, g, decays)]
    assert_all_close(model.get_weights(), expected, **TOLERANCES[dtype], what="weights")


def test_weight_decay_agrees_between_backends(dtype, rng, native):
    X, y = _data(rng, n=57)
    layers = [Dense(5, 16), ReLU(), Dropout(0.2), Dense(16, 3)]
    models = [
        make(layers, b, loss="softmax_cross_entropy", dtype=dtype, seed=4)
        for b in ("numpy", "native")
    ]
    hist = [m.fit(X, y, epochs=4, batch_size=10, lr=0.1, weight_decay=1e-2) for m in models]
    tol = TOLERANCES[dtype]
    assert_all_close(models[1].get_weights(), models[0].get_weights(), **tol, what="weights")
    assert_all_close([hist[1]], [hist[0]], **tol, what="loss history")


def test_weight_decay_shrinks_the_weights(backend, rng):
    X, y = _data(rng, n=64)
    norms = []
    for lam in (0.0, 0.5):
        model = make(
            [Dense(5, 32), ReLU(), Dense(32, 3)], backend, loss="softmax_cross_entropy", seed=2
        )
        model.fit(X, y, epochs=30, batch_size=16, lr=0.1, weight_decay=lam)
        norms.append(sum(float((w**2).sum()) for w in model.get_weights()[::2]))
    assert norms[1] < 0.5 * norms[0], f"squared weight norms without/with decay: {norms}"


@pytest.mark.parametrize("bad", [-1.0, np.nan, "0.1"])
def test_weight_decay_must_be_a_nonnegative_number(bad, backend):
    model = make([Dense(2, 1)], backend)
    with pytest.raises(ValueError, match="weight_decay"):
        model.fit(np.zeros((3, 2)), np.zeros(3), weight_decay=bad)


def test_validation_loss_is_recorded(backend, rng):
    X, y = _data(rng)
    Xv, yv = _data(rng, n=17)
    model = make([Dense(5, 8), Tanh(), Dense(8, 3)], backend, loss="softmax_cross_entropy", seed=0)
    model.fit(X, y, epochs=3, batch_size=8, lr=0.1, validation_data=(Xv, yv))
    assert len(model.history_["val_loss"]) == 3
    assert model.history_["val_loss"][-1] == pytest.approx(model.loss(Xv, yv), rel=1e-12)


def test_callback_sees_every_epoch_and_can_stop(backend, rng):
    X, y = _data(rng)
    model = make([Dense(5, 3)], backend, loss="softmax_cross_entropy", seed=0)
    seen = []

    def callback(net, logs):
        seen.append(logs)
        return logs["epoch"] == 2

    losses = model.fit(X, y, epochs=10, lr=0.1, callback=callback)
    assert [l["epoch"] for l in seen] == [0, 1, 2] and len(losses) == 3
    assert [l["loss"] for l in seen] == losses


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"patience": 3}, "validation_data"),
        ({"validation_data": (np.zeros((2, 5)),)}, "validation_data"),
        ({"validation_data": (np.zeros((2, 4)), [0, 1])}, "X_val"),
        ({"validation_data": (np.zeros((2, 5)), [0, 7])}, "y_val"),
        ({"callback": 3}, "callback"),
    ],
)
def test_bad_training_options_leave_the_model_unchanged(kwargs, match, backend, rng):
    X, y = _data(rng)
    model = make([Dense(5, 3)], backend, loss="softmax_cross_entropy", seed=0)
    before = model.get_weights()
    with pytest.raises(ValueError, match=match):
        model.fit(X, y, epochs=2, **kwargs)
    assert_all_equal(model.get_weights(), before)
    assert model.epoch_ == 0 and model.step_ == 0


def test_save_load_round_trip(backend, dtype, rng, tmp_path):
    X, y = _data(rng)
    model = make(
        [Dense(5, 8), BatchNorm(8), ReLU(), Dropout(0.3), Dense(8, 3)],
        backend,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=2**64 - 1,
    )
    model.fit(X, y, epochs=2, batch_size=8, lr=0.1)
    path = tmp_path / "model.npz"
    mlpcore.save(model, path)
    for other in ("numpy", "native") if backend == "native" else ("numpy",):
        loaded = mlpcore.load(path, backend=other)
        assert (loaded.seed, loaded.epoch_, loaded.step_) == (model.seed, model.epoch_, model.step_)
        assert repr(loaded.layers) == repr(model.layers) and loaded.dtype == model.dtype
        assert_all_equal(loaded.get_weights(), model.get_weights(), "weights")
        assert_all_equal(loaded.get_state(), model.get_state(), "state")
        if other == backend:
            assert_all_equal([loaded.predict(X)], [model.predict(X)], "predictions")
        else:
            assert_all_close(
                [loaded.predict(X)],
                [model.predict(X)],
                **TOLERANCES[dtype],
                what="predictions on the other engine",
            )


def test_load_rejects_other_files(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, config=np.array("{}"))
    with pytest.raises(ValueError, match="not an mlpcore model"):
        mlpcore.load(path)
