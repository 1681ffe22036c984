"""Sequential.summary(): a table of the layers (output shape, parameter counts) and the
totals, all read from the layer descriptors through the model's Layout (no branching on the
kind of a layer)."""

from typing import List, NamedTuple

import numpy as np


class LayerRow(NamedTuple):
    index: int  # type: ignore[assignment]  # (the field shadows tuple.index)
    layer: str  # repr of the descriptor
    output_shape: tuple  # (None, width): None is the batch dimension
    trainable: int  # number of trainable parameters (Dense W, b; BatchNorm gamma, beta)
    non_trainable: int  # number of state values (BatchNorm running mean and variance)


def _size(shapes):
    return sum(int(np.prod(s)) for s in shapes)


def _human(n_bytes):
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n_bytes < 1024 or unit == "GiB":
            return f"{n_bytes:.0f} {unit}" if unit == "B" else f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024


class Summary:
    """What Sequential.summary() returns: str(summary) (and print(summary), and its display
    in a notebook) is the table; the numbers are attributes.

    rows           list of LayerRow (index, layer, output_shape, trainable, non_trainable)
    trainable      total trainable parameters (what get_weights() holds)
    non_trainable  total non-trainable values (what get_state() holds)
    total          trainable + non_trainable (= Sequential.count_params())
    nbytes         memory of all of them in the model's dtype
    loss, dtype, input_dim
    """

    def __init__(self, rows: List[LayerRow], loss, dtype, input_dim):
        self.rows = rows
        self.trainable = sum(r.trainable for r in rows)
        self.non_trainable = sum(r.non_trainable for r in rows)
        self.total = self.trainable + self.non_trainable
        self.nbytes = self.total * np.dtype(dtype).itemsize
        self.loss, self.dtype, self.input_dim = loss, np.dtype(dtype).name, input_dim

    def __str__(self):
        head = ("#", "Layer", "Output shape", "Params", "Non-trainable")
        body = [
            (str(r.index), r.layer, str(r.output_shape), f"{r.trainable:,}", f"{r.non_trainable:,}")
            for r in self.rows
        ]
        widths = [max(len(row[c]) for row in [head] + body) for c in range(len(head))]
        align = ["<", "<", "<", ">", ">"]

        def line(row):
            return "  ".join(f"{v:{a}{w}}" for v, a, w in zip(row, align, widths)).rstrip()

        rule = "-" * len(line(head))
        out = [
            f"Sequential: input (None, {self.input_dim}), loss {self.loss}, dtype {self.dtype}",
            rule,
            line(head),
            rule,
        ]
        out += [line(r) for r in body]
        totals = [
            ("Trainable params:", f"{self.trainable:,}"),
            ("Non-trainable params:", f"{self.non_trainable:,}"),
            ("Total params:", f"{self.total:,}"),
            (f"Memory ({self.dtype}):", f"{self.nbytes:,} bytes ({_human(self.nbytes)})"),
        ]
        out += [rule] + [f"{label:<22}{value}" for label, value in totals]
        return "\n".join(out)

    __repr__ = __str__  # a notebook shows the table, not an object address


def summarize(layout, loss, dtype):
    """The Summary of a model with this Layout, loss name and dtype."""
    rows = []
    for i, (layer, width) in enumerate(zip(layout.layers, layout.widths)):
        rows.append(
            LayerRow(
                i,
                repr(layer),
                (None, layer.output_width(width)),
                _size(p.shape for p in layer.params(width)),
                _size(s.shape for s in layer.state(width)),
            )
        )
    return Summary(rows, loss, dtype, layout.n_in)
