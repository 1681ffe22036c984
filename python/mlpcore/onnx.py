"""Export an mlpcore network to ONNX, for onnxruntime and other ONNX runtimes.

    import mlpcore.onnx
    mlpcore.onnx.export(net, "model.onnx")                      # also returns the ModelProto
    import onnxruntime as ort
    probs = ort.InferenceSession("model.onnx").run(None, {"X": X.astype(net.dtype)})[0]

Needs the `onnx` package (``pip install onnx onnxruntime``; in a clone of mlpcore
``pip install ".[onnx]"``);
``import mlpcore`` does not import it. The graph is built with onnx's helper API, one entry
per layer kind in LAYERS (keyed by the layer's class name):

    Dense       Gemm(x, W, b) with W (n_in, n_out) as stored, b (n_out,)
    BatchNorm   BatchNormalization in inference form (running mean and variance, eps): kept
                as its own node, not folded into the Gemm, so the exported arithmetic is
                mlpcore's (onnxruntime may still fuse it when it optimises the graph); the
                float32 epsilon attribute's rounding is moved into the variance initializer
    LayerNorm   LayerNormalization(axis=-1, epsilon) from opset 17 in float32; in float64 and
                for older opsets its composition (ReduceMean, Sub, Mul, Add, Sqrt, Div) with
                a constant eps of the model's dtype (the epsilon attribute is float32)
    Dropout     nothing: the identity at inference
    Identity    Identity
    ReLU, Sigmoid, Tanh     Relu, Sigmoid, Tanh
    LeakyReLU   LeakyRelu(alpha=negative_slope) in float32; in float64
                Where(Less(x, 0), x * negative_slope, x), since ONNX attributes are float32
    GELU        exact (erf) form: Gelu(approximate="none") for opset >= 20 in float32,
                x * 0.5 * (1 + Erf(x / sqrt 2)) for older opsets; in float64 erf is built
                from elementary operators (see mlpcore._onnx_erf: onnxruntime has no float64
                Erf kernel)
    SiLU        x * Sigmoid(x) (ONNX has no SiLU operator before opset 24's Swish)
    ELU         Elu(alpha) in float32; in float64 Where(Greater(x, 0), x, alpha (Exp(x) - 1))
                with a float64 alpha (onnxruntime has no float64 Elu kernel)
    Softplus    Where(Greater(x, 20), x, Softplus(x)) in float32 (mlpcore's threshold 20, as
                torch); in float64 log(1 + exp(x)) from Exp, Add, Log below the threshold
    Step        Where(Less(x, 0), 0, 1): 1 at x = 0, as mlpcore (ONNX has no step operator)
    Sign        Where(Less(x, 0), -1, 1): +1 at x = 0, as mlpcore (ONNX's Sign(0) is 0)

and the loss's output activation on top: Softmax(axis=-1) for softmax_cross_entropy,
Sigmoid for binary_cross_entropy, nothing for mse and the hinge losses (whose output is the
margin z: the class is its sign), Exp for poisson. So the model's output equals
net.predict(X): class probabilities, margins or values.

Input and output are 2-D tensors (batch, features) of the network's dtype (float32 or
float64) with a dynamic batch dimension named "batch".
"""

import os

import numpy as np

from . import _interop, _onnx_erf

DEFAULT_OPSET = 17  # onnxruntime >= 1.13 and most other runtimes run it
MIN_OPSET = 13  # Softmax over the last axis only, Where/Less/Sign in every dtype


class _Graph:
    """Collects nodes and initializers; every name it hands out is unique."""

    def __init__(self, onnx, dtype, opset):
        self.onnx, self.dtype, self.opset = onnx, np.dtype(dtype), opset
        self.nodes, self.initializers = [], []
        self._consts = {}
        self._count = 0
        self.prefix = "graph"

    def _name(self, hint):
        self._count += 1
        return f"{self.prefix}/{hint}_{self._count}"

    def const(self, value):
        """A scalar constant of the graph's dtype (shared between nodes that use the same)."""
        value = self.dtype.type(value)
        key = value.tobytes()
        if key not in self._consts:
            self._consts[key] = self.array(np.asarray(value), "c")
        return self._consts[key]

    def array(self, value, hint):
        name = self._name(hint)
        self.initializers.append(
            self.onnx.numpy_helper.from_array(np.ascontiguousarray(value, dtype=self.dtype), name)
        )
        return name

    def node(self, op, inputs, output=None, **attrs):
        output = output or self._name(op)
        self.nodes.append(
            self.onnx.helper.make_node(
                op, list(inputs), [output], name=self._name(op + "_node"), **attrs
            )
        )
        return output


