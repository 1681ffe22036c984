"""The lecture's claims that the gallery (examples/plot_*.py) draws, checked cheaply on both
engines: function equivalence of tanh layers, depth folding a line exactly, the classical
linear models as networks, and gradient norms over depth with and without batch norm."""

import itertools
import math

import numpy as np
import pytest

import mlpcore as mc

from conftest import make


def test_permuted_and_sign_flipped_tanh_units_give_the_same_function(backend, rng):
    # 2^m m! parameter vectors of an m-unit tanh layer compute one function
    m = 3
    net = make([mc.Dense(2, m), mc.Tanh(), mc.Dense(m, 2)], backend, loss="mse", dtype="float64")
    W1, b1, W2, b2 = (rng.normal(0, 1.5, s) for s in [(2, m), (m,), (m, 2), (2,)])
    X = rng.normal(size=(50, 2))
    net.set_weights([W1, b1, W2, b2])
    reference = net.predict(X)
    params, worst = set(), 0.0
    for perm in itertools.permutations(range(m)):
        for signs in itertools.product([1.0, -1.0], repeat=m):
            s, p = np.array(signs), list(perm)
            weights = [W1[:, p] * s, b1[p] * s, W2[p, :] * s[:, None], b2]
            net.set_weights(weights)
            worst = max(worst, float(np.max(np.abs(net.predict(X) - reference))))
            params.add(tuple(np.concatenate([w.ravel() for w in weights]).round(12)))
    print(f"{len(params)} distinct parameter vectors, max |output - reference| {worst:.1e}")
    assert len(params) == 2**m * math.factorial(m) == 48
    assert worst < 1e-13
    # flipping one unit's outgoing weights alone is not a symmetry
    net.set_weights([W1, b1, W2 * np.array([[-1.0], [1.0], [1.0]]), b2])
    assert np.max(np.abs(net.predict(X) - reference)) > 1e-2


def test_deep_relu_net_folds_the_line_into_a_sawtooth_exactly(backend):
    # 4 hidden layers of 2 ReLUs compose the tent map 4 times: 16 linear pieces
    xs = np.linspace(0, 1, 257)[:, None]
    target = xs.copy()
    for _ in range(4):
        target = 1 - np.abs(2 * target - 1)
    layers = [mc.Dense(1, 2), mc.ReLU()]
    for _ in range(3):
        layers += [mc.Dense(2, 2), mc.ReLU()]
    net = make(layers + [mc.Dense(2, 1)], backend, loss="mse", dtype="float64")
    tent_in = [np.array([[1.0, 1.0]]), np.array([0.0, -0.5])]
    tent_next = [np.array([[2.0, 2.0], [-4.0, -4.0]]), np.array([0.0, -0.5])]
    net.set_weights(tent_in + tent_next * 3 + [np.array([[2.0], [-4.0]]), np.array([0.0])])
    err = np.max(np.abs(net.predict(xs) - target))
    print(f"max |deep net - sawtooth| {err:.1e}")
    assert err < 1e-12
    assert np.sum(np.abs(np.diff(np.sign(np.diff(target[:, 0])))) > 0) == 15  # 16 pieces


def test_logistic_regression_optimum_is_a_stationary_point_of_the_sigmoid_unit(backend, rng):
    from sklearn.linear_model import LogisticRegression

    X = np.vstack([rng.normal(-0.7, 1, (60, 2)), rng.normal(0.7, 1, (60, 2))])
    y = np.repeat([0, 1], 60)
    sk = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10000).fit(X, y)
    net = make([mc.Dense(2, 1)], backend, loss="binary_cross_entropy", dtype="float64")
    net.set_weights([sk.coef_.T.copy(), sk.intercept_.copy()])
    p = sk.predict_proba(X)[:, 1]
    sk_loss = -np.mean(y * np.log(p) + (1 - y) * np.log(1 - p))
    grad = max(float(np.max(np.abs(g))) for g in net.gradients(X, y))
    print(f"loss mlpcore {net.loss(X, y):.12f}, scikit-learn {sk_loss:.12f}; max |grad| {grad:.1e}")
    assert abs(net.loss(X, y) - sk_loss) < 1e-12
    assert np.allclose(net.predict(X)[:, 0], p, rtol=1e-12, atol=1e-14)
    assert grad < 1e-6


