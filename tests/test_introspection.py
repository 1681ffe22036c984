"""Introspection and convenience: summary()/count_params(), layer_outputs(), Dense(n_out) with
input_dim, Keras loss aliases, mlpcore.set/get_num_threads, predict_classes/predict_proba.
Everything numerical runs on both engines; cross-engine comparisons print their max
difference (pytest -s shows them)."""

import json
import pickle
import sys

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import GELU, BatchNorm, Dense, Dropout, LeakyReLU, ReLU, Sequential, Sigmoid, Tanh
from mlpcore.reference import losses as ref_losses

from conftest import (
    TOLERANCES,
    assert_all_close,
    assert_all_equal,
    assert_close,
    assert_unchanged,
    make,
    random_weights,
    snapshot,
    targets,
)


def _report(what, a, b):
    diff = max(
        float(np.max(np.abs(np.asarray(x, np.float64) - np.asarray(y, np.float64))))
        for x, y in zip(a, b)
    )
    print(f"{what}: max |diff| {diff:.3e}")


def bn_model(backend, dtype="float64", seed=4):
    return make(
        [Dense(5, 8), BatchNorm(8), ReLU(), Dropout(0.25), Dense(8, 6), Tanh(), Dense(6, 3)],
        backend,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=seed,
    )


# ---- summary and count_params -------------------------------------------------------------------
def test_summary_counts_match_the_weights_and_state(backend, dtype):
    model = bn_model(backend, dtype)
    s = model.summary()
    n_weights = sum(w.size for w in model.get_weights())
    n_state = sum(a.size for a in model.get_state())
    assert (s.trainable, s.non_trainable, s.total) == (n_weights, n_state, n_weights + n_state)
    assert model.count_params() == n_weights + n_state
    assert s.nbytes == (n_weights + n_state) * np.dtype(dtype).itemsize
    assert [r.output_shape for r in s.rows] == [(None, 8)] * 4 + [(None, 6)] * 2 + [(None, 3)]
    assert [r.layer for r in s.rows] == [repr(l) for l in model.layers]


def test_summary_hand_counted():
    # Dense(784, 64): 784*64 + 64 = 50240; BatchNorm(64): gamma, beta 128, running stats 128;
    # Dense(64, 10): 64*10 + 10 = 650. Trainable 51018, non-trainable 128, total 51146,
    # float32: 51146 * 4 = 204584 bytes = 199.79 KiB.
    model = Sequential(
        [Dense(64), BatchNorm(64), ReLU(), Dense(10)],
        input_dim=784,
        loss="softmax_cross_entropy",
        dtype="float32",
        seed=0,
        backend="numpy",
    )
    s = model.summary()
    assert [(r.trainable, r.non_trainable) for r in s.rows] == [
        (50240, 0),
        (128, 128),
        (0, 0),
        (650, 0),
    ]
    assert (s.trainable, s.non_trainable, s.total, s.nbytes) == (51018, 128, 51146, 204584)
    text = str(s)
    print(text)
    for piece in (
        "Dense(64)",
        "(None, 64)",
        "50,240",
        "Trainable params:     51,018",
        "Non-trainable params: 128",
        "Total params:         51,146",
        "Memory (float32):     204,584 bytes (199.79 KiB)",
        "loss softmax_cross_entropy",
        "dtype float32",
        "input (None, 784)",
    ):
        assert piece in text, piece
    assert repr(s) == text  # a notebook shows the table too


def test_print_summary(capsys):
    model = bn_model("numpy")
    print(model.summary())
    out = capsys.readouterr().out
    assert out.startswith("Sequential: input (None, 5)") and "Dropout(p=0.25)" in out


