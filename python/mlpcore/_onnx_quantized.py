"""ONNX export of a QuantizedSequential (mlpcore.onnx.export(qnet, path) comes here).

Each int8 Dense layer becomes the integer graph of the C++ kernel:

    QuantizeLinear(x, s_in, zp) -> Clip(0, 127)                 uint8, 7-bit like mlpcore
    MatMulInteger(xq, wq, zp)   -> int32 sum of (xq - zp) * wq  = mlpcore's acc - zp * colsum
    Cast(float) -> Mul(s_in * s_w) -> Add(bias)                 float32, as mlpcore

so the integer sums are mlpcore's whenever the quantized inputs are; QuantizeLinear divides
by s_in where mlpcore multiplies by float32(1 / s_in), which can move an input that lies
within a rounding error of a half-step to the neighbouring level (the measured effect on the
outputs is in docs/quantization.md). Float steps (activations as in mlpcore.onnx.LAYERS,
affine batch-norm steps as Mul + Add) and the output activation follow in float32.
"""

import numpy as np

from .reference import quantized as _ref

MIN_OPSET = 13  # Clip on uint8, MatMulInteger


def _activation_layer(name, param):
    """A layer object of the activation `name` (for mlpcore.onnx.LAYERS' emitters)."""
    from . import layers

    def subclasses(c):
        for s in c.__subclasses__():
            yield s
            yield from subclasses(s)

    for cls in subclasses(layers.Activation):
        if cls.kind == name:
            try:
                return cls(param)
            except TypeError:
                return cls()
    raise ValueError(f"the activation {name!r} has no ONNX export")


def export_quantized(_onnx, qnet, path=None, opset=None, input_name="X", output_name="Y"):
    """mlpcore.onnx.export for a QuantizedSequential; _onnx is the mlpcore.onnx module (its
    graph builder, activation emitters and checks; passed in, so no import cycle)."""
    onnx = _onnx._import_onnx()
    opset = _onnx._check_opset(onnx, opset)
    if opset < MIN_OPSET:
        raise ValueError(f"a quantized model needs opset >= {MIN_OPSET}")
    input_name = _onnx._check_name("input_name", input_name)
    output_name = _onnx._check_name("output_name", output_name)
    if input_name == output_name:
        raise ValueError(f"input_name and output_name must differ, both are {input_name!r}")
    meta, arrays = qnet._capture()
    g = _onnx._Graph(onnx, np.float32, opset)
    nh = onnx.numpy_helper

    def init(value, hint, dtype):
        name = g._name(hint)
        g.initializers.append(nh.from_array(np.ascontiguousarray(value, dtype=dtype), name))
        return name

    x, n_dense, n_affine = input_name, 0, 0
    for k, op in enumerate(meta["ops"]):
        if op["op"] == "dense":
            g.prefix = f"dense.{n_dense}"
            w_scale = arrays[f"w_scale_{n_dense}"]
            _, scale = _ref.derived(op["in_scale"], w_scale)
            s = init(np.float32(op["in_scale"]), "in_scale", np.float32)
            zp = init(np.uint8(op["zp"]), "zp", np.uint8)
            xq = g.node("QuantizeLinear", [x, s, zp])
            xq = g.node(
                "Clip",
                [xq, init(np.uint8(0), "lo", np.uint8), init(np.uint8(_ref.QMAX), "hi", np.uint8)],
            )
            acc = g.node("MatMulInteger", [xq, init(arrays[f"wq_{n_dense}"], "wq", np.int8), zp])
            f = g.node("Cast", [acc], to=onnx.TensorProto.FLOAT)
            f = g.node("Mul", [f, init(scale, "scale", np.float32)])
            x = g.node("Add", [f, init(arrays[f"bias_{n_dense}"], "bias", np.float32)])
            n_dense += 1
        elif op["op"] == "act":
            g.prefix = f"step.{k}.{op['name']}"
            layer = _activation_layer(op["name"], op["param"])
            emit = _onnx.LAYERS.get(type(layer).__name__)
            if emit is None:
                raise ValueError(f"the activation {op['name']!r} has no ONNX export")
            x = emit(g, layer, x, {})
        else:
            g.prefix = f"affine.{n_affine}"
            x = g.node("Mul", [x, init(arrays[f"a_{n_affine}"], "a", np.float32)])
            x = g.node("Add", [x, init(arrays[f"c_{n_affine}"], "c", np.float32)])
            n_affine += 1
    g.prefix = "output"
    _onnx.OUTPUTS[meta["loss"]](g, x, output_name)
    elem = onnx.TensorProto.FLOAT
    graph = onnx.helper.make_graph(
        g.nodes,
        "mlpcore_quantized",
        [onnx.helper.make_tensor_value_info(input_name, elem, ["batch", qnet.n_features_in_])],
        [onnx.helper.make_tensor_value_info(output_name, elem, ["batch", qnet.n_outputs_])],
        g.initializers,
    )
    opsets = [onnx.helper.make_opsetid("", opset)]
    model = onnx.helper.make_model(
        graph,
        opset_imports=opsets,
        producer_name="mlpcore",
        producer_version=_onnx._version(),
        doc_string=repr(qnet),
    )
    model.ir_version = onnx.helper.find_min_ir_version_for(opsets)
    onnx.helper.set_model_props(model, {"loss": meta["loss"], "quantization": "int8"})
    onnx.checker.check_model(model)
    _onnx._write(onnx, model, path)
    return model