def test_tanh_unit_is_a_rescaled_sigmoid_unit(backend, rng):
    # tanh(z) = 2 sigmoid(2 z) - 1: the same linear boundary z = 0
    W, b = rng.normal(size=(3, 1)), rng.normal(size=1)
    X = rng.normal(size=(40, 3))
    tanh_unit = make([mc.Dense(3, 1), mc.Tanh()], backend, loss="mse", dtype="float64")
    tanh_unit.set_weights([W, b])
    sigmoid_unit = make([mc.Dense(3, 1)], backend, loss="binary_cross_entropy", dtype="float64")
    sigmoid_unit.set_weights([2 * W, 2 * b])
    diff = np.max(np.abs(tanh_unit.predict(X) - (2 * sigmoid_unit.predict(X) - 1)))
    print(f"max |tanh unit - (2 sigmoid unit - 1)| {diff:.1e}")
    assert diff < 1e-14


def test_pca_solution_is_a_stationary_point_of_the_linear_autoencoder(backend, rng):
    # d -> k -> d, identity activations, squared error: PCA's projection is a critical
    # point, with PCA's reconstruction error as its loss
    D = rng.normal(size=(200, 5)) @ rng.normal(size=(5, 5))
    mean = D.mean(axis=0)
    V = np.linalg.svd(D - mean, full_matrices=False)[2][:2]  # (2, 5): the first 2 components
    net = make([mc.Dense(5, 2), mc.Dense(2, 5)], backend, loss="mse", dtype="float64")
    net.set_weights([V.T.copy(), -mean @ V.T, V.copy(), mean])
    rec = (D - mean) @ V.T @ V + mean
    pca_loss = 0.5 * np.mean(np.sum((rec - D) ** 2, axis=1))
    grad = max(float(np.max(np.abs(g))) for g in net.gradients(D, D))
    # a random rotation of the code keeps the subspace, the loss, and stationarity
    Q = np.linalg.qr(rng.normal(size=(2, 2)))[0]
    net2 = make([mc.Dense(5, 2), mc.Dense(2, 5)], backend, loss="mse", dtype="float64")
    net2.set_weights([V.T @ Q, -mean @ V.T @ Q, Q.T @ V, mean])
    print(f"loss {net.loss(D, D):.10f} vs PCA {pca_loss:.10f}; max |grad| {grad:.1e}")
    assert abs(net.loss(D, D) - pca_loss) < 1e-10 * pca_loss
    assert abs(net2.loss(D, D) - pca_loss) < 1e-10 * pca_loss
    assert grad < 1e-9 * np.abs(D).max() ** 2
    # any other 2-D subspace does worse
    other = np.linalg.qr(V.T + 0.3 * rng.normal(size=(5, 2)))[0].T
    net.set_weights([other.T.copy(), -mean @ other.T, other.copy(), mean])
    assert net.loss(D, D) > pca_loss * (1 + 1e-3)


@pytest.mark.parametrize("batch_norm", [False, True])
def test_deep_sigmoid_gradients_span_orders_of_magnitude_unless_batch_norm(backend, batch_norm):
    depth, width = 12, 16
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, width))
    y = rng.integers(0, 2, 64)
    layers, n_in = [], width
    for _ in range(depth):
        layers.append(mc.Dense(n_in, width))
        if batch_norm:
            layers.append(mc.BatchNorm(width))
        layers.append(mc.Sigmoid())
        n_in = width
    net = make(layers + [mc.Dense(width, 2)], backend, loss="softmax_cross_entropy")
    grads = net.gradients(X, y, training=True)
    dense = [layer for layer in net.layers if isinstance(layer, mc.Dense)]
    # the Dense weight matrices are the 2-D gradients, in layer order
    norms = np.array([np.linalg.norm(g) for g in grads if g.ndim == 2])
    assert len(norms) == len(dense)
    span = norms.max() / norms.min()
    print(
        f"batch_norm={batch_norm}: |dL/dW| first {norms[0]:.1e}, last {norms[-1]:.1e}, "
        f"max/min {span:.1e}"
    )
    if batch_norm:
        assert span < 1e2
    else:
        assert span > 1e5 and norms[0] < norms[-1] * 1e-5
