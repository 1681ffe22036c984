"""What the converters (mlpcore.onnx, convert_torch, convert_sklearn) share: a Sequential's
arrays cut per layer, and the look-up of a layer kind in a converter's table.

Each converter holds one table keyed by the layer's class name ({"Dense": ..., "GELU": ...}),
one entry per layer kind; nothing here branches on the kind.
"""

# The arrays a layer kind owns, in the order Sequential.get_weights() / get_state() list them.
# Kinds not named here own none (activations, Dropout).
ARRAYS = {
    "Dense": (("W", "b"), ()),
    "BatchNorm": (("gamma", "beta"), ("running_mean", "running_var")),
    "LayerNorm": (("gamma", "beta"), ()),
}


def kind(layer):
    """The name converters key their tables by: the layer's class name."""
    return type(layer).__name__


def lookup(table, layer, index, what):
    """table[kind(layer)], or a ValueError naming the layer and the kinds that are supported."""
    try:
        return table[kind(layer)]
    except KeyError:
        raise ValueError(f"layers[{index}] ({layer!r}) cannot be {what}: no converter for the "
                         f"layer kind {kind(layer)!r}; supported kinds: "
                         f"{', '.join(sorted(table))}") from None


def layer_arrays(net):
    """[(layer, {name: array})] for every layer of a Sequential, the arrays copied from
    net.get_weights() and net.get_state() (Dense: W (n_in, n_out), b (n_out,); BatchNorm:
    gamma, beta, running_mean, running_var, each (n_features,))."""
    weights, state = list(net.get_weights()), list(net.get_state())
    out = []
    for layer in net.layers:
        wnames, snames = ARRAYS.get(kind(layer), ((), ()))
        if len(wnames) > len(weights) or len(snames) > len(state):
            raise RuntimeError(f"{layer!r} owns fewer arrays than mlpcore's converters expect "
                               f"({wnames + snames}); the converters are out of date")
        arrays = dict(zip(wnames, weights[:len(wnames)]))
        arrays.update(zip(snames, state[:len(snames)]))
        del weights[:len(wnames)], state[:len(snames)]
        out.append((layer, arrays))
    if weights or state:
        raise RuntimeError(f"{len(weights)} weight and {len(state)} state arrays are not claimed "
                           "by any layer: mlpcore's converters are out of date")
    return out


def unwrap(model):
    """A Sequential, or an mlpcore estimator's fitted network (its model_)."""
    from .sequential import Sequential
    if isinstance(model, Sequential):
        return model
    inner = getattr(model, "model_", None)
    if isinstance(inner, Sequential):
        return inner
    raise ValueError(f"expected an mlpcore.Sequential or a fitted mlpcore estimator, got "
                     f"{type(model).__name__}")
