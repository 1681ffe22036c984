"""Int8 inference (mlpcore.quantize): every C++ kernel path against the NumPy twin (int32
accumulators bitwise), whole networks on both engines, accuracy against the float model,
save/load/pickle/ONNX round trips, thread-count independence and bad input."""

import io
import os
import pickle
import subprocess
import sys

import numpy as np
import pytest

import mlpcore as mc
from mlpcore.reference import quantized as ref

from conftest import require_backend

KERNELS = ["amx", "vnni", "avx2", "portable"]


@pytest.fixture
def core():
    return require_backend("native") and __import__("mlpcore._core", fromlist=["testing"])


@pytest.fixture(params=KERNELS)
def kernel(request, core):
    """Forces one int8 kernel for the test (skipped where the CPU lacks it), then restores."""
    if not core.testing.int8_kernel_supported(request.param):
        pytest.skip(f"this CPU has no {request.param} int8 kernel")
    before = core.int8_kernel()
    core.testing.set_int8_kernel(request.param)
    yield request.param
    core.testing.set_int8_kernel(before)


def _digits():
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    X, y = load_digits(return_X_y=True)
    return train_test_split(X / 16, y, test_size=0.3, random_state=0)


def _net(layers, X, y, epochs=20, seed=0, loss="softmax_cross_entropy"):
    net = mc.Sequential(layers, loss=loss, dtype="float32", seed=seed)
    net.fit(X, y, epochs=epochs, batch_size=32, optimizer="adam", lr=1e-3)
    return net


# ---- the kernels ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "M,K,N",
    [
        (1, 1, 1),
        (1, 784, 1024),
        (3, 5, 17),
        (7, 13, 33),
        (8, 64, 16),
        (9, 130, 31),
        (17, 257, 70),
        (64, 100, 10),
        (16, 64, 32),  # one AMX tile pair: no tail in rows, k or columns
        (40, 200, 40),  # AMX: two full row tiles and a tail of 8, k tail 8, odd panel count
        (100, 1100, 50),
    ],
)
def test_gemm_paths_equal_twin_bitwise(core, kernel, M, K, N):
    rng = np.random.default_rng(M * 1000 + K + N)
    a = rng.integers(0, 128, (M, K)).astype(np.uint8)
    w = rng.integers(-127, 128, (K, N)).astype(np.int8)
    acc = core.testing.int8_gemm(a, w)
    twin = ref.int8_gemm(a, w)
    assert acc.dtype == np.int32 and twin.dtype == np.int32
    np.testing.assert_array_equal(acc, twin)
    np.testing.assert_array_equal(acc, a.astype(np.int64) @ w.astype(np.int64))


def test_gemm_extremes_do_not_saturate(core, kernel):
    # 127 * 127 + 127 * 127 = 32258 per vpmaddubsw pair: the largest int16 pair sum possible
    a = np.full((9, 1001), 127, np.uint8)
    w = np.full((1001, 40), 127, np.int8)
    w[1::2, ::2] = -127
    acc = core.testing.int8_gemm(a, w)
    np.testing.assert_array_equal(acc, a.astype(np.int64) @ w.astype(np.int64))
    assert acc.max() == 1001 * 127 * 127


def test_gemm_rejects_out_of_range(core):
    with pytest.raises(ValueError, match=r"\[0, 127\]"):
        core.testing.int8_gemm(np.full((1, 4), 200, np.uint8), np.ones((4, 2), np.int8))
    with pytest.raises(ValueError, match=r"\[-127, 127\]"):
        core.testing.int8_gemm(np.ones((1, 4), np.uint8), np.full((4, 2), -128, np.int8))
    with pytest.raises(ValueError, match="unknown int8 kernel"):
        core.testing.set_int8_kernel("amx9000")


