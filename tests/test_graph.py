"""mlpcore.computation_graph: forward values and backward gradients at every node, checked
against the model's own layer_outputs and gradients and against finite differences."""

import subprocess
import sys

import numpy as np
import pytest

import mlpcore as mc

from conftest import assert_unchanged, make, numerical_gradient, snapshot

X4 = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
Y4 = np.array([0.0, 1.0, 1.0, 0.0])


def lecture_net(backend):
    net = make(
        [mc.Dense(2, 2), mc.Sigmoid(), mc.Dense(2, 1)], backend, loss="binary_cross_entropy", seed=0
    )
    net.set_weights([[[-1, -4], [2, -1]], [1, 2], [[1], [1]], [0]])
    return net


def test_nodes_values_and_gradients(backend):
    net = lecture_net(backend)
    graph = mc.computation_graph(net, X4, Y4)
    names = [n.name for n in graph.nodes]
    assert names == ["x", "W1", "b1", "z1", "h1", "W2", "b2", "z2", "yhat", "y", "L"]
    assert ("h1", "z2") in graph.edges and ("W2", "z2") in graph.edges
    assert graph["z1"].op == "x @ W1 + b1" and graph["h1"].op == "sigmoid(z1)"
    # forward: the lecture's hand-worked value y(0, 0) = sigma(sigma(1) + sigma(2)) = 0.8337
    assert abs(graph["yhat"].value[0, 0] - 0.8337) < 1e-4
    for node, out in zip(["z1", "h1", "z2", "yhat"], net.layer_outputs(X4)):
        np.testing.assert_allclose(graph[node].value, out, rtol=1e-12, atol=1e-15)
    assert abs(graph.loss - net.loss(X4, Y4)) < 1e-12
    # backward: parameter gradients equal the engine's, dL/dz2 = (h - y) / n
    for node, g in zip(["W1", "b1", "W2", "b2"], net.gradients(X4, Y4)):
        np.testing.assert_allclose(graph[node].grad, g, rtol=1e-11, atol=1e-15)
    np.testing.assert_allclose(graph["z2"].grad, (graph["yhat"].value - Y4[:, None]) / 4)
    # dL/dh1 = dL/dz2 W2^T and dL/dz1 = dL/dh1 * h1 (1 - h1): the delta recursion
    np.testing.assert_allclose(graph["h1"].grad, graph["z2"].grad @ graph["W2"].value.T)
    h1 = graph["h1"].value
    np.testing.assert_allclose(graph["z1"].grad, graph["h1"].grad * h1 * (1 - h1))
    assert graph["yhat"].grad is None and graph["y"].grad is None


def test_input_gradient_against_finite_differences(backend):
    net = lecture_net(backend)
    graph = mc.computation_graph(net, X4, Y4)
    x = X4.copy()
    fd = numerical_gradient(lambda: net.loss(x, Y4), x)
    err = np.max(np.abs(graph["x"].grad - fd))
    print(f"max |dL/dx - finite differences| = {err:.2e}")
    assert err < 1e-9
    # and the check can fail: a wrong formula (no sigmoid' factor) is far off
    wrong = graph["h1"].grad @ graph["W1"].value.T
    assert np.max(np.abs(wrong - fd)) > 1e-3


def test_batch_norm_dropout_training_mode(backend, rng):
    net = make(
        [mc.Dense(3, 5), mc.BatchNorm(5), mc.ReLU(), mc.Dropout(0.4), mc.Dense(5, 3)],
        backend,
        loss="softmax_cross_entropy",
        seed=2,
    )
    X, y = rng.normal(size=(9, 3)), rng.integers(0, 3, 9)
    snap = snapshot(net)
    graph = mc.computation_graph(net, X, y, training=True, step=5)
    print(graph)
    params = [n for n in graph.nodes if n.kind == "param"]
    assert [n.name for n in params] == ["W1", "b1", "gamma1", "beta1", "W2", "b2"]
    for node, g in zip(params, net.gradients(X, y, training=True, step=5)):
        np.testing.assert_allclose(node.grad, g, rtol=1e-10, atol=1e-14)
    outs = net.layer_outputs(X, training=True, step=5)
    ops = [n for n in graph.nodes if n.kind == "op"]
    for node, out in zip(ops, outs):
        np.testing.assert_allclose(node.value, out, rtol=1e-10, atol=1e-14)
    dropped = (ops[3].value == 0) & (ops[2].value != 0)  # zeroed by dropout, not by ReLU
    assert dropped.any() and (ops[2].grad[dropped] == 0).all()  # no gradient through a drop
    assert (ops[2].grad[~dropped & (ops[2].value != 0)] != 0).all()
    assert_unchanged(net, snap)


def test_forward_only_and_text_forms():
    net = lecture_net("numpy")
    graph = mc.computation_graph(net, X4)
    assert graph.loss is None and [n.name for n in graph.nodes][-1] == "yhat"
    assert all(n.grad is None for n in graph.nodes)
    text = mc.computation_graph(net, X4, Y4).to_text()
    for line in ["z1 = x @ W1 + b1 <- x, W1, b1", "backward dL/dW1", "L = binary cross-entropy"]:
        assert line in text, text
    dot = graph.to_dot()
    assert dot.startswith("digraph") and dot.count("->") == len(graph.edges) == 8
    d = graph.to_dict()
    assert d["z1"]["value"].shape == (4, 2) and d["z1"]["grad"] is None
    with pytest.raises(KeyError, match="nodes: x, W1"):
        graph["nope"]


def test_graphviz_is_optional(monkeypatch):
    graph = mc.computation_graph(lecture_net("numpy"), X4, Y4)
    monkeypatch.setitem(sys.modules, "graphviz", None)  # as if not installed
    with pytest.raises(ImportError, match="pip install graphviz"):
        graph.to_graphviz()
    monkeypatch.undo()
    graphviz = pytest.importorskip("graphviz")
    source = graph.to_graphviz()
    assert isinstance(source, graphviz.Source) and source.source.strip() == graph.to_dot()


def test_plot_draws_every_node():
    pytest.importorskip("matplotlib")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    graph = mc.computation_graph(lecture_net("numpy"), X4, Y4)
    ax = graph.plot()
    texts = " ".join(t.get_text() for t in ax.texts)
    for n in graph.nodes:
        assert n.name in texts
    assert len(ax.patches) == len(graph.nodes)
    plt.close(ax.figure)


def test_bad_arguments():
    net = lecture_net("numpy")
    with pytest.raises(TypeError, match="Sequential"):
        mc.computation_graph(object(), X4)
    with pytest.raises(ValueError, match="X"):
        mc.computation_graph(net, X4[:, :1], Y4)
    with pytest.raises(ValueError, match="y"):
        mc.computation_graph(net, X4, [0, 1, 2, 0.5])
    step_net = make([mc.Dense(2, 2), mc.Step(), mc.Dense(2, 1)], "numpy", seed=0)
    with pytest.raises(ValueError, match="derivative"):
        mc.computation_graph(step_net, X4, Y4)
    assert mc.computation_graph(step_net, X4).nodes[-1].name == "yhat"  # forward only is fine


def test_import_mlpcore_imports_no_plotting():
    code = (
        "import sys, numpy as np, mlpcore as mc\n"
        "net = mc.Sequential([mc.Dense(2, 2), mc.Tanh(), mc.Dense(2, 1)], loss='mse', seed=0)\n"
        "X = np.ones((3, 2)); y = np.zeros(3)\n"
        "mc.check_gradients(net, X, y); print(mc.computation_graph(net, X, y))\n"
        "bad = [m for m in ('graphviz', 'matplotlib') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)
