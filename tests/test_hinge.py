"""The hinge losses (Keras' "hinge" and "squared_hinge": identity output, labels in {-1, 1} or
{0, 1}, the mean over outputs) along the chain of trust: finite differences check the twin
through whole models, the twin checks C++, and the hand-written formula in torch (torch has
no such loss: hinge_embedding_loss is another function) checks a whole SGD fit. Then the
lecture's linear SVM as a network: one Dense layer, hinge + L2, reaching the max-margin line.
The kernels themselves: test_reference_gradients.py, test_native_kernels.py."""

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import Dense, ReLU, Tanh
from mlpcore.convert_torch import torch_loss

from conftest import (
    TOLERANCES,
    assert_all_close,
    assert_close,
    make,
    numerical_gradient,
    random_weights,
)

FD = {"rtol": 1e-6, "atol": 1e-8}
HINGES = ["hinge", "squared_hinge"]


def _report(what, a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.max(np.abs(a - b))
    print(
        f"{what}: max |diff| {diff:.3e}, relative to max |ref| "
        f"{diff / max(np.max(np.abs(b)), 1e-300):.3e}"
    )


def _labels(rng, n, k, zero_one):
    y = rng.choice([-1.0, 1.0], (n, k))
    y = (y + 1) / 2 if zero_one else y
    return y[:, 0] if k == 1 else y


def _net(loss, backend, dtype="float64", k=2, seed=3):
    return make(
        [Dense(4, 6), Tanh(), Dense(6, 5), ReLU(), Dense(5, k)],
        backend,
        loss=loss,
        dtype=dtype,
        seed=seed,
    )


# ---- finite differences check the twin through the whole Sequential --------------------------
@pytest.mark.parametrize("loss", HINGES)
@pytest.mark.parametrize("zero_one", [False, True], ids=["pm1", "01"])
def test_sequential_gradients_match_finite_differences(loss, zero_one, rng):
    model = _net(loss, "numpy")
    weights = random_weights(model, rng, scale=0.8)
    model.set_weights(weights)
    X, y = rng.normal(size=(9, 4)), _labels(rng, 9, 2, zero_one)
    w = rng.uniform(0.2, 2.0, 9)
    grads = model.gradients(X, y, sample_weight=w)
    for i, wi in enumerate(weights):
        wi = np.array(wi, dtype=np.float64)

        def value():
            model.set_weights(weights[:i] + [wi] + weights[i + 1 :])
            return model.loss(X, y, sample_weight=w)

        num = numerical_gradient(value, wi)
        _report(f"{loss} weights[{i}] vs finite differences", grads[i], num)
        assert_close(grads[i], num, **FD, what=f"{loss} weights[{i}]")


# ---- the twin checks C++ -------------------------------------------------------------------
@pytest.mark.parametrize("loss", HINGES)
@pytest.mark.parametrize("k", [1, 3])
def test_engines_agree(loss, k, dtype, native, rng):
    tol = TOLERANCES[dtype]
    models = [_net(loss, b, dtype, k=k) for b in ("native", "numpy")]
    w0 = random_weights(models[1], rng, scale=0.8)
    for m in models:
        m.set_weights(w0)
    X, y = rng.normal(size=(21, 4)), _labels(rng, 21, k, zero_one=k == 3)
    sw = rng.uniform(0.5, 2.0, 21)
    for weights in (None, sw):
        values = [m.loss(X, y, sample_weight=weights) for m in models]
        _report(f"{loss} k={k} {dtype} loss C++ vs twin", *values)
        assert_close(*values, **tol, what="loss")
        g = [m.gradients(X, y, sample_weight=weights) for m in models]
        for a, b in zip(*g):
            _report(f"{loss} k={k} {dtype} gradients C++ vs twin", a, b)
        assert_all_close(*g, **tol, what="gradients")
    h = [
        m.fit(X, y, epochs=3, batch_size=5, lr=0.05, l2_alpha=0.1, sample_weight=sw) for m in models
    ]
    _report(f"{loss} k={k} {dtype} loss history C++ vs twin", *h)
    assert_close(*h, **tol, what="loss history")
    assert_all_close(models[0].get_weights(), models[1].get_weights(), **tol, what="weights")
    assert np.array_equal(models[0].predict_classes(X), models[1].predict_classes(X))


# ---- against the formula in torch ----------------------------------------------------------
@pytest.mark.parametrize("loss", HINGES)
def test_sgd_fit_matches_torch(loss, backend, rng):
    # plain SGD over the same batches (shuffle=False), the loss as mlpcore's torch_loss writes
    # it: clamp(1 - t z, min=0) (squared), the mean over outputs and samples
    torch = pytest.importorskip("torch")
    net = _net(loss, backend, k=2)
    net.set_weights(random_weights(net, rng, scale=0.8))
    X, y = rng.normal(size=(24, 4)), _labels(rng, 24, 2, zero_one=True)
    module = mc.to_torch(net).train()
    net.fit(X, y, epochs=3, batch_size=8, lr=0.2, shuffle=False)
    opt = torch.optim.SGD(module.parameters(), lr=0.2)
    f = torch_loss(net)
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(3):
        for start in range(0, 24, 8):
            opt.zero_grad()
            f(module(Xt[start : start + 8]), yt[start : start + 8]).backward()
            opt.step()
    theirs = mc.from_torch(module, loss=loss).get_weights()
    for a, b in zip(net.get_weights(), theirs):
        _report(f"{backend} {loss} weights after SGD vs torch", a, b)
    assert_all_close(net.get_weights(), theirs, rtol=1e-10, atol=1e-12, what="weights")


def test_torch_loss_is_net_loss(rng):
    torch = pytest.importorskip("torch")
    for loss in HINGES:
        net = _net(loss, "numpy", k=3)
        X, y = rng.normal(size=(10, 4)), _labels(rng, 10, 3, zero_one=False)
        with torch.no_grad():
            value = torch_loss(net)(
                mc.to_torch(net)(torch.from_numpy(X)), torch.from_numpy(y)
            ).item()
        assert abs(value - net.loss(X, y)) <= 1e-14 * abs(value), (loss, value, net.loss(X, y))


# ---- predict_classes, evaluate, the API's label rules ----------------------------------------
def test_predict_classes_evaluate_and_labels(backend):
    net = make([Dense(2, 1)], backend, loss="hinge", seed=0)
    net.set_weights([np.array([[1.0], [0.0]]), np.array([0.0])])  # z = x0
    X = np.array([[2.0, 0.0], [-1.0, 5.0], [0.0, 1.0], [-0.5, 0.0]])
    np.testing.assert_array_equal(net.predict(X)[:, 0], [2.0, -1.0, 0.0, -0.5])
    np.testing.assert_array_equal(net.predict_classes(X), [1, -1, 1, -1])  # +1 at z = 0
    for y in ([1, -1, -1, -1], [1, 0, 0, 0]):  # the same labels in both codings
        out = net.evaluate(X, np.array(y, float))
        # margins 1 - t z: [-1, 0, 1, 0.5] -> hinge (0 + 0 + 1 + 0.5) / 4 = 0.375; 3 of 4 right
        assert out == {"loss": 0.375, "accuracy": 0.75}
    with pytest.raises(
        ValueError, match="predict_proba needs a classification loss with probability"
    ):
        net.predict_proba(X)
    for bad in ([1, 0, -1, 1], [2, 1, 1, 1], [0.5, 1, 1, 1]):
        with pytest.raises(
            ValueError,
            match=r"targets of hinge must be labels, all in \{-1, 1\} "
            r"or all in \{0, 1\}",
        ):
            net.fit(X, np.array(bad, float))


def test_class_weight_and_stratified_split(backend, rng):
    net = make([Dense(2, 1)], backend, loss="squared_hinge", seed=0)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0.8, 1.0, -1.0)
    net.fit(X, y, epochs=2, class_weight="balanced", validation_split=0.25, lr=0.1)
    assert set(net.history_) >= {"loss", "val_loss", "val_accuracy"}
    # class 1 is the label +1: "balanced" weighs each sample by n / (2 n_class)
    from mlpcore._training import _class_weights

    w = _class_weights("balanced", y[:, None], "squared_hinge")
    n_pos = int((y > 0).sum())
    np.testing.assert_allclose(w[y > 0], 40 / (2 * n_pos))
    np.testing.assert_allclose(w[y < 0], 40 / (2 * (40 - n_pos)))


