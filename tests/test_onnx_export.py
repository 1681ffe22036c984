"""mlpcore.onnx.export: onnx.checker accepts the model and onnxruntime's outputs equal
net.predict (float32 within 1e-5, float64 within 1e-12, relative), for every layer kind this
mlpcore has. Runs when onnx and onnxruntime are installed (CI installs the onnx extra)."""

import io
import math
import subprocess
import sys

import numpy as np
import pytest

import mlpcore as mc

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from interop_nets import KINDS, LOSSES, every_kind_net, one_kind_net, scale_tolerance  # noqa: E402

import mlpcore.onnx as mo  # noqa: E402
from mlpcore import _onnx_erf  # noqa: E402

from conftest import assert_close  # noqa: E402

OPSETS = [13, mo.DEFAULT_OPSET, 21]


def run_onnx(model, X, input_name="X"):
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {input_name: X})[0]


def check_against_predict(net, model, X, what):
    onnx.checker.check_model(model, full_check=True)
    out, ref = run_onnx(model, X), net.predict(X)
    assert out.dtype == net.dtype
    rtol = scale_tolerance(net.dtype)
    diff = float(np.max(np.abs(out.astype(np.float64) - ref)))
    print(
        f"{what}: max |onnxruntime - predict| = {diff:.3e} (max |predict| "
        f"{np.max(np.abs(ref)):.3g})"
    )
    assert_close(out, ref, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(ref)))), what=what)


@pytest.mark.parametrize("opset", OPSETS)
@pytest.mark.parametrize("loss", LOSSES)
def test_every_kind_matches_predict(loss, opset, dtype, backend, rng):
    net = every_kind_net(loss, dtype, rng, backend=backend)
    X = rng.normal(size=(64, net.n_features_in_)).astype(dtype)
    model = mo.export(net, opset=opset)
    kinds_in_net = {type(layer).__name__ for layer in net.layers}
    assert kinds_in_net == set(KINDS), f"the test net lacks {set(KINDS) - kinds_in_net}"
    check_against_predict(net, model, X, f"{dtype} {loss} opset {opset} every kind")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("opset", [mo.DEFAULT_OPSET, 21])
def test_each_kind_matches_predict(kind, opset, dtype, rng):
    net = one_kind_net(kind, "mse", dtype, rng)
    X = rng.normal(0, 2, size=(200, net.n_features_in_)).astype(dtype)
    check_against_predict(net, mo.export(net, opset=opset), X, f"{dtype} {kind} opset {opset}")


def test_step_and_sign_give_mlpcores_values_at_zero(dtype):
    """Step(0) = 1 and Sign(0) = +1, where ONNX's own Sign(0) is 0."""
    net = mc.Sequential(
        [mc.Dense(2, 2), mc.Step(), mc.Dense(2, 2), mc.Sign(), mc.Dense(2, 1)],
        loss="mse",
        dtype=dtype,
        seed=0,
    )
    # first layer all zeros: Step sees exactly 0; second layer z = h - 1 = 0: Sign sees 0
    net.set_weights(
        [
            np.zeros((2, 2)),
            np.zeros(2),
            np.eye(2),
            -np.ones(2),
            np.array([[1.0], [10.0]]),
            np.zeros(1),
        ]
    )
    X = np.array([[0.0, 0.0], [1.0, -1.0]], dtype)
    out = run_onnx(mo.export(net), X)
    np.testing.assert_array_equal(net.predict(X), [[11.0], [11.0]])
    np.testing.assert_array_equal(out, net.predict(X))


def test_dynamic_batch_names_and_dtype(rng):
    net = every_kind_net("softmax_cross_entropy", "float32", rng)
    model = mo.export(net, input_name="features", output_name="probabilities")
    graph = model.graph
    assert [i.name for i in graph.input] == ["features"]
    assert [o.name for o in graph.output] == ["probabilities"]
    dims = graph.input[0].type.tensor_type.shape.dim
    assert dims[0].dim_param == "batch" and dims[1].dim_value == net.n_features_in_
    assert graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    for n in (1, 2, 33):
        X = rng.normal(size=(n, net.n_features_in_)).astype(np.float32)
        out = session.run(["probabilities"], {"features": X})[0]
        assert out.shape == (n, 3)
        assert_close(out, net.predict(X), rtol=1e-5, atol=1e-5, what=f"batch of {n}")


def test_writes_files_and_file_objects(tmp_path, rng):
    net = every_kind_net("binary_cross_entropy", "float64", rng)
    X = rng.normal(size=(9, net.n_features_in_))
    model = mo.export(net, tmp_path / "a.onnx")
    assert isinstance(model, onnx.ModelProto)
    mo.export(net, str(tmp_path / "b.onnx"))
    buffer = io.BytesIO()
    mo.export(net, buffer)
    assert (
        (tmp_path / "a.onnx").read_bytes()
        == (tmp_path / "b.onnx").read_bytes()
        == buffer.getvalue()
        == model.SerializeToString()
    )
    loaded = onnx.load(str(tmp_path / "a.onnx"))
    onnx.checker.check_model(str(tmp_path / "a.onnx"))
    check_against_predict(net, loaded, X, "float64 model read back from a file")
    assert loaded.producer_name == "mlpcore"


