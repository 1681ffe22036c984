"""Examples from the lecture, on both engines: the hand-worked two-layer network, XOR,
symmetries of a hidden layer, step/sign perceptrons, and handwritten digits."""

import numpy as np
import pytest

from mlpcore import BatchNorm, Dense, Dropout, ReLU, Sigmoid, Sign, Step, Tanh

from conftest import TOLERANCES, assert_close, assert_unchanged, make, snapshot


def sigma(t):
    return 1 / (1 + np.exp(-t))


def test_two_layer_example_by_hand(backend, dtype, rng):
    # W is (n_in, n_out) and z = x @ W + b, so column j of W1 feeds hidden unit j:
    #   z1 = x1*W1[0,0] + x2*W1[1,0] + b1[0] = -x1 + 2 x2 + 1
    #   z2 = x1*W1[0,1] + x2*W1[1,1] + b1[1] = -4 x1 - x2 + 2
    # sigma(z1) = 1/(1+exp(x1 - 2 x2 - 1)), sigma(z2) = 1/(1+exp(4 x1 + x2 - 2)), and the
    # output unit adds them (W2 = [[1], [1]], b2 = 0) before its sigmoid:
    #   y = sigma( 1/(1+exp(x1 - 2 x2 - 1)) + 1/(1+exp(4 x1 + x2 - 2)) ).
    # At x = (0, 0): y = sigma(sigma(1) + sigma(2)) = sigma(0.7311 + 0.8808)
    #                  = sigma(1.6119) = 0.8337.
    model = make(
        [Dense(2, 2), Sigmoid(), Dense(2, 1)],
        backend,
        loss="binary_cross_entropy",
        dtype=dtype,
        seed=0,
    )
    model.set_weights([[[-1, -4], [2, -1]], [1, 2], [[1], [1]], [0]])
    X = np.vstack([[0.0, 0.0], rng.uniform(-3, 3, size=(20, 2))])
    x1, x2 = X[:, 0], X[:, 1]
    expected = sigma(1 / (1 + np.exp(x1 - 2 * x2 - 1)) + 1 / (1 + np.exp(4 * x1 + x2 - 2)))
    out = model.predict(X)
    assert out.shape == (21, 1) and out.dtype == np.dtype(dtype)
    assert abs(out[0, 0] - 0.8337) < 1e-4, f"y(0, 0) = {out[0, 0]}"
    assert_close(out[:, 0], expected, **TOLERANCES[dtype], what="lecture network")


XOR_X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
XOR_Y = np.array([0.0, 1.0, 1.0, 0.0])


def test_xor_is_learned(backend, dtype):
    model = make(
        [Dense(2, 4), Tanh(), Dense(4, 1)],
        backend,
        loss="binary_cross_entropy",
        dtype=dtype,
        seed=0,
    )
    history = model.fit(XOR_X, XOR_Y, epochs=1000, batch_size=4, lr=1.0)
    p = model.predict(XOR_X)[:, 0]
    assert ((p > 0.5) == XOR_Y).all(), f"XOR predictions {p}"
    assert history[-1] < 0.1 < history[0], f"loss went from {history[0]} to {history[-1]}"


def test_xor_is_not_linearly_separable_with_one_layer(backend):
    # a single sigmoid unit cannot do better than 3 of 4: its loss stays high
    model = make([Dense(2, 1)], backend, loss="binary_cross_entropy", dtype="float64", seed=0)
    history = model.fit(XOR_X, XOR_Y, epochs=500, batch_size=4, lr=1.0)
    assert history[-1] > 0.5, f"final loss {history[-1]}"


# ---- symmetries of a hidden layer ----------------------------------------------------------
def tanh_net(backend, dtype, rng):
    model = make([Dense(3, 5), Tanh(), Dense(5, 2)], backend, loss="mse", dtype=dtype, seed=1)
    W1, b1, W2, b2 = (rng.normal(size=s) for s in [(3, 5), (5,), (5, 2), (2,)])
    return model, W1, b1, W2, b2


def test_permuting_hidden_units_keeps_the_function(backend, dtype, rng):
    model, W1, b1, W2, b2 = tanh_net(backend, dtype, rng)
    X = rng.normal(size=(10, 3))
    model.set_weights([W1, b1, W2, b2])
    before = model.predict(X)
    perm = rng.permutation(5)
    assert (perm != np.arange(5)).any()
    model.set_weights([W1[:, perm], b1[perm], W2[perm, :], b2])
    assert_close(model.predict(X), before, **TOLERANCES[dtype], what="permuted network")