# ---- layer_outputs ------------------------------------------------------------------------------
def _forward_by_hand(weights, state, X):
    """The layers of hand_model in NumPy, evaluation mode: every layer's output."""
    W1, b1, g, beta, W2, b2, W3, b3 = [np.asarray(w, np.float64) for w in weights]
    mean, var = [np.asarray(a, np.float64) for a in state]
    out = [X @ W1 + b1]
    out.append(g * (out[-1] - mean) / np.sqrt(var + 1e-5) + beta)
    out.append(np.maximum(out[-1], 0))
    out.append(out[-1])  # dropout: identity in evaluation
    out.append(out[-1] @ W2 + b2)
    out.append(np.where(out[-1] > 0, out[-1], 0.1 * out[-1]))
    out.append(out[-1] @ W3 + b3)
    z = out[-1]
    e = np.exp(z - z.max(axis=1, keepdims=True))
    out.append(e / e.sum(axis=1, keepdims=True))
    return out


def hand_model(backend, dtype, rng):
    model = make(
        [Dense(4, 6), BatchNorm(6), ReLU(), Dropout(0.5), Dense(6, 5), LeakyReLU(0.1), Dense(5, 3)],
        backend,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=1,
    )
    model.set_weights(random_weights(model, rng))
    model.set_state([rng.normal(size=6), rng.uniform(0.5, 2, 6)])
    return model


def test_layer_outputs_are_the_forward_pass(backend, dtype, tol, rng):
    model = hand_model(backend, dtype, rng)
    X = rng.normal(size=(7, 4))
    outputs = model.layer_outputs(X)
    assert len(outputs) == len(model.layers) + 1
    assert all(o.dtype == np.dtype(dtype) for o in outputs)
    expected = _forward_by_hand(model.get_weights(), model.get_state(), X.astype(dtype))
    _report(f"layer_outputs vs NumPy by hand ({backend}, {dtype})", outputs, expected)
    assert_all_close(outputs, expected, **tol, what="layer outputs")
    assert_all_equal(outputs[-1:], [model.predict(X)], "output activation vs predict")


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training,step", [(False, None), (True, 0), (True, 5)])
def test_layer_outputs_engines_agree(native, dtype, training, step, rng):
    tol = TOLERANCES[dtype]
    models = [hand_model(b, dtype, np.random.default_rng(3)) for b in ("numpy", "native")]
    X = rng.normal(size=(9, 4))
    a, b = (m.layer_outputs(X, training=training, step=step) for m in models)
    _report(f"layer_outputs numpy vs native ({dtype}, training={training}, step={step})", b, a)
    assert_all_close(b, a, **tol, what="native vs numpy layer outputs")
    for m, outs in zip(models, (a, b)):
        assert_close(
            outs[-1],
            m.predict(X, training=training, step=step),
            **tol,
            what="last element vs predict",
        )


def test_layer_outputs_in_training_mode(backend, rng):
    model = hand_model(backend, "float64", rng)
    snap = snapshot(model)
    X = rng.normal(size=(8, 4))
    outs = model.layer_outputs(X, training=True, step=2)
    z = outs[0]  # batch statistics, not the running ones
    bn = (z - z.mean(axis=0)) / np.sqrt(z.var(axis=0) + 1e-5) * model.get_weights()[
        2
    ] + model.get_weights()[3]
    assert_close(outs[1], bn, rtol=1e-10, atol=1e-12, what="batch norm with batch statistics")
    kept = outs[3] != 0  # dropout p=0.5: kept elements doubled, the others zero
    assert 0 < kept.sum() < kept.size
    assert_close(outs[3][kept], 2 * outs[2][kept], rtol=1e-12, atol=0, what="kept elements")
    assert_close(
        outs[-1],
        model.predict(X, training=True, step=2),
        rtol=1e-12,
        atol=1e-14,
        what="output vs predict(training=True, step=2)",
    )
    different_step = model.layer_outputs(X, training=True, step=3)[3]
    assert not np.array_equal(different_step != 0, kept)
    assert_unchanged(model, snap)  # running statistics untouched