def test_hand_worked_example():
    scale, zp = ref.input_quantization(-1.0, 1.0)
    inv_s, _ = ref.derived(scale, [1.0])
    assert zp == 64 and inv_s == np.float32(63.5)
    xq = ref.quantize_input(np.array([[0.5, -1.0]]), inv_s, zp)
    np.testing.assert_array_equal(xq, [[96, 0]])
    wq = np.array([[2], [1]], np.int8)
    acc = ref.int8_gemm(xq, wq)
    assert acc[0, 0] == 192
    z = ref.dense_output(acc, zp, wq.astype(np.int32).sum(axis=0), np.float32(1), np.float32(0.25))
    assert z[0, 0] == np.float32(0.25)


# ---- whole networks: C++ against the twin -----------------------------------------------------

NETS = {
    "relu": lambda: [mc.Dense(64, 96), mc.ReLU(), mc.Dense(96, 48), mc.ReLU(), mc.Dense(48, 10)],
    "bn_dropout": lambda: [
        mc.Dense(64, 128),
        mc.BatchNorm(128),
        mc.ReLU(),
        mc.Dropout(0.2),
        mc.Dense(128, 10),
    ],
    "mixed": lambda: [
        mc.BatchNorm(64),
        mc.Dense(64, 40),
        mc.Tanh(),
        mc.BatchNorm(40),
        mc.GELU(),
        mc.Dense(40, 30),
        mc.LeakyReLU(0.1),
        mc.Sigmoid(),
        mc.Dense(30, 10),
    ],
}


@pytest.mark.parametrize("name", list(NETS))
def test_network_layers_equal_twin_bitwise(core, kernel, name):
    Xtr, Xte, ytr, _ = _digits()
    net = _net(NETS[name](), Xtr, ytr, epochs=3)
    qn, qt = mc.quantize(net, Xtr), mc.quantize(net, Xtr, backend="numpy")
    X = Xte.astype(np.float32)
    for i in range(qn._engine.n_dense):
        xq, acc = qn._engine.trace(i, X)
        # the twin's integers from the same quantized input: bitwise
        np.testing.assert_array_equal(acc, ref.int8_gemm(xq, qt._arrays[f"wq_{i}"]))
        txq, tacc = qt._engine.trace(i, X)
        if name == "relu":  # ReLU and affine steps are exact: the inputs agree too
            np.testing.assert_array_equal(xq, txq)
            np.testing.assert_array_equal(acc, tacc)
        else:  # tanh/GELU/sigmoid differ between the engines by an ulp: a level, rarely
            assert np.mean(xq != txq) < 1e-3, np.mean(xq != txq)
    pn, pt = qn.predict(X), qt.predict(X)
    print(f"{name} [{kernel}]: max |native - twin| probability {np.abs(pn - pt).max():.3g}")
    if name == "relu":
        np.testing.assert_array_equal(qn.decision_function(X), qt.decision_function(X))
        assert np.abs(pn - pt).max() <= 1e-6
    else:
        assert np.abs(pn - pt).max() <= 2e-2
        assert np.mean(pn.argmax(1) == pt.argmax(1)) >= 0.995


@pytest.mark.parametrize("name", ["bn_dropout", "linear"])
def test_kernels_agree_on_whole_networks(core, name):
    Xtr, Xte, ytr, _ = _digits()
    layers = {  # linear: dense layers back to back (AMX writes the next input itself)
        "linear": lambda: [mc.Dense(64, 50), mc.Dense(50, 40), mc.ReLU(), mc.Dense(40, 10)],
    }.get(name, NETS.get(name))
    q = mc.quantize(_net(layers(), Xtr, ytr, epochs=2), Xtr)
    before = core.int8_kernel()
    outs = {}
    # row counts around the AMX kernel's 16-row tiles (blocks below 16 rows run VNNI)
    rows = [1, 15, 16, 17, 33, 100, len(Xte)]
    try:
        for k in KERNELS:
            if core.testing.int8_kernel_supported(k):
                core.testing.set_int8_kernel(k)
                outs[k] = [q.predict(Xte[:n]) for n in rows]
    finally:
        core.testing.set_int8_kernel(before)
    first = next(iter(outs.values()))
    for k, out in outs.items():
        for n, a, b in zip(rows, out, first):
            np.testing.assert_array_equal(a, b, err_msg=f"{k}, {n} rows")
    print("kernels compared:", list(outs))


