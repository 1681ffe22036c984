"""The computation graph of a model for given inputs: every node with its forward value and
its backward gradient (``mlpcore.computation_graph``), drawn as text, with matplotlib, or
as a graphviz graph (optional: the ``graphviz`` package is imported only by
``to_graphviz``)."""

from typing import Dict, List, NamedTuple, Optional, Tuple

import numpy as np

_OPS = {  # activation spec name -> the formula shown for its node
    "identity": "z",
    "step": "step(z)",
    "sign": "sign(z)",
    "sigmoid": "sigmoid(z)",
    "tanh": "tanh(z)",
    "relu": "relu(z)",
    "leaky_relu": "leaky_relu(z)",
    "gelu": "gelu(z)",
    "silu": "silu(z)",
    "elu": "elu(z)",
    "softplus": "softplus(z)",
}
_OUTPUTS = {  # loss -> (output activation, the loss formula)
    "softmax_cross_entropy": ("softmax(z)", "cross-entropy"),
    "binary_cross_entropy": ("sigmoid(z)", "binary cross-entropy"),
    "mse": ("z", "half squared error"),
    "poisson": ("exp(z)", "Poisson deviance / 2"),
    "hinge": ("z", "hinge"),
    "squared_hinge": ("z", "squared hinge"),
}


class Stats(NamedTuple):
    """Summary statistics of an array: shape, mean, standard deviation, min, max, L2 norm."""

    shape: tuple
    mean: float
    std: float
    min: float
    max: float
    norm: float

    @classmethod
    def of(cls, a) -> "Stats":
        """The statistics of array a."""
        a = np.asarray(a, np.float64)
        if a.size == 0:
            return cls(a.shape, 0.0, 0.0, 0.0, 0.0, 0.0)
        return cls(
            a.shape,
            float(a.mean()),
            float(a.std()),
            float(a.min()),
            float(a.max()),
            float(np.linalg.norm(a)),
        )

    def __str__(self) -> str:
        if self.shape == ():
            return f"{self.mean:.4g}"
        return (
            f"{self.shape} mean {self.mean:.3g} std {self.std:.3g} [{self.min:.3g}, {self.max:.3g}]"
        )


class Node(NamedTuple):
    """One node of a ComputationGraph.

    kind is "input", "target", "param", "op", "output" or "loss"; inputs are the names of
    the nodes it is computed from; value its forward value and grad the gradient of the
    loss with respect to it (None where nothing is backpropagated: the target, the output
    activation of a fused output/loss pair, or when no targets were given).
    """

    name: str
    kind: str
    op: str
    inputs: Tuple[str, ...]
    layer: Optional[int]
    value: np.ndarray
    grad: Optional[np.ndarray]

    @property
    def value_stats(self) -> Stats:
        """Statistics of the forward value."""
        return Stats.of(self.value)

    @property
    def grad_stats(self) -> Optional[Stats]:
        """Statistics of the gradient, or None."""
        return None if self.grad is None else Stats.of(self.grad)