def test_flipping_a_hidden_unit_keeps_the_function(backend, dtype, rng):
    # tanh is odd: negating a unit's incoming weights and bias negates its output, which the
    # negated outgoing weights undo
    model, W1, b1, W2, b2 = tanh_net(backend, dtype, rng)
    X = rng.normal(size=(10, 3))
    model.set_weights([W1, b1, W2, b2])
    before = model.predict(X)
    W1, b1, W2 = W1.copy(), b1.copy(), W2.copy()
    W1[:, 2] *= -1
    b1[2] *= -1
    W2[2, :] *= -1
    model.set_weights([W1, b1, W2, b2])
    assert_close(model.predict(X), before, **TOLERANCES[dtype], what="flipped network")
    # flipping only the outgoing weights does change it: the check above can fail
    W2[2, :] *= -1
    model.set_weights([W1, b1, W2, b2])
    assert np.max(np.abs(model.predict(X) - before)) > 1e-3


# ---- perceptrons with step and sign --------------------------------------------------------
BINARY = np.array([[0, 0], [0, 1], [1, 0], [1, 1]])
BIPOLAR = 2 * BINARY - 1


@pytest.mark.parametrize(
    "bias,expected",
    [(-1.5, [0, 0, 0, 1]), (-0.5, [0, 1, 1, 1]), (-2.0, [0, 0, 0, 1])],
    ids=["AND", "OR", "AND-at-0"],
)
def test_step_perceptron(bias, expected, backend, dtype):
    # h = step(x1 + x2 + bias); bias -2 puts (1, 1) exactly on z = 0, where step gives 1
    model = make([Dense(2, 1), Step()], backend, loss="mse", dtype=dtype, seed=0)
    model.set_weights([[[1], [1]], [bias]])
    np.testing.assert_array_equal(model.predict(BINARY)[:, 0], expected)


@pytest.mark.parametrize(
    "bias,expected", [(-1.0, [-1, -1, -1, 1]), (1.0, [-1, 1, 1, 1])], ids=["AND", "OR"]
)
def test_sign_perceptron(bias, expected, backend, dtype):
    # inputs and outputs in {-1, +1}: h = sign(x1 + x2 + bias), sign(0) = +1
    model = make([Dense(2, 1), Sign()], backend, loss="mse", dtype=dtype, seed=0)
    model.set_weights([[[1], [1]], [bias]])
    np.testing.assert_array_equal(model.predict(BIPOLAR)[:, 0], expected)


def test_two_layer_step_network_computes_xor(backend):
    # hidden: OR = step(x1 + x2 - 0.5), NAND = step(-x1 - x2 + 1.5); output: AND of the two
    model = make([Dense(2, 2), Step(), Dense(2, 1), Step()], backend, loss="mse", seed=0)
    model.set_weights([[[1, -1], [1, -1]], [-0.5, 1.5], [[1], [1]], [-1.5]])
    np.testing.assert_array_equal(model.predict(BINARY)[:, 0], [0, 1, 1, 0])


@pytest.mark.parametrize("act", [Step, Sign])
def test_no_gradient_through_step_or_sign(act, backend, rng):
    model = make([Dense(2, 3), act(), Dense(3, 1)], backend, loss="mse", seed=0)
    X, y = rng.normal(size=(6, 2)), rng.normal(size=6)
    snap = snapshot(model)
    with pytest.raises(ValueError, match="derivative"):
        model.fit(X, y, epochs=1)
    with pytest.raises(ValueError, match="derivative"):
        model.gradients(X, y)
    assert_unchanged(model, snap)


@pytest.mark.parametrize("act", [Step, Sign])
def test_step_or_sign_below_every_parameter_is_allowed(act, backend, rng):
    # nothing needs a gradient below the first Dense, so the input may be binarised
    model = make([act(), Dense(2, 1)], backend, loss="mse", seed=0)
    X, y = rng.normal(size=(6, 2)), rng.normal(size=6)
    grads = model.gradients(X, y)
    h = np.where(X >= 0, 1.0, 0.0 if act is Step else -1.0)
    W, b = model.get_weights()
    delta = (h @ W + b - y[:, None]) / 6
    assert_close(grads[0], h.T @ delta, rtol=1e-10, atol=1e-12, what="dW")
    model.fit(X, y, epochs=2, batch_size=3, lr=0.1)
    assert model.step_ == 4


# ---- handwritten digits --------------------------------------------------------------------
@pytest.mark.parametrize(
    "layers",
    [
        lambda: [Dense(64, 64), ReLU(), Dense(64, 10)],
        lambda: [Dense(64, 64), BatchNorm(64), ReLU(), Dropout(0.2), Dense(64, 10)],
    ],
    ids=["relu", "bn-dropout"],
)
def test_digits(layers, backend):
    datasets = pytest.importorskip("sklearn.datasets")
    digits = datasets.load_digits()
    X, y = digits.data / 16.0, digits.target
    order = np.random.default_rng(0).permutation(len(X))
    train, test = order[:1200], order[1200:]
    model = make(layers(), backend, loss="softmax_cross_entropy", dtype="float32", seed=1)
    model.fit(X[train], y[train], epochs=10, batch_size=32, lr=0.1)
    accuracy = np.mean(model.predict(X[test]).argmax(axis=1) == y[test])
    assert accuracy > 0.9, f"held-out accuracy {accuracy:.3f}"