@pytest.mark.parametrize("name", KERNELS)
def test_kernel_chosen_by_environment(core, name):
    code = "from mlpcore import _core; print(_core.int8_kernel())"
    env = dict(os.environ, MLPCORE_INT8_KERNEL=name)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    if core.testing.int8_kernel_supported(name):
        assert out.stdout.strip() == name
    else:  # a kernel the CPU (or the OS, for AMX's tiles) lacks is ignored
        assert out.stdout.strip() != name
        best = next(k for k in KERNELS if core.testing.int8_kernel_supported(k))
        assert out.stdout.strip() == best


# ---- accuracy ---------------------------------------------------------------------------------


def _accuracy_check(net, Xcal, Xte, yte, label):
    q = mc.quantize(net, Xcal)
    pf, pq = net.predict(Xte), q.predict(Xte)
    acc_f, acc_q = np.mean(pf.argmax(1) == yte), np.mean(pq.argmax(1) == yte)
    diff = np.abs(pf - pq).max()
    print(f"{label}: float {acc_f:.4f}, int8 {acc_q:.4f}, max probability difference {diff:.3g}")
    assert abs(acc_f - acc_q) <= 0.005, (acc_f, acc_q)
    assert diff < 0.25
    ev = q.evaluate(Xte, yte)
    assert ev["accuracy"] == pytest.approx(acc_q)
    return q


def test_accuracy_digits():
    Xtr, Xte, ytr, yte = _digits()
    net = _net(
        [mc.Dense(64, 128), mc.ReLU(), mc.Dense(128, 64), mc.ReLU(), mc.Dense(64, 10)],
        Xtr,
        ytr,
        epochs=30,
    )
    _accuracy_check(net, Xtr, Xte, yte, "digits 64-128-64-10")


def mnist_like(n, seed=0):
    """An MNIST-shaped task: 28x28 'images' in [0, 1], 10 classes, each a blurred random
    stroke template plus pixel noise and a random shift."""
    rng = np.random.default_rng(seed)
    templates = rng.random((10, 28, 28)) ** 6
    for _ in range(2):  # blur
        templates = (templates + np.roll(templates, 1, 1) + np.roll(templates, 1, 2)) / 3
    templates /= templates.max(axis=(1, 2), keepdims=True)
    y = rng.integers(0, 10, n)
    X = templates[y]
    shift = rng.integers(-2, 3, (n, 2))
    X = np.stack([np.roll(x, tuple(s), (0, 1)) for x, s in zip(X, shift)])
    X = np.clip(X * rng.uniform(0.6, 1.0, (n, 1, 1)) + rng.normal(0, 0.25, X.shape), 0, 1)
    return X.reshape(n, 784).astype(np.float32), y


def test_accuracy_mnist_shaped():
    X, y = mnist_like(6000)
    Xtr, ytr, Xte, yte = X[:4000], y[:4000], X[4000:], y[4000:]
    net = _net(
        [mc.Dense(784, 256), mc.ReLU(), mc.Dense(256, 128), mc.ReLU(), mc.Dense(128, 10)],
        Xtr,
        ytr,
        epochs=3,
    )
    _accuracy_check(net, Xtr[:1000], Xte, yte, "MNIST-shaped 784-256-128-10")


def test_other_losses():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 6))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0], axis=1).astype(float)
    net = _net([mc.Dense(6, 16), mc.ReLU(), mc.Dense(16, 2)], X, Y, loss="binary_cross_entropy")
    q = mc.quantize(net, X)
    assert q.predict_classes(X).shape == (300, 2)
    assert np.mean(q.predict_classes(X) == net.predict_classes(X)) > 0.97
    r = _net([mc.Dense(6, 16), mc.Tanh(), mc.Dense(16, 1)], X, X[:, :1] * 2, loss="mse")
    qr = mc.quantize(r, X)
    assert np.abs(qr.predict(X) - r.predict(X)).max() < 0.1
    assert set(qr.evaluate(X, X[:, 0] * 2)) == {"loss", "r2", "mae"}
    with pytest.raises(ValueError, match="classification loss"):
        qr.predict_proba(X)


