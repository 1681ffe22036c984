"""onnxruntime serving: an ONNX graph built here with onnx.helper from the same weights
(Gemm [+ BatchNormalization] + Relu per hidden layer, Gemm, Softmax; dropout is the
identity at inference), run on the CPU provider with intra_op_num_threads = the thread
count of the run and sequential execution."""

NAME = "onnxruntime"


def unavailable():
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        return f"onnx and onnxruntime are needed ({exc})"
    return None


def graph(layers, n_in):
    """The ModelProto: input "x" (N, n_in) float32, output "probs" (N, n_out)."""
    import numpy as np
    from onnx import TensorProto, helper, numpy_helper

    nodes, inits, h = [], [], "x"
    for i, layer in enumerate(layers):
        w, b = f"W{i}", f"b{i}"
        inits += [
            numpy_helper.from_array(np.ascontiguousarray(layer["W"]), w),
            numpy_helper.from_array(np.ascontiguousarray(layer["b"]), b),
        ]
        nodes.append(helper.make_node("Gemm", [h, w, b], [f"z{i}"]))  # x @ W + b, W (in, out)
        h = f"z{i}"
        if i == len(layers) - 1:
            break
        if layer["bn"] is not None:
            names = [f"{p}{i}" for p in ("gamma", "beta", "mean", "var")]
            inits += [
                numpy_helper.from_array(np.ascontiguousarray(a), nm)
                for a, nm in zip(layer["bn"], names)
            ]
            nodes.append(
                helper.make_node("BatchNormalization", [h] + names, [f"n{i}"], epsilon=1e-5)
            )
            h = f"n{i}"
        nodes.append(helper.make_node("Relu", [h], [f"a{i}"]))
        h = f"a{i}"
    nodes.append(helper.make_node("Softmax", [h], ["probs"], axis=1))
    n_out = layers[-1]["W"].shape[1]
    g = helper.make_graph(
        nodes,
        "mlp",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", n_in])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["N", n_out])],
        inits,
    )
    model = helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def predictor(cfg, ref, threads):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(
        graph(ref["layers"], cfg.widths[0]).SerializeToString(),
        opts,
        providers=["CPUExecutionProvider"],
    )
    run = sess.run

    def predict(X):
        return run(None, {"x": X})[0]

    return predict