def test_layer_outputs_with_layers_before_the_first_dense(native, rng):
    # an input dropout and an activation in front: the C++ engine needs a layer with
    # parameters, so layer_outputs computes these two with the twin
    layers = lambda: [Dropout(0.5), GELU(), Dense(4, 5), Sigmoid(), Dense(5, 2)]  # noqa: E731
    models = [make(layers(), b, loss="binary_cross_entropy", seed=8) for b in ("numpy", "native")]
    X = rng.normal(size=(6, 4))
    for training in (False, True):
        a, b = (m.layer_outputs(X, training=training, step=1) for m in models)
        _report(f"leading parameterless layers, numpy vs native (training={training})", b, a)
        assert_all_close(b, a, **TOLERANCES["float64"], what="native vs numpy")
        assert len(a) == 6 and (training or np.array_equal(a[0], X))
    dropped = models[0].layer_outputs(X, training=True, step=1)[0]
    assert ((dropped == 0) | np.isclose(dropped, 2 * X)).all() and (dropped == 0).any()


@pytest.mark.parametrize(
    "loss,activation",
    [("mse", lambda z: z), ("binary_cross_entropy", lambda z: 1 / (1 + np.exp(-z)))],
)
def test_layer_outputs_end_with_the_output_activation(backend, loss, activation, rng):
    model = make([Dense(3, 4), GELU(), Dense(4, 2)], backend, loss=loss, seed=2)
    outs = model.layer_outputs(rng.normal(size=(5, 3)))
    assert_close(outs[-1], activation(outs[-2]), rtol=1e-12, atol=1e-14, what="h vs z")


@pytest.mark.parametrize(
    "X,match",
    [
        (np.zeros((2, 5)), "X has 5 features"),
        (np.zeros(4), "2-D"),
        (np.full((2, 4), np.nan), "NaN"),
        (np.zeros((0, 4)), "empty"),
    ],
)
def test_layer_outputs_check_X_like_predict(backend, X, match, rng):
    model = hand_model(backend, "float64", rng)
    for call in (model.layer_outputs, model.predict):
        with pytest.raises(ValueError, match=match):
            call(X)
    with pytest.raises(ValueError, match="at least 2 samples"):
        model.layer_outputs(np.zeros((1, 4)), training=True)
    with pytest.raises(ValueError, match="step"):
        model.layer_outputs(np.zeros((2, 4)), step=-1)


# ---- Dense(n_out) and input_dim -------------------------------------------------------------------
def test_dense_signatures():
    assert (Dense(3, 5).n_in, Dense(3, 5).n_out) == (3, 5)
    assert (Dense(5).n_in, Dense(5).n_out) == (None, 5)
    for layer in (Dense(3, n_out=5), Dense(n_in=3, n_out=5), Dense(5, n_in=3)):
        assert (layer.n_in, layer.n_out) == (3, 5)
    assert repr(Dense(5)) == "Dense(5)" and repr(Dense(3, 5)) == "Dense(3, 5)"
    assert Dense(5).get_config() == {"n_out": 5}
    assert Dense.from_config(Dense(5).get_config()).n_in is None
    for bad in (
        lambda: Dense(),
        lambda: Dense(n_in=3),
        lambda: Dense(1, 2, 3),
        lambda: Dense(1, 2, n_out=2),
        lambda: Dense(1, n_in=2, n_out=3),
    ):
        with pytest.raises(TypeError, match="Dense"):
            bad()
    with pytest.raises(ValueError, match="Dense: n_out must be an integer"):
        Dense(0)
    with pytest.raises(ValueError, match="Dense: n_in must be an integer"):
        Dense(2.5, 3)


def inferred(backend, dtype="float64", seed=6):
    return make(
        [Dense(8), BatchNorm(8), ReLU(), Dense(6), Tanh(), Dense(3)],
        backend,
        input_dim=5,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=seed,
    )


def explicit(backend, dtype="float64", seed=6):
    return make(
        [Dense(5, 8), BatchNorm(8), ReLU(), Dense(8, 6), Tanh(), Dense(6, 3)],
        backend,
        loss="softmax_cross_entropy",
        dtype=dtype,
        seed=seed,
    )