# ---- persistence and interop ------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["numpy", "native"])
def test_save_load_pickle_bitwise(backend, tmp_path):
    require_backend(backend)
    Xtr, Xte, ytr, _ = _digits()
    q = mc.quantize(_net(NETS["mixed"](), Xtr, ytr, epochs=2), Xtr, backend=backend)
    p = q.predict(Xte)
    mc.save(q, tmp_path / "q")
    loaded = mc.load(tmp_path / "q")
    assert type(loaded) is mc.QuantizedSequential and loaded.backend == "native"
    np.testing.assert_array_equal(mc.load(tmp_path / "q", backend=backend).predict(Xte), p)
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(q)).predict(Xte), p)
    assert "Dense int8 64 -> 40" in q.summary()


def test_load_rejects_damaged_quantized_files(tmp_path):
    Xtr, _, ytr, _ = _digits()
    q = mc.quantize(_net(NETS["relu"](), Xtr, ytr, epochs=1), Xtr, backend="numpy")
    meta, arrays = q._capture()
    import json

    for change in [
        lambda m, a: a.__setitem__("wq_0", a["wq_0"].astype(np.int16)),
        lambda m, a: a.__setitem__("bias_1", a["bias_1"][:-1]),
        lambda m, a: a.__setitem__("wq_2", np.full_like(a["wq_2"], -128)),
        lambda m, a: m["ops"][0].__setitem__("zp", 300),
        lambda m, a: m["ops"][1].__setitem__("name", "nope"),
        lambda m, a: a.pop("w_scale_0"),
    ]:
        m, a = json.loads(json.dumps(meta)), {k: v.copy() for k, v in arrays.items()}
        change(m, a)
        b = io.BytesIO()
        np.savez(b, config=np.array(json.dumps(m)), **a)
        b.seek(0)
        with pytest.raises(mc.ModelFileError):
            mc.load(b)


def test_onnx_export_runs_in_onnxruntime():
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    Xtr, Xte, ytr, _ = _digits()
    for name in NETS:
        q = mc.quantize(_net(NETS[name](), Xtr, ytr, epochs=3), Xtr)
        model = mc.onnx.export(q)
        s = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
        po = s.run(None, {"X": Xte.astype(np.float32)})[0]
        pq = q.predict(Xte)
        diff = np.abs(po - pq).max()
        print(f"{name}: onnxruntime vs mlpcore int8, max probability difference {diff:.3g}")
        assert diff <= 1e-2
        assert np.mean(po.argmax(1) == pq.argmax(1)) >= 0.995


@pytest.mark.filterwarnings("ignore:Stochastic Optimizer")
def test_estimators():
    pytest.importorskip("sklearn")
    from sklearn.base import clone

    from mlpcore import MLPClassifier, MLPRegressor

    Xtr, Xte, ytr, yte = _digits()
    clf = MLPClassifier(hidden_layer_sizes=(64,), max_iter=60, random_state=0).fit(Xtr, ytr)
    q = mc.quantize(clf, Xtr)
    assert type(q).__name__ == "QuantizedMLPClassifier"
    assert abs(q.score(Xte, yte) - clf.score(Xte, yte)) <= 0.01
    assert np.abs(q.predict_proba(Xte) - clf.predict_proba(Xte)).max() < 0.1
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(q)).predict(Xte), q.predict(Xte))
    assert clf.model_.__class__.__name__ == "Sequential"  # the original is untouched
    with pytest.raises(TypeError, match="cannot be trained"):
        q.fit(Xtr, ytr)
    with pytest.raises(TypeError, match="cannot be trained"):
        q.partial_fit(Xtr, ytr)
    with pytest.raises(TypeError, match="cannot be trained"):
        clone(q).fit(Xtr, ytr)
    reg = MLPRegressor(hidden_layer_sizes=(32,), max_iter=100, random_state=0).fit(Xtr, ytr / 9)
    qr = mc.quantize(reg, Xtr)
    assert abs(qr.score(Xte, yte / 9) - reg.score(Xte, yte / 9)) < 0.02
    with pytest.raises(Exception, match="not fitted"):
        mc.quantize(MLPClassifier(), Xtr)