# ---- one entry per layer kind: (graph, layer, x, arrays) -> output name --------------------
def _dense(g, layer, x, arrays):
    return g.node("Gemm", [x, g.array(arrays["W"], "W"), g.array(arrays["b"], "b")])


def _batchnorm(g, layer, x, arrays):
    # ONNX attributes are float32: epsilon=1e-3 becomes 1.0000000475e-3. The variance carries
    # the rest (eps - float32(eps), exact in float64), so var + epsilon is mlpcore's var + eps
    # to an ulp in float64 models too (0 for float32 models, whose eps is a float32 anyway).
    eps32 = np.float32(layer.eps)
    var = arrays["running_var"] + g.dtype.type(float(layer.eps) - float(eps32))
    names = [g.array(arrays[k], k) for k in ("gamma", "beta", "running_mean")]
    return g.node(
        "BatchNormalization", [x] + names + [g.array(var, "running_var")], epsilon=float(eps32)
    )


def _reduce_mean_last(g, x):
    """The mean over the last axis, kept as a column (B, 1); axes became an input in opset 18."""
    if g.opset >= 18:
        axes = g.onnx.numpy_helper.from_array(np.array([-1], np.int64), g._name("axes"))
        g.initializers.append(axes)
        return g.node("ReduceMean", [x, axes.name], keepdims=1)
    return g.node("ReduceMean", [x], axes=[-1], keepdims=1)


def _layernorm(g, layer, x, arrays):
    gamma, beta = g.array(arrays["gamma"], "gamma"), g.array(arrays["beta"], "beta")
    if g.dtype == np.float32 and g.opset >= 17:
        return g.node(
            "LayerNormalization", [x, gamma, beta], axis=-1, epsilon=float(np.float32(layer.eps))
        )
    # mlpcore's two passes: the mean, the centred values, their mean square (biased variance)
    centred = g.node("Sub", [x, _reduce_mean_last(g, x)])
    var = _reduce_mean_last(g, g.node("Mul", [centred, centred]))
    std = g.node("Sqrt", [g.node("Add", [var, g.const(layer.eps)])])
    xhat = g.node("Div", [centred, std])
    return g.node("Add", [g.node("Mul", [xhat, gamma]), beta])


def _silu(g, layer, x, arrays):
    return g.node("Mul", [x, g.node("Sigmoid", [x])])


def _elu(g, layer, x, arrays):
    if g.dtype == np.float32:
        return g.node("Elu", [x], alpha=float(layer.alpha))
    # Elu's alpha is a float32 attribute (and onnxruntime has no float64 Elu): alpha (e^x - 1)
    # from a float64 constant, on min(x, 0) so that Exp never overflows in the unused branch
    negative = g.node("Min", [x, g.const(0.0)])
    below = g.node(
        "Mul", [g.node("Sub", [g.node("Exp", [negative]), g.const(1.0)]), g.const(layer.alpha)]
    )
    return g.node("Where", [g.node("Greater", [x, g.const(0.0)]), x, below])


def _softplus(g, layer, x, arrays):
    threshold = g.const(20.0)  # reference/activations.SOFTPLUS_THRESHOLD, torch's default
    capped = g.node("Min", [x, threshold])
    if g.dtype == np.float32:
        soft = g.node("Softplus", [capped])
    else:  # no float64 Softplus kernel in onnxruntime
        soft = g.node("Log", [g.node("Add", [g.node("Exp", [capped]), g.const(1.0)])])
    return g.node("Where", [g.node("Greater", [x, threshold]), x, soft])