def test_inferred_widths_build_the_same_model(backend, dtype, rng):
    a, b = inferred(backend, dtype), explicit(backend, dtype)
    assert (a.n_features_in_, a.n_outputs_) == (5, 3)
    assert_all_equal(
        a.get_weights() + a.get_state(),
        b.get_weights() + b.get_state(),
        "initial weights and state",
    )
    X, y = rng.normal(size=(20, 5)), rng.integers(0, 3, 20)
    a.fit(X, y, epochs=2, batch_size=8)
    b.fit(X, y, epochs=2, batch_size=8)
    assert_all_equal(a.get_weights(), b.get_weights(), "trained weights")
    assert repr(a).endswith("input_dim=5)") and "Dense(8), " in repr(a)
    assert a.summary().total == b.summary().total


def test_inferred_widths_mixed_with_explicit_ones(backend):
    model = make([ReLU(), Dense(3, 8), ReLU(), Dense(4), Dense(2)], backend, seed=0)
    assert [w.shape for w in model.get_weights()] == [(3, 8), (8,), (8, 4), (4,), (4, 2), (2,)]
    assert make([Dense(3, 4), Dense(2)], backend, input_dim=3).n_features_in_ == 3


@pytest.mark.parametrize(
    "layers,kw,match",
    [
        (lambda: [Dense(4), ReLU(), Dense(2)], {}, "input_dim"),
        (lambda: [ReLU(), Dense(4), BatchNorm(4)], {}, r"layers\[1\] \(Dense\(4\)\).*input_dim"),
        (lambda: [ReLU(), Dropout(0.5)], {}, "at least one Dense or BatchNorm.*input_dim"),
        (lambda: [Dense(3, 4), Dense(2)], {"input_dim": 4}, "expects 3 inputs but input_dim is 4"),
        (lambda: [ReLU(), Dropout(0.5)], {"input_dim": 3}, "at least one Dense or BatchNorm"),
        (lambda: [Dense(4)], {"input_dim": 0}, "Sequential: input_dim must be an integer"),
        (lambda: [Dense(4)], {"input_dim": True}, "input_dim"),
        (lambda: [Dense(4)], {"input_dim": "3"}, "input_dim"),
    ],
)
def test_input_width_errors(backend, layers, kw, match):
    with pytest.raises(ValueError, match=match):
        make(layers(), backend, **kw)


def test_inferred_model_round_trips(backend, tmp_path, rng):
    model = inferred(backend)
    config = json.loads(json.dumps(model.get_config()))
    assert config["input_dim"] == 5 and config["layers"][0] == {
        "class": "Dense",
        "config": {"n_out": 8},
    }
    clone = Sequential.from_config(config)
    assert repr(clone) == repr(model)
    assert_all_equal(clone.get_weights(), model.get_weights(), "from_config weights")
    X, y = rng.normal(size=(16, 5)), rng.integers(0, 3, 16)
    model.fit(X, y, epochs=1, batch_size=4, optimizer="adam", lr=1e-2)
    path = tmp_path / "m.npz"
    mc.save(model, path)
    for back in (mc.load(path), pickle.loads(pickle.dumps(model))):
        assert repr(back) == repr(model) and back.epoch_ == 1
        assert_all_equal(
            back.get_weights() + back.get_state(),
            model.get_weights() + model.get_state(),
            "restored",
        )
        assert_all_equal([back.predict(X)], [model.predict(X)], "restored predictions")


def test_a_config_has_exactly_the_constructor_arguments(backend):
    model = explicit(backend)
    config = model.get_config()
    assert repr(Sequential.from_config(config)) == repr(model)
    assert config.pop("input_dim") is None
    keys = "keys layers, loss, dtype, seed, backend, input_dim"
    with pytest.raises(ValueError, match=keys):
        Sequential.from_config(config)
    with pytest.raises(ValueError, match=keys):
        Sequential.from_config({**config, "input_dim": 5, "units": 3})