def test_onnx_output_is_the_margin(rng):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    for loss in HINGES:
        net = _net(loss, "native", dtype="float32", k=2)
        X = rng.normal(size=(30, 4)).astype(np.float32)
        model = mc.onnx.export(net)
        out = ort.InferenceSession(
            model.SerializeToString(), providers=["CPUExecutionProvider"]
        ).run(None, {"X": X})[0]
        _report(f"{loss} onnxruntime vs predict", out, net.predict(X))
        assert_close(out, net.predict(X), rtol=1e-5, atol=1e-5, what=f"{loss} ONNX output")


# ---- the lecture's linear SVM as a network --------------------------------------------------
def test_linear_svm_reaches_the_max_margin_line(backend):
    # Six points, separable by the line x0 = 0 with margin 2 on each side: the hard-margin SVM
    # is w = (1/2, 0), b = 0 (w.x + b = +-1 at the support vectors (+-2, 0); ||w|| = 1/margin).
    # Full-batch hinge + l2_alpha a minimises (1/n) [sum_i max(0, 1 - t_i z_i) + a/2 ||w||^2],
    # the soft-margin SVM with C = 1/a. Its solution is the hard margin when C >= the support
    # vectors' dual weight: w = sum_i c_i t_i x_i = c (2, 0) + c (2, 0) gives c = 1/8, so a = 1
    # (C = 1) has it.
    X = np.array([[2.0, 0.0], [3.0, 1.0], [3.0, -1.0], [-2.0, 0.0], [-3.0, 1.0], [-3.0, -1.0]])
    y = np.array([1.0, 1.0, 1.0, 0.0, 0.0, 0.0])  # 0/1 labels: 0 is read as -1
    net = make([Dense(2, 1)], backend, loss="hinge", seed=1)
    net.set_weights([np.array([[0.1], [0.3]]), np.array([0.4])])  # a wrong line to start
    for lr in (0.1, 0.01, 0.001):  # subgradient descent, the rate cut tenfold in stages
        net.fit(X, y, epochs=1000, batch_size=6, lr=lr, l2_alpha=1.0, shuffle=False)
    W, b = net.get_weights()
    w = W[:, 0]
    print(
        f"{backend}: w = {w}, b = {b[0]:.3e}, margin 1/||w|| = {1 / np.linalg.norm(w):.4f}, "
        f"line x0 = {-b[0] / w[0]:.3e}"
    )
    np.testing.assert_array_equal(net.predict_classes(X), [1, 1, 1, -1, -1, -1])
    assert abs(-b[0] / w[0]) < 1e-6, "the line is x0 = 0"
    assert abs(w[1]) < 1e-6 * abs(w[0]), "the line is vertical"
    assert abs(w[0] - 0.5) < 2e-3, "margin 2: w0 = 1/2"
    assert net.evaluate(X, y)["accuracy"] == 1.0


