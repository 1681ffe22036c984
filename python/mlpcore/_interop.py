"""What the converters (mlpcore.onnx, convert_torch, convert_sklearn) share: a Sequential's
arrays cut per layer, and the look-up of a layer kind in a converter's table.

Each converter holds one table keyed by the layer's class name ({"Dense": ..., "GELU": ...}),
one entry per layer kind; nothing here branches on the kind: the arrays of a layer and their
names come from its descriptor (layers.py).
"""

from .sequential import Sequential


def kind(layer):
    """The name converters key their tables by: the layer's class name."""
    return type(layer).__name__


def lookup(table, layer, index, what):
    """table[kind(layer)], or a ValueError naming the layer and the kinds that are supported."""
    try:
        return table[kind(layer)]
    except KeyError:
        raise ValueError(
            f"layers[{index}] ({layer!r}) cannot be {what}: no converter for the "
            f"layer kind {kind(layer)!r}; supported kinds: "
            f"{', '.join(sorted(table))}"
        ) from None


def layer_arrays(net):
    """[(layer, {name: array})] for every layer of a Sequential: the arrays of
    net.get_weights() and net.get_state() (copies) under the names the layer's descriptor
    gives them in params() and state() (Dense: W (n_in, n_out), b (n_out,); BatchNorm:
    gamma, beta, running_mean, running_var, each (n_features,))."""
    weights, state = iter(net.get_weights()), iter(net.get_state())
    out = []
    for layer, width in zip(net.layers, net._layout.widths):
        arrays = {p.name: next(weights) for p in layer.params(width)}
        arrays.update((s.name, next(state)) for s in layer.state(width))
        out.append((layer, arrays))
    return out


def unwrap(model):
    """A Sequential, or an mlpcore estimator's fitted network (its model_)."""
    if isinstance(model, Sequential):
        return model
    inner = getattr(model, "model_", None)
    if isinstance(inner, Sequential):
        return inner
    raise ValueError(
        f"expected an mlpcore.Sequential or a fitted mlpcore estimator, got {type(model).__name__}"
    )
