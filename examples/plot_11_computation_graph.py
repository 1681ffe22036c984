"""
The computation graph: forward values and backward gradients
=============================================================

A network is a chain of simple operations, a computation graph: ``z1 = x @ W1 + b1``,
``h1 = sigmoid(z1)``, ``z2 = h1 @ W2 + b2``, ``yhat = sigmoid(z2)``, ``L = loss(yhat,
y)``. The forward pass computes every node's value from its inputs; the backward pass
computes, in reverse order, the gradient of the loss with respect to every node, each
from the gradient of the node it feeds (the chain rule).

:func:`mlpcore.computation_graph` returns that graph for given inputs, each node with
its forward value and its gradient ``dL/d(node)``. It prints as text, draws itself with
matplotlib (``plot``), and becomes a graphviz graph (``to_graphviz``) when the optional
``graphviz`` package is installed (rendering it needs Graphviz's ``dot`` program).
Here: the lecture's two-layer sigmoid network on the four XOR inputs.
"""

import shutil

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

net = mc.Sequential(
    [mc.Dense(2, 2), mc.Sigmoid(), mc.Dense(2, 1)],
    loss="binary_cross_entropy",
    dtype="float64",
    seed=0,
)
net.set_weights([[[-1, -4], [2, -1]], [1, 2], [[1], [1]], [0]])
X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
y = np.array([0, 1, 1, 0], dtype=np.float64)

graph = mc.computation_graph(net, X, y)
print(graph)  # the plain-text form

# %%
# The drawing: forward values (shape, mean, standard deviation) in black, the norm of
# each node's gradient in red.
ax = graph.plot()

# %%
# The chain rule, node by node: each gradient is computed from the one after it, and
# the parameter gradients are the ones ``net.gradients`` returns.
g = {n.name: n for n in graph.nodes}
h1 = g["h1"].value
checks = {
    "dL/dz2 = (yhat - y) / n": (g["z2"].grad, (g["yhat"].value - y[:, None]) / 4),
    "dL/dh1 = dL/dz2 W2^T": (g["h1"].grad, g["z2"].grad @ g["W2"].value.T),
    "dL/dz1 = dL/dh1 * h1 (1 - h1)": (g["z1"].grad, g["h1"].grad * h1 * (1 - h1)),
    "dL/dW1 = x^T dL/dz1": (g["W1"].grad, X.T @ g["z1"].grad),
    "dL/dW1 = net.gradients(X, y)[0]": (g["W1"].grad, net.gradients(X, y)[0]),
}
for what, (a, b) in checks.items():
    print(f"{what:34s} max difference {np.max(np.abs(a - b)):.1e}")

# %%
# With the graphviz package and Graphviz's ``dot`` program installed, the same graph as
# graphviz draws it; without them, ``graph.to_dot()`` still gives its DOT source.
try:
    import graphviz  # noqa: F401

    have_graphviz = shutil.which("dot") is not None
except ImportError:
    have_graphviz = False
if have_graphviz:
    import io

    png = graph.to_graphviz().pipe(format="png")
    fig, ax = plt.subplots(figsize=(12, 4))
    ax.imshow(plt.imread(io.BytesIO(png)))
    ax.axis("off")
else:
    print("graphviz (the package and its dot program) is not installed; the DOT source:")
    print(graph.to_dot()[:400] + "\n...")