# ---- threads ----------------------------------------------------------------------------------


def test_thread_count_independent(core):
    X, y = mnist_like(700, seed=1)
    net = _net(
        [mc.Dense(784, 256), mc.ReLU(), mc.Dense(256, 300), mc.ReLU(), mc.Dense(300, 10)],
        X,
        y,
        epochs=1,
    )
    q = mc.quantize(net, X)
    before = mc.get_num_threads()
    try:
        outs = {}
        for t in (1, 2, 3, 4):
            mc.set_num_threads(t)
            outs[t] = [q.predict(X[:n]) for n in (1, 5, 64, 130, 700)]
    finally:
        mc.set_num_threads(before)
    for t in (2, 3, 4):
        for a, b in zip(outs[1], outs[t]):
            np.testing.assert_array_equal(a, b)


# ---- bad input --------------------------------------------------------------------------------


def test_bad_input():
    Xtr, Xte, ytr, _ = _digits()
    net = _net(NETS["relu"](), Xtr, ytr, epochs=1)
    with pytest.raises(ValueError, match="X_calibration"):
        mc.quantize(net, Xtr[:, :10])
    bad = Xtr.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="X_calibration"):
        mc.quantize(net, bad)
    with pytest.raises(TypeError, match="Sequential"):
        mc.quantize("net", Xtr)
    with pytest.raises(ValueError, match="backend"):
        mc.quantize(net, Xtr, backend="gpu")
    q = mc.quantize(net, Xtr)
    with pytest.raises(ValueError, match="X"):
        q.predict(Xte[:, :3])
    bad = Xte.copy()
    bad[0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        q.predict(bad)
    with pytest.raises(ValueError, match="y"):
        q.evaluate(Xte, np.full(len(Xte), 11))
    with pytest.raises(TypeError, match="cannot be trained"):
        q.fit(Xtr, ytr)
    with pytest.raises(TypeError, match="mlpcore.quantize"):
        mc.QuantizedSequential()
    with pytest.raises(ValueError, match="Dense"):
        mc.quantize(mc.Sequential([mc.BatchNorm(64)], loss="mse", input_dim=64), Xtr)
    # inputs beyond the calibrated range are clamped, never wrapped
    far = q.predict(Xte * 50)
    assert np.isfinite(far).all()


def test_new_activations_and_unsupported_layers():
    Xtr, Xte, ytr, _ = _digits()
    net = _net(
        [
            mc.Dense(64, 32),
            mc.SiLU(),
            mc.Dense(32, 32),
            mc.ELU(0.5),
            mc.Dense(32, 16),
            mc.Softplus(),
            mc.Dense(16, 10),
        ],
        Xtr,
        ytr,
        epochs=3,
    )
    qn, qt = mc.quantize(net, Xtr), mc.quantize(net, Xtr, backend="numpy")
    pn, pt, pf = qn.predict(Xte), qt.predict(Xte), net.predict(Xte)
    print(
        f"SiLU/ELU/Softplus: native vs twin {np.abs(pn - pt).max():.3g}, "
        f"vs float {np.abs(pn - pf).max():.3g}"
    )
    assert np.abs(pn - pt).max() <= 2e-2 and np.mean(pn.argmax(1) == pt.argmax(1)) >= 0.995
    assert np.mean(pn.argmax(1) == pf.argmax(1)) >= 0.97
    ln = mc.Sequential(
        [mc.Dense(64, 32), mc.LayerNorm(32), mc.ReLU(), mc.Dense(32, 10)],
        loss="softmax_cross_entropy",
        seed=0,
    )
    with pytest.raises(ValueError, match=r"cannot quantize layer 1 \(LayerNorm"):
        mc.quantize(ln, Xtr)