# ---- Keras loss aliases -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "alias,canonical",
    [
        ("categorical_crossentropy", "softmax_cross_entropy"),
        ("sparse_categorical_crossentropy", "softmax_cross_entropy"),
        ("binary_crossentropy", "binary_cross_entropy"),
        ("mean_squared_error", "mse"),
        ("mse", "mse"),
    ],
)
def test_keras_loss_aliases(backend, alias, canonical, rng):
    layers = lambda: [Dense(4, 5), ReLU(), Dense(5, 3)]  # noqa: E731
    model = make(layers(), backend, loss=alias, seed=3)
    same = make(layers(), backend, loss=canonical, seed=3)
    assert model.loss_name == canonical and model.get_config()["loss"] == canonical
    assert f"loss={canonical!r}" in repr(model)
    X, y = rng.normal(size=(6, 4)), targets(canonical, 6, 3, rng)
    assert model.loss(X, y) == same.loss(X, y)
    if alias == "categorical_crossentropy":  # one-hot rows, as Keras' takes them
        assert model.loss(X, np.eye(3)[y]) == pytest.approx(same.loss(X, y), rel=1e-12)


def test_our_mse_is_half_the_sum_over_outputs(backend, rng):
    # Keras' mean_squared_error is mean((y - z)^2) over outputs and samples; ours is
    # mean over samples of sum over the K outputs of (y - z)^2 / 2, i.e. Keras' * K / 2.
    model = make([Dense(4, 3)], backend, loss="mean_squared_error", seed=0)
    X, y = rng.normal(size=(10, 4)), rng.normal(size=(10, 3))
    keras = np.mean((y - model.predict(X)) ** 2)
    assert model.loss(X, y) == pytest.approx(keras * 3 / 2, rel=1e-12)


def test_unknown_loss_lists_aliases():
    with pytest.raises(
        ValueError, match="unknown loss 'huber'.*mse.*sparse_categorical_crossentropy"
    ) as info:
        Sequential([Dense(2, 2)], loss="huber", backend="numpy")
    for name in ref_losses.NAMES:
        assert name in str(info.value)
    with pytest.raises(ValueError, match="softmax_cross_entropy needs at least 2 outputs"):
        Sequential([Dense(2, 1)], loss="categorical_crossentropy", backend="numpy")


# ---- threads ------------------------------------------------------------------------------------
def test_num_threads(native):
    from mlpcore import _core

    before = mc.get_num_threads()
    assert before == _core.get_num_threads() >= 1
    try:
        mc.set_num_threads(1)
        assert mc.get_num_threads() == 1 == _core.get_num_threads()
        for bad in (0, -1, True, 1.5, "2"):
            with pytest.raises(ValueError, match="n must be a positive integer"):
                mc.set_num_threads(bad)
        for too_many in (100000, 2**40):
            with pytest.raises(ValueError, match="exceeds the maximum of 256 threads"):
                mc.set_num_threads(too_many)
        assert mc.get_num_threads() == 1  # a refused call changes nothing
    finally:
        mc.set_num_threads(before)
    assert mc.get_num_threads() == before


def test_threadpoolctl_sees_the_same_pool(native):
    threadpoolctl = pytest.importorskip("threadpoolctl")
    before = mc.get_num_threads()
    ours = [p for p in threadpoolctl.threadpool_info() if p["internal_api"] == "mlpcore"]
    print("threadpoolctl sees:", [(p["filepath"], p["num_threads"]) for p in ours])
    assert len(ours) == 1 and ours[0]["num_threads"] == before
    assert ours[0]["user_api"] == "blas" and ours[0]["version"] == mc.__version__
    for limits in ({"limits": 1}, {"limits": 1, "user_api": "blas"}):
        with threadpoolctl.threadpool_limits(**limits):
            assert mc.get_num_threads() == 1
        assert mc.get_num_threads() == before
    if before < 2:
        return
    with threadpoolctl.threadpool_limits(2):  # raising every BLAS leaves the bundled one at 1
        X = np.random.default_rng(0).standard_normal((256, 300)).astype(np.float32)
        Sequential([Dense(300, 300), Dense(300, 2)], loss="mse").predict(X)
        bundled = [
            p
            for p in threadpoolctl.threadpool_info()
            if "scipy_openblas" in p["filepath"] and "mlpcore" in p["filepath"]
        ]
        print("bundled OpenBLAS after a product:", [p["num_threads"] for p in bundled])
        assert [p["num_threads"] for p in bundled] == [1]


