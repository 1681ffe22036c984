"""mlpcore.check_gradients: backprop against central finite differences of a whole model,
per parameter array. It must pass on correct gradients and catch wrong ones."""

import numpy as np
import pytest

import mlpcore as mc
from mlpcore.reference import activations as twin_activations

from conftest import assert_unchanged, make, snapshot


def small_net(backend, dtype="float64", loss="softmax_cross_entropy"):
    return make(
        [mc.Dense(3, 5), mc.Tanh(), mc.Dense(5, 2)], backend, loss=loss, dtype=dtype, seed=0
    )


def data(rng, n=8):
    return rng.normal(size=(n, 3)), rng.integers(0, 2, n)


def test_correct_gradients_pass(backend, rng):
    net = small_net(backend)
    X, y = data(rng)
    check = mc.check_gradients(net, X, y)
    print(check)
    assert check.passed and check.max_rel_error < 1e-6, check.max_rel_error
    assert [r.name for r in check.rows] == ["0 Dense W", "0 Dense b", "2 Dense W", "2 Dense b"]
    for row, g in zip(check.rows, net.gradients(X, y)):
        assert row.shape == g.shape and len(row.entries) == g.size
        np.testing.assert_allclose(row.backprop, g.ravel(), rtol=1e-12, atol=0)
        np.testing.assert_allclose(row.numerical, g.ravel(), rtol=1e-5, atol=1e-9)


def test_a_wrong_activation_derivative_is_caught(monkeypatch, rng):
    # a backprop bug in the twin: tanh' taken as 1 - h instead of 1 - h^2
    net = small_net("numpy")
    X, y = data(rng)
    monkeypatch.setitem(twin_activations.DERIVATIVE, "tanh", lambda z, h, p: 1 - h)
    check = mc.check_gradients(net, X, y)
    print(check)
    assert not check.passed
    errors = check.max_rel_errors()
    # the output layer's gradients do not go through tanh': still right
    assert errors["2 Dense W"] < 1e-6 and errors["2 Dense b"] < 1e-6, errors
    assert errors["0 Dense W"] > 1e-2 and errors["0 Dense b"] > 1e-2, errors
    assert "FAILED" in str(check)


def test_a_wrong_gradient_entry_is_caught(monkeypatch, backend, rng):
    net = small_net(backend)
    X, y = data(rng)
    right = mc.Sequential.gradients

    def one_entry_off(self, *args, **kwargs):
        g = right(self, *args, **kwargs)
        g[2][3, 1] *= 1.001  # one entry of W2 off by 0.1%
        return g

    monkeypatch.setattr(mc.Sequential, "gradients", one_entry_off)
    check = mc.check_gradients(net, X, y)
    assert not check.passed
    assert list(check.by_layer()) == [0, 2]
    assert check.by_layer()[0] < 1e-5 and check.by_layer()[2] > 5e-4, check.by_layer()
    row = check.rows[2]
    worst = row.entries[np.argmax(np.abs(row.backprop - row.numerical))]
    assert np.unravel_index(worst, row.shape) == (3, 1)


def test_batch_norm_and_dropout_in_training_mode(backend, rng):
    net = make(
        [mc.Dense(3, 6), mc.BatchNorm(6), mc.Tanh(), mc.Dropout(0.3), mc.Dense(6, 2)],
        backend,
        loss="softmax_cross_entropy",
        seed=0,
    )
    X, y = data(rng, 10)
    snap = snapshot(net)
    for step in (0, 7):
        check = mc.check_gradients(net, X, y, training=True, step=step)
        print(check)
        assert check.passed and check.training and check.step == step
        assert [r.param for r in check.rows] == ["W", "b", "gamma", "beta", "W", "b"]
        # the bias before batch norm cancels in the normalisation: zero gradient
        assert check.rows[1].max_abs_grad < 1e-12
        np.testing.assert_allclose(
            [r.backprop for r in check.rows][2],
            net.gradients(X, y, training=True, step=step)[2],
            rtol=1e-12,
        )
    # the dropout masks of different steps differ, so do the gradients
    a = mc.check_gradients(net, X, y, training=True, step=0).rows[4].backprop
    b = mc.check_gradients(net, X, y, training=True, step=7).rows[4].backprop
    assert np.max(np.abs(a - b)) > 1e-4
    assert mc.check_gradients(net, X, y).passed  # evaluation mode too
    assert_unchanged(net, snap)


def test_float32_model_is_checked_in_float64(backend, rng):
    net = small_net(backend, dtype="float32")
    X, y = data(rng)
    check = mc.check_gradients(net, X, y)
    assert check.dtype == "float64" and check.eps == 1e-5
    assert check.max_rel_error < 1e-6, check.max_rel_error
    # in the model's own float32, with float32's default eps and tolerance
    check32 = mc.check_gradients(net, X, y, dtype=None)
    print(check32)
    assert check32.dtype == "float32" and check32.eps == 1e-2 and check32.tol == 1e-2
    assert check32.passed and check32.max_rel_error > check.max_rel_error
    assert net.dtype == np.float32


@pytest.mark.parametrize("loss", ["mse", "binary_cross_entropy"])
def test_other_losses_and_sample_weight(loss, backend, rng):
    net = small_net(backend, loss=loss)
    X = rng.normal(size=(6, 3))
    y = rng.integers(0, 2, (6, 2)).astype(float)
    w = rng.uniform(0.5, 2, 6)
    check = mc.check_gradients(net, X, y, sample_weight=w)
    assert check.passed, check
    g = net.gradients(X, y, sample_weight=w)
    np.testing.assert_allclose(check.rows[0].backprop, g[0].ravel(), rtol=1e-12)


def test_max_per_array_samples_entries(rng):
    net = make(
        [mc.Dense(4, 30), mc.ReLU(), mc.Dense(30, 3)], "numpy", loss="softmax_cross_entropy", seed=1
    )
    X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    check = mc.check_gradients(net, X, y, max_per_array=10, seed=3)
    assert [len(r.entries) for r in check.rows] == [10, 10, 10, 3]
    assert all(len(set(r.entries)) == len(r.entries) for r in check.rows)
    again = mc.check_gradients(net, X, y, max_per_array=10, seed=3)
    assert all((a.entries == b.entries).all() for a, b in zip(check.rows, again.rows))
    table = check.to_dict()
    assert table["checked"] == [10, 10, 10, 3] and table["size"] == [120, 30, 90, 3]
    assert list(check.errors) == table["max_rel_error"]


def test_bad_arguments(rng):
    net = small_net("numpy")
    X, y = data(rng)
    with pytest.raises(TypeError, match="Sequential"):
        mc.check_gradients("not a model", X, y)
    with pytest.raises(ValueError, match="eps"):
        mc.check_gradients(net, X, y, eps=0)
    with pytest.raises(ValueError, match="max_per_array"):
        mc.check_gradients(net, X, y, max_per_array=0)
    with pytest.raises(ValueError, match="dtype"):
        mc.check_gradients(net, X, y, dtype="int8")
    with pytest.raises(ValueError, match="X"):
        mc.check_gradients(net, X[:, :2], y)
    step_net = make([mc.Dense(3, 2), mc.Step(), mc.Dense(2, 1)], "numpy", seed=0)
    with pytest.raises(ValueError, match="derivative"):
        mc.check_gradients(step_net, X, rng.normal(size=8))