def test_linear_svm_agrees_with_scikit_learn(backend, rng):
    # a noisy, overlapping problem: the soft-margin SVC with C = 1/l2_alpha (intercept not
    # regularised, as here) and the network's weights agree
    svm = pytest.importorskip("sklearn.svm")
    X = rng.normal(size=(60, 2))
    y = np.where(X @ np.array([1.5, -1.0]) + 0.3 + rng.normal(0, 0.5, 60) > 0, 1.0, -1.0)
    alpha = 1.0
    ref = svm.SVC(kernel="linear", C=1 / alpha, tol=1e-10).fit(X, y)
    net = make([Dense(2, 1)], backend, loss="hinge", seed=0)
    for lr in (0.3, 0.03, 0.003, 0.0003):
        net.fit(X, y, epochs=1500, batch_size=60, lr=lr, l2_alpha=alpha, shuffle=False)
    W, b = net.get_weights()
    ours, theirs = np.r_[W[:, 0], b], np.r_[ref.coef_[0], ref.intercept_]
    print(
        f"{backend}: network (w, b) {ours}, SVC {theirs}, max |diff| "
        f"{np.max(np.abs(ours - theirs)):.3e}"
    )
    assert np.max(np.abs(ours - theirs)) < 1e-3 * np.max(np.abs(theirs))
    assert np.array_equal(net.predict_classes(X), ref.predict(X).astype(np.int64))