def test_exports_a_fitted_estimator(rng):
    pytest.importorskip("sklearn")
    from mlpcore.estimators import MLPClassifier

    X = rng.normal(size=(60, 4))
    y = (X[:, 0] + X[:, 1] > 0).astype(int) + (X[:, 2] > 1)
    clf = MLPClassifier(hidden_layer_sizes=(8,), max_iter=5, random_state=0).fit(X, y)
    model = mo.export(clf)
    check_against_predict(clf.model_, model, X.astype(clf.model_.dtype), "estimator")
    rtol = scale_tolerance(clf.model_.dtype)
    assert_close(
        run_onnx(model, X.astype(clf.model_.dtype)),
        clf.predict_proba(X),
        rtol=rtol,
        atol=rtol,
        what="estimator predict_proba",
    )


def test_unsupported_layer_kind_is_named(rng):
    class Custom(mc.Identity):
        pass

    net = mc.Sequential([mc.Dense(3, 4), Custom(), mc.Dense(4, 2)], loss="mse", seed=0)
    with pytest.raises(ValueError, match=r"layers\[1\] \(Custom\(\)\).*'Custom'.*Dense"):
        mo.export(net)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"opset": 12}, "opset must be an integer in"),
        ({"opset": 10**6}, "opset"),
        ({"opset": 17.0}, "opset"),
        ({"opset": True}, "opset"),
        ({"input_name": ""}, "input_name"),
        ({"output_name": 3}, "output_name"),
        ({"input_name": "Z", "output_name": "Z"}, "must differ"),
        ({"path": 5}, "path must be"),
    ],
)
def test_bad_arguments(kwargs, match):
    net = mc.Sequential([mc.Dense(3, 2)], loss="mse", seed=0)
    with pytest.raises(ValueError, match=match):
        mo.export(net, **kwargs)


def test_not_a_network():
    with pytest.raises(ValueError, match="expected an mlpcore.Sequential"):
        mo.export(object())


def test_import_mlpcore_imports_no_optional_package():
    code = (
        "import sys, mlpcore, mlpcore.onnx; "
        "bad = [m for m in ('onnx', 'onnxruntime', 'torch', 'sklearn', 'dask', 'distributed') "
        "if m in sys.modules]; "
        "assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---- the float64 erf graph (onnxruntime has no float64 Erf) ---------------------------------
def graph_of(emit, dtype, opset=mo.DEFAULT_OPSET):
    """A model computing emit(graph, x) on a 1-D input."""
    g = mo._Graph(onnx, dtype, opset)
    out = emit(g, "x")
    g.nodes.append(onnx.helper.make_node("Identity", [out], ["y"]))
    elem = onnx.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))
    io_info = [onnx.helper.make_tensor_value_info(name, elem, ["n"]) for name in ("x", "y")]
    graph = onnx.helper.make_graph(g.nodes, "g", io_info[:1], io_info[1:], g.initializers)
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(graph, opset_imports=opsets)
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.checker.check_model(model)
    return model


def test_float64_erf_graph_is_accurate():
    x = np.concatenate(
        [np.linspace(-8, 8, 200001), [0.0, -0.0, 1.0, -1.0, 6.0, 30.0, -1e-300, np.inf, -np.inf]]
    )
    out = run_onnx(graph_of(_onnx_erf.emit_erf, np.float64), x, "x")
    ref = np.array([math.erf(v) for v in x])
    diff = np.abs(out - ref)
    print(f"float64 erf graph: max |erf - math.erf| = {diff.max():.3e}")
    assert diff.max() <= 2.3e-16, f"max error {diff.max():.3e} at x = {x[np.argmax(diff)]!r}"


@pytest.mark.parametrize(
    "dtype, opset", [("float64", 17), ("float64", 21), ("float32", 17), ("float32", 21)]
)
def test_gelu_entry_is_the_exact_gelu(dtype, opset):
    """The GELU table entry, checked against 0.5 x (1 + erf(x / sqrt 2)) on its own (the
    layer class arrives with the layer-descriptor work; then the network tests cover it)."""
    layer = type("GELU", (), {})()
    x = np.linspace(-10, 10, 4001).astype(dtype)
    out = run_onnx(graph_of(lambda g, v: mo.LAYERS["GELU"](g, layer, v, {}), dtype, opset), x, "x")
    ref = np.array([0.5 * v * (1 + math.erf(v / math.sqrt(2))) for v in x.astype(np.float64)])
    rtol = scale_tolerance(dtype)
    diff = np.abs(out - ref).max()
    print(f"{dtype} GELU entry opset {opset}: max |diff| = {diff:.3e}")
    assert_close(out, ref, rtol=rtol, atol=rtol, what="GELU")


@pytest.mark.parametrize(
    "which, degree", [("small", len(_onnx_erf.SMALL) - 1), ("large", len(_onnx_erf.LARGE) - 1)]
)
def test_erf_coefficients_reproduce(which, degree):
    pytest.importorskip("mpmath")
    table = _onnx_erf.SMALL if which == "small" else _onnx_erf.LARGE
    assert _onnx_erf.chebyshev_coefficients(degree, which) == table


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_leaky_relu_entry_uses_the_slope(dtype):
    layer = type("LeakyReLU", (), {"negative_slope": 0.3})()
    x = np.array([-2.0, -0.5, 0.0, 0.5, 2.0], dtype)
    out = run_onnx(graph_of(lambda g, v: mo.LAYERS["LeakyReLU"](g, layer, v, {}), dtype), x, "x")
    t = np.dtype(dtype).type
    np.testing.assert_array_equal(out, np.where(x < 0, t(0.3) * x, x))