def _dropout(g, layer, x, arrays):
    return x


def _simple(op):
    return lambda g, layer, x, arrays: g.node(op, [x])


def _leaky_relu(g, layer, x, arrays):
    if g.dtype == np.float32:
        return g.node("LeakyRelu", [x], alpha=float(layer.negative_slope))
    # LeakyRelu's alpha is a float32 attribute: in float64 the slope goes in a float64 constant
    scaled = g.node("Mul", [x, g.const(layer.negative_slope)])
    return g.node("Where", [g.node("Less", [x, g.const(0.0)]), scaled, x])


def _gelu(g, layer, x, arrays):
    if g.dtype == np.float64:  # no float64 Erf in onnxruntime: erf from elementary operators
        erf = _onnx_erf.emit_erf(g, g.node("Mul", [x, g.const(_onnx_erf.SQRT1_2)]))
    elif g.opset >= 20:
        return g.node("Gelu", [x], approximate="none")
    else:
        erf = g.node("Erf", [g.node("Div", [x, g.const(np.sqrt(2.0))])])
    half_x = g.node("Mul", [x, g.const(0.5)])
    return g.node("Mul", [half_x, g.node("Add", [erf, g.const(1.0)])])


def _where_negative(below, at_or_above):
    def emit(g, layer, x, arrays):
        negative = g.node("Less", [x, g.const(0.0)])
        return g.node("Where", [negative, g.const(below), g.const(at_or_above)])

    return emit


LAYERS = {
    "Dense": _dense,
    "BatchNorm": _batchnorm,
    "LayerNorm": _layernorm,
    "Dropout": _dropout,
    "Identity": _simple("Identity"),
    "ReLU": _simple("Relu"),
    "Sigmoid": _simple("Sigmoid"),
    "Tanh": _simple("Tanh"),
    "LeakyReLU": _leaky_relu,
    "GELU": _gelu,
    "SiLU": _silu,
    "ELU": _elu,
    "Softplus": _softplus,
    "Step": _where_negative(0.0, 1.0),
    "Sign": _where_negative(-1.0, 1.0),
}

# the fused loss's output activation: (graph, z, output name) -> output name
OUTPUTS = {
    "softmax_cross_entropy": lambda g, z, out: g.node("Softmax", [z], out, axis=-1),
    "binary_cross_entropy": lambda g, z, out: g.node("Sigmoid", [z], out),
    "mse": lambda g, z, out: g.node("Identity", [z], out),
    "poisson": lambda g, z, out: g.node("Exp", [z], out),
    # the margin z, as predict (the class is its sign)
    "hinge": lambda g, z, out: g.node("Identity", [z], out),
    "squared_hinge": lambda g, z, out: g.node("Identity", [z], out),
}


def _import_onnx():
    try:
        import onnx
        import onnx.helper  # noqa: F401  (submodules used below)
        import onnx.numpy_helper  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            "mlpcore.onnx.export needs the onnx package: pip install onnx "
            'onnxruntime (in a clone of mlpcore: pip install ".[onnx]")'
        ) from exc
    return onnx


def _check_opset(onnx, opset):
    newest = onnx.defs.onnx_opset_version()
    if opset is None:
        return min(DEFAULT_OPSET, newest)
    if (
        isinstance(opset, bool)
        or not isinstance(opset, (int, np.integer))
        or not MIN_OPSET <= opset <= newest
    ):
        raise ValueError(
            f"opset must be an integer in [{MIN_OPSET}, {newest}] (the installed "
            f"onnx {onnx.__version__} knows up to {newest}), got {opset!r}"
        )
    return int(opset)


def _check_name(what, name):
    if not isinstance(name, str) or not name:
        raise ValueError(f"{what} must be a non-empty string, got {name!r}")
    return name