def test_num_threads_without_the_extension(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlpcore._core", None)  # import fails as if not built
    monkeypatch.delattr(mc, "_core", raising=False)
    for call in (mc.get_num_threads, lambda: mc.set_num_threads(1)):
        with pytest.raises(RuntimeError, match="not built.*threadpoolctl"):
            call()


# ---- predict_classes and predict_proba ------------------------------------------------------------
def identity_model(backend, loss, n_out):
    """z = X[:, :n_out]: the classes are known from X."""
    model = make([Dense(4, n_out)], backend, loss=loss, seed=5)
    model.set_weights([np.eye(4)[:, :n_out], np.zeros(n_out)])
    return model


def test_predict_classes_softmax(backend, rng):
    model = identity_model(backend, "softmax_cross_entropy", 3)
    X = rng.normal(size=(30, 4))
    h = model.predict(X)
    assert_all_equal([model.predict_proba(X)], [h], "predict_proba vs predict")
    classes = model.predict_classes(X)
    assert classes.dtype == np.int64 and classes.shape == (30,)
    assert np.array_equal(classes, np.argmax(X[:, :3], axis=1))
    assert set(classes) == {0, 1, 2}


@pytest.mark.parametrize("n_out", [1, 3])
def test_predict_classes_binary_and_multilabel(backend, n_out, rng):
    model = identity_model(backend, "binary_cross_entropy", n_out)
    X = rng.normal(size=(30, 4))
    X[0, :n_out] = 0.0  # probability exactly 0.5: class 0 (the rule is > 0.5)
    h = model.predict(X)
    assert_all_equal([model.predict_proba(X)], [h], "predict_proba vs predict")
    classes = model.predict_classes(X)
    expected = (X[:, :n_out] > 0).astype(np.int64)
    assert classes.dtype == np.int64
    assert np.array_equal(classes, expected[:, 0] if n_out == 1 else expected)
    assert 0 < classes.sum() < classes.size


def test_predict_classes_and_proba_refuse_regression(backend, rng):
    model = make([Dense(4, 2)], backend, loss="mse", seed=0)
    for method in (model.predict_classes, model.predict_proba):
        with pytest.raises(
            ValueError, match=f"{method.__name__} needs a classification loss.*'mse'"
        ):
            method(np.zeros((2, 4)))
    clf = make([Dense(4, 2)], backend, loss="softmax_cross_entropy", seed=0)
    with pytest.raises(ValueError, match="X has 3 features"):
        clf.predict_classes(np.zeros((2, 3)))


# ---- Dense(n_out) through the converters -----------------------------------------------------------
def test_inferred_widths_export_to_torch(backend, rng):
    torch = pytest.importorskip("torch")
    model = inferred(backend)
    model.set_weights(random_weights(model, rng))
    X = rng.normal(size=(10, 5))
    with torch.no_grad():
        out = mc.to_torch(model, output_activation=True)(torch.from_numpy(X)).numpy()
    _report("to_torch of a Dense(n_out) model vs predict", [out], [model.predict(X)])
    assert_close(out, model.predict(X), **TOLERANCES["float64"], what="torch vs predict")


def test_inferred_widths_export_to_onnx(backend, rng):
    pytest.importorskip("onnx")
    ort = pytest.importorskip("onnxruntime")
    model = inferred(backend)
    X = rng.normal(size=(10, 5))
    proto = mc.onnx.export(model)
    session = ort.InferenceSession(proto.SerializeToString(), providers=["CPUExecutionProvider"])
    out = session.run(None, {session.get_inputs()[0].name: X})[0]
    _report("ONNX of a Dense(n_out) model vs predict", [out], [model.predict(X)])
    assert_close(out, model.predict(X), rtol=1e-9, atol=1e-12, what="onnxruntime vs predict")