class ComputationGraph:
    """A model's computation graph for given inputs (see :func:`computation_graph`).

    Attributes
    ----------
    nodes : list of Node
        In forward order: the input, each layer's parameters and output, the output
        activation, the target and the loss.
    loss : float or None
        The loss value (None without targets).
    """

    def __init__(self, nodes: List[Node], loss: Optional[float], description: str):
        self.nodes = nodes
        self.loss = loss
        self.description = description

    def __getitem__(self, name: str) -> Node:
        for node in self.nodes:
            if node.name == name:
                return node
        raise KeyError(f"no node {name!r}; nodes: {', '.join(n.name for n in self.nodes)}")

    @property
    def edges(self) -> List[Tuple[str, str]]:
        """(from, to) name pairs, one per input of every node."""
        return [(i, n.name) for n in self.nodes for i in n.inputs]

    def to_dict(self) -> Dict[str, dict]:
        """``{name: {"kind", "op", "inputs", "value": Stats, "grad": Stats or None}}``."""
        return {
            n.name: {
                "kind": n.kind,
                "op": n.op,
                "inputs": n.inputs,
                "value": n.value_stats,
                "grad": n.grad_stats,
            }
            for n in self.nodes
        }

    # ---- text ----------------------------------------------------------------------------
    def to_text(self) -> str:
        """The graph as plain text: one block per node, forward value then gradient."""
        lines = [self.description]
        for n in self.nodes:
            src = f" <- {', '.join(n.inputs)}" if n.inputs else ""
            lines.append(f"{n.name} = {n.op}{src}   [{n.kind}]")
            lines.append(f"    forward  {n.value_stats}")
            if n.grad is not None:
                g = Stats.of(n.grad)
                lines.append(f"    backward dL/d{n.name} {g} |.| {g.norm:.3g}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<ComputationGraph: {len(self.nodes)} nodes, {len(self.edges)} edges>"

    # ---- graphviz ------------------------------------------------------------------------
    def _label(self, n: Node) -> str:
        v = n.value_stats
        parts = [f"{n.name} = {n.op}"]
        if v.shape == ():
            parts.append(f"value {v.mean:.4g}")
        else:
            parts.append(f"{v.shape}  mean {v.mean:.2g}  std {v.std:.2g}")
        if n.grad is not None:
            g = Stats.of(n.grad)
            parts.append(f"grad |.| {g.norm:.2g}  max {max(abs(g.min), abs(g.max)):.2g}")
        return "\n".join(parts)

    def to_dot(self) -> str:
        """The graph in Graphviz's DOT language (needs nothing installed to produce)."""

        def q(s):
            return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'

        lines = ["digraph computation_graph {", "  rankdir=LR;", "  node [fontsize=10];"]
        for n in self.nodes:
            lines.append(f"  {q(n.name)} [label={q(self._label(n))}, {_DOT_STYLE[n.kind]}];")
        for a, b in self.edges:
            lines.append(f"  {q(a)} -> {q(b)};")
        lines.append("}")
        return "\n".join(lines)

    def to_graphviz(self):
        """A ``graphviz.Source`` of :meth:`to_dot` (shown inline by Jupyter; ``.render()``
        needs Graphviz's ``dot`` program). Needs the ``graphviz`` Python package."""
        try:
            import graphviz
        except ImportError as exc:
            raise ImportError(
                "to_graphviz needs the graphviz package: pip install graphviz (in a clone of "
                'mlpcore: pip install ".[graph]"); to_text() and plot() need no extra'
            ) from exc
        return graphviz.Source(self.to_dot())

    def _repr_svg_(self):  # Jupyter: graphviz's drawing when graphviz and dot are there
        try:
            return self.to_graphviz()._repr_image_svg_xml()
        except Exception:
            return None

    # ---- matplotlib -----------------------------------------------------------------------
    def plot(self, ax=None, fontsize: float = 7.0):
        """Draw the graph with matplotlib: the chain of operations left to right, parameters
        above their layer, the target below the loss; each box shows the forward value
        (shape, mean, std) and, in red, the gradient's norm. Returns the Axes."""
        import matplotlib.pyplot as plt
        from matplotlib.patches import FancyBboxPatch

        chain = [n for n in self.nodes if n.kind in ("input", "op", "output", "loss")]
        dx, half = 1.35, {"param": (0.33, 0.3), "target": (0.45, 0.3)}  # box half sizes
        pos: Dict[str, Tuple[float, float]] = {n.name: (dx * i, 0.0) for i, n in enumerate(chain)}
        for n in self.nodes:
            if n.kind == "param":
                owner = next(m for m in chain if n.name in m.inputs)
                siblings = [i for i in owner.inputs if self[i].kind == "param"]
                k = siblings.index(n.name)
                pos[n.name] = (pos[owner.name][0] + 0.7 * (k - (len(siblings) - 1) / 2), 1.25)
            elif n.kind == "target":
                owner = next(m for m in chain if n.name in m.inputs)
                pos[n.name] = (pos[owner.name][0], -1.25)
        if ax is None:
            _, ax = plt.subplots(figsize=(max(6.0, 1.9 * len(chain)), 4.4))
        colors = {
            "input": "#dbe9f6",
            "target": "#eeeeee",
            "param": "#fdebd0",
            "op": "#e8f6e8",
            "output": "#e8e8f8",
            "loss": "#f9dede",
        }
        for a, b in self.edges:
            (x0, y0), (x1, y1) = pos[a], pos[b]
            wa, ha = half.get(self[a].kind, (0.55, 0.42))
            wb, hb = half.get(self[b].kind, (0.55, 0.42))
            if y0 == y1:  # along the chain: from the right edge to the left edge
                start, end = (x0 + wa, y0), (x1 - wb, y1)
            elif y0 > y1:  # a parameter above into its layer
                start, end = (x0, y0 - ha), (x1 + 0.3 * (x0 - x1), y1 + hb)
            else:  # the target below into the loss
                start, end = (x0, y0 + ha), (x1, y1 - hb)
            ax.annotate(
                "", xy=end, xytext=start, arrowprops=dict(arrowstyle="->", color="0.35", lw=0.9)
            )
        for n in self.nodes:
            x, y = pos[n.name]
            w, h = half.get(n.kind, (0.55, 0.42))
            ax.add_patch(
                FancyBboxPatch(
                    (x - w, y - h),
                    2 * w,
                    2 * h,
                    boxstyle="round,pad=0.02",
                    fc=colors[n.kind],
                    ec="0.3",
                    lw=0.8,
                )
            )
            v = n.value_stats
            if v.shape == ():
                value = f"{v.mean:.4g}"
            else:
                value = f"{v.shape}\nmean {v.mean:.2g} sd {v.std:.2g}"
            title = n.name if n.kind in ("param", "target", "input") else f"{n.name} = {n.op}"
            ax.text(
                x,
                y + (0.1 if n.grad is not None else 0),
                f"{title}\n{value}",
                ha="center",
                va="center",
                fontsize=fontsize,
            )
            if n.grad is not None:
                ax.text(
                    x,
                    y - h + 0.1,
                    f"|dL/d{n.name}| {Stats.of(n.grad).norm:.2g}",
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="#b00000",
                )
        xs = [p[0] for p in pos.values()]
        ax.set_xlim(min(xs) - 0.65, max(xs) + 0.65)
        ax.set_ylim(-1.65, 1.65)
        ax.set_aspect("auto")
        ax.axis("off")
        ax.set_title(self.description, fontsize=fontsize + 2)
        return ax


_DOT_STYLE = {
    "input": 'shape=box, style=filled, fillcolor="#dbe9f6"',
    "target": 'shape=box, style=filled, fillcolor="#eeeeee"',
    "param": 'shape=box, style="rounded,filled", fillcolor="#fdebd0"',
    "op": 'shape=box, style=filled, fillcolor="#e8f6e8"',
    "output": 'shape=box, style=filled, fillcolor="#e8e8f8"',
    "loss": 'shape=ellipse, style=filled, fillcolor="#f9dede"',
}


def computation_graph(
    net, X, y=None, training: bool = False, step: Optional[int] = None, sample_weight=None
) -> ComputationGraph:
    """The computation graph of a model for inputs X (and targets y): every node with its
    forward value and, given y, the gradient of the loss with respect to it.

    Nodes, in forward order: the input ``x``; per Dense layer its parameters ``W<k>``,
    ``b<k>`` and net input ``z<k> = x @ W<k> + b<k>``; per activation its output
    ``h<k>``; per BatchNorm, LayerNorm and Dropout layer its parameters and output; the
    output activation ``yhat``; and with targets, ``y`` and the loss ``L``. Forward values
    and gradients are computed by the NumPy twin (``mlpcore.reference``) in float64 from the
    model's weights and state; the model is not changed.

    Parameters
    ----------
    net : Sequential
        The model.
    X : array-like, shape (n_samples, n_features)
        The inputs.
    y : array-like or None
        The targets, as ``net.loss`` takes them; None draws the forward pass only.
    training : bool, default False
        Training mode: batch statistics and the dropout masks of ``step``.
    step : int or None
        The training step of the dropout masks (default ``net.step_``).
    sample_weight : array-like or None
        Per-sample weights of the loss.

    Returns
    -------
    ComputationGraph
        ``print(graph)`` (or ``graph.to_text()``) gives the plain-text form,
        ``graph.plot()`` a matplotlib drawing, ``graph.to_dot()`` DOT source and
        ``graph.to_graphviz()`` a graphviz object (needs the ``graphviz`` package);
        ``graph["z1"].grad`` is a node's gradient.

    Raises
    ------
    TypeError
        If ``net`` is not a ``Sequential``.
    ValueError
        For bad ``X`` or ``y`` (as ``net.loss`` raises them).

    Examples
    --------
    >>> import numpy as np
    >>> import mlpcore as mc
    >>> net = mc.Sequential([mc.Dense(2, 2), mc.Sigmoid(), mc.Dense(2, 1)],
    ...                     loss="binary_cross_entropy", dtype="float64", seed=0)
    >>> X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    >>> graph = mc.computation_graph(net, X, [0, 1, 1, 0])
    >>> [n.name for n in graph.nodes]
    ['x', 'W1', 'b1', 'z1', 'h1', 'W2', 'b2', 'z2', 'yhat', 'y', 'L']
    >>> graph["z1"].value.shape, graph["z1"].grad.shape
    ((4, 2), (4, 2))
    >>> bool(np.allclose(graph["W1"].grad, net.gradients(X, [0, 1, 1, 0])[0]))
    True
    >>> print(graph.to_text().splitlines()[1])
    x = input   [input]
    """
    from .reference.layer_kinds import Run, kind
    from .reference.losses import loss_backward, loss_forward, output_activation
    from .sequential import Sequential

    if not isinstance(net, Sequential):
        raise TypeError(f"net must be an mlpcore.Sequential, got {type(net).__name__}")
    has_targets = y is not None
    if has_targets:
        X, Y, training, step = net._check_call(X, y, training, step)
    else:
        X, Y, training, step = net._check_call(X, None, training, step, targets=False)
    w = None
    if sample_weight is not None:
        from . import _checks

        w = _checks.check_sample_weight(sample_weight, X.shape[0], np.float64)
    x = np.asarray(X, np.float64)
    Y = None if Y is None else np.asarray(Y, np.float64)
    layout = net._layout
    weights = [np.array(a, np.float64) for a in net.get_weights()]
    state = [np.array(s, np.float64) for s in net.get_state()]

    nodes: List[Node] = [Node("x", "input", "input", (), None, x, None)]
    caches, params, outs, prev, a, s, dense = [], [], [], "x", 0, 0, 0
    for i, (layer, width, spec) in enumerate(zip(layout.layers, layout.widths, layout.specs)):
        pinfo = layer.params(width)
        p = weights[a : a + len(pinfo)]
        st = state[s : s + len(layer.state(width))]
        a, s = a + len(pinfo), s + len(st)
        out, cache = kind(spec).forward(spec, x, p, st, Run(training, step, net.seed, i, False))
        caches.append(cache)
        if spec[0] == "dense":
            dense += 1
            names = [f"W{dense}", f"b{dense}"]
            name, op = f"z{dense}", f"{prev} @ W{dense} + b{dense}"
        elif spec[0] in _OPS:
            name = f"h{dense}" if dense else f"h0_{i}"
            op = _OPS[spec[0]].replace("z", prev)
            names = []
        else:
            label = {"batchnorm": "bn", "layernorm": "ln", "dropout": "drop"}.get(spec[0], spec[0])
            name = f"{label}{dense}"
            names = [f"{q.name}{dense}" for q in pinfo]
            op = f"{type(layer).__name__}({prev})"
        taken = {n.name for n in nodes}
        if name in taken or taken & set(names):  # a second such layer after one Dense
            name, names = f"{name}_{i}", [f"{nm}_{i}" for nm in names]
        param_nodes = [Node(nm, "param", "parameter", (), i, v, None) for nm, v in zip(names, p)]
        nodes.extend(param_nodes)
        nodes.append(Node(name, "op", op, (prev, *names), i, out, None))
        params.append([len(nodes) - 1 - len(names) + k for k in range(len(names))])
        outs.append(len(nodes) - 1)
        prev, x = name, out

    act, loss_op = _OUTPUTS[net.loss_name]
    h = output_activation(net.loss_name, x)
    nodes.append(Node("yhat", "output", act.replace("z", prev), (prev,), None, h, None))
    value = None
    if Y is not None:
        value, _ = loss_forward(net.loss_name, x, Y, w)
        nodes.append(Node("y", "target", "target", (), None, Y, None))
        nodes.append(
            Node("L", "loss", loss_op, ("yhat", "y"), None, np.array(value), np.array(1.0))
        )
        # backward: the fused pair's output error dL/dz, then each layer's backward in turn
        dz = loss_backward(net.loss_name, h, Y, w)
        layout.check_differentiable()  # as net.gradients: no Step or Sign above a parameter
        grad_in = None
        for i in range(len(layout.specs) - 1, -1, -1):
            spec = layout.specs[i]
            nodes[outs[i]] = nodes[outs[i]]._replace(grad=dz)
            if not layout.layers[i].differentiable:  # below every parameter: stop here
                dz = None
                break
            pw = [nodes[j].value for j in params[i]]
            dz, pgrads = kind(spec).backward(spec, dz, caches[i], pw, training)
            for j, g in zip(params[i], pgrads):
                nodes[j] = nodes[j]._replace(grad=np.asarray(g))
            grad_in = dz
        nodes[0] = nodes[0]._replace(grad=grad_in)

    mode = f"training, step {step}" if training else "evaluation mode"
    shapes = " -> ".join(str(w) for w in [*layout.widths, net.n_outputs_])
    description = f"computation graph: {shapes}, loss {net.loss_name}, X {X.shape}, {mode}" + (
        "" if value is None else f", L = {value:.4g}"
    )
    return ComputationGraph(nodes, value, description)