def export(net, path=None, opset=None, input_name="X", output_name="Y"):
    """Writes `net` (an mlpcore.Sequential or a fitted mlpcore estimator) as an ONNX model.

    Parameters
    ----------
    net : Sequential, or an mlpcore MLPClassifier/MLPRegressor (its fitted `model_`)
    path : str, os.PathLike, binary file object or None
        Where to write the model; None writes nothing (use the returned ModelProto).
    opset : int or None
        ONNX operator set, from 13 to the newest the installed onnx knows; None means 17.
        GELU uses ONNX's Gelu operator from opset 20 on (float32 only, see the module doc).
    input_name, output_name : str
        Names of the graph's input (batch, n_features) and output (batch, n_outputs).

    Returns the onnx.ModelProto. Its output is net.predict(X) (probabilities for the
    cross-entropy losses, values for mse). For an estimator that is its network's output:
    a binary MLPClassifier's model gives the one column p (predict_proba is [1 - p, p]).
    Layer kinds without an entry in LAYERS raise a ValueError naming the layer.
    A quantized model (mlpcore.quantize) exports as int8 MatMulInteger layers
    (mlpcore._onnx_quantized).

    Examples
    --------
    >>> import numpy as np
    >>> import onnxruntime
    >>> import mlpcore as mc
    >>> net = mc.Sequential([mc.Dense(4, 8), mc.ReLU(), mc.Dense(8, 3)],
    ...                     loss="softmax_cross_entropy", seed=0)
    >>> model = mc.onnx.export(net, "model.onnx")
    >>> session = onnxruntime.InferenceSession("model.onnx")
    >>> X = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    >>> bool(np.allclose(session.run(None, {"X": X})[0], net.predict(X), atol=1e-6))
    True
    """
    if getattr(getattr(net, "model_", net), "_quantized_record", False):
        import sys

        from ._onnx_quantized import export_quantized  # it uses this module's helpers

        return export_quantized(
            sys.modules[__name__], getattr(net, "model_", net), path, opset, input_name, output_name
        )
    onnx = _import_onnx()
    net = _interop.unwrap(net)
    opset = _check_opset(onnx, opset)
    input_name = _check_name("input_name", input_name)
    output_name = _check_name("output_name", output_name)
    if input_name == output_name:
        raise ValueError(f"input_name and output_name must differ, both are {input_name!r}")
    emitters = [
        _interop.lookup(LAYERS, layer, i, "exported to ONNX") for i, layer in enumerate(net.layers)
    ]

    g = _Graph(onnx, net.dtype, opset)
    x = input_name
    for i, ((layer, arrays), emit) in enumerate(zip(_interop.layer_arrays(net), emitters)):
        g.prefix = f"layers.{i}.{_interop.kind(layer)}"
        x = emit(g, layer, x, arrays)
    g.prefix = "output"
    if net.loss_name not in OUTPUTS:
        raise ValueError(
            f"the loss {net.loss_name!r} has no ONNX output activation here; "
            f"supported: {', '.join(OUTPUTS)}"
        )
    OUTPUTS[net.loss_name](g, x, output_name)

    elem = onnx.helper.np_dtype_to_tensor_dtype(net.dtype)
    graph = onnx.helper.make_graph(
        g.nodes,
        "mlpcore_sequential",
        [onnx.helper.make_tensor_value_info(input_name, elem, ["batch", net.n_features_in_])],
        [onnx.helper.make_tensor_value_info(output_name, elem, ["batch", net.n_outputs_])],
        g.initializers,
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="mlpcore",
        producer_version=_version(),
        doc_string=repr(net),
    )
    # the oldest IR version that carries this opset, so older runtimes load the file too
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.helper.set_model_props(model, {"loss": net.loss_name})
    onnx.checker.check_model(model)
    _write(onnx, model, path)
    return model


def _version():
    from ._version import __version__

    return __version__


def _write(onnx, model, path):
    if path is None:
        return
    if isinstance(path, (str, os.PathLike)):
        onnx.save_model(model, os.fspath(path))
    elif hasattr(path, "write"):
        path.write(model.SerializeToString())
    else:
        raise ValueError(f"path must be a file name, a binary file object or None, got {path!r}")


__all__ = ["export", "LAYERS", "OUTPUTS", "DEFAULT_OPSET", "MIN_OPSET"]
