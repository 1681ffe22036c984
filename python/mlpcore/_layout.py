"""What a list of layer descriptors implies for a model, computed once: the layers themselves
(shorthands expanded, Layer.expand), the widths chained through the layers, the spec tuples
the engines are built from, the shapes of the parameters and state, the initial values, and
the rules the layers impose on a call."""

import numpy as np

from . import _checks
from .layers import Layer


class Layout:
    """Raises ValueError (naming the layer) for a list that is not a valid network."""

    def __init__(self, layers, input_dim=None):
        if isinstance(layers, Layer) or not hasattr(layers, "__iter__"):
            raise ValueError("layers must be a list of mlpcore layers")
        layers = list(layers)
        if not layers:
            raise ValueError("layers must not be empty")
        for i, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layers[{i}] must be an mlpcore layer, got {layer!r}")
        # shorthands (Dense(64, activation="relu")) become the layers they stand for; from
        # here on, indices in messages are those of the expanded list, net.layers
        self.last_given = layers[-1]  # the last layer as given (a shorthand's rules use it)
        layers = [part for layer in layers for part in layer.expand()]
        self.layers = layers
        self.input_dim = (
            None if input_dim is None else _checks.check_width("Sequential", "input_dim", input_dim)
        )
        width = self.input_dim if input_dim is not None else _first_width(layers)
        self.n_in = width
        self.widths = []  # input width of each layer
        for i, layer in enumerate(layers):
            if layer.n_in is not None and layer.n_in != width:
                source = f"the layer before it produces {width}" if i else f"input_dim is {width}"
                raise ValueError(
                    f"layers[{i}] ({layer!r}) expects {layer.n_in} inputs but {source}"
                )
            self.widths.append(width)
            width = layer.output_width(width)
        self.n_out = width
        self.specs = [l.spec(w) for l, w in zip(layers, self.widths)]
        self.param_shapes = [p.shape for l, w in zip(layers, self.widths) for p in l.params(w)]
        self.states = [s for l, w in zip(layers, self.widths) for s in l.state(w)]
        self.state_shapes = [s.shape for s in self.states]
        if not self.param_shapes:
            raise ValueError(
                "the network needs at least one Dense or BatchNorm layer (a layer with parameters)"
            )
        # the first layer that needs batch statistics, if any: its rule applies to the model
        self.batch_statistics = next((l for l in layers if l.needs_batch_statistics), None)

    # ---- initial values -----------------------------------------------------------------
    def initial_params(self, seed):
        """Every layer's initial parameters, drawn in layer order from one generator."""
        rng = np.random.default_rng(seed)
        # he[i]: the first layer after i that is not init-transparent is ReLU-like; found in
        # one backward pass (a look-ahead per layer made this quadratic in the depth)
        he, after = [False] * len(self.layers), None
        for i in range(len(self.layers) - 1, -1, -1):
            he[i] = after is not None and after.relu_like
            if not self.layers[i].init_transparent:
                after = self.layers[i]
        arrays = []
        for i, (layer, width) in enumerate(zip(self.layers, self.widths)):
            arrays += layer.initial_params(width, rng, he=he[i])
        return arrays

    def initial_state(self):
        return [a for l, w in zip(self.layers, self.widths) for a in l.initial_state(w)]

    def check_state(self, state, dtype):
        """A list shaped like the state, checked (e.g. running variances >= 0)."""
        arrays = _checks.check_array_list("state", state, self.state_shapes, dtype)
        for i, (a, s) in enumerate(zip(arrays, self.states)):
            if s.nonnegative and (a < 0).any():
                raise ValueError(f"state[{i}] is a {s.what or s.name} and must be >= 0")
        return arrays

    # ---- rules ---------------------------------------------------------------------------
    def check_loss(self, loss):
        """loss (a canonical name), refused when the last layer as given is a shorthand whose
        activation the loss applies itself: Keras' Dense(1, activation="sigmoid") with
        binary_crossentropy would here apply the sigmoid twice, another model without a word."""
        if (
            loss == "binary_cross_entropy"
            and getattr(self.last_given, "activation", None) == "sigmoid"
        ):
            raise ValueError(
                f"the last layer is {self.last_given!r} and "
                "loss='binary_cross_entropy' applies the sigmoid itself: drop "
                "activation='sigmoid' from the last layer (predict still returns "
                "probabilities)"
            )
        return loss

    def check_batch(self, n_samples, what):
        """Training with batch statistics needs >= 2 samples per batch; `what` says where the
        number came from, e.g. "X has 1"."""
        layer = self.batch_statistics
        if layer is not None and n_samples < 2:
            raise ValueError(
                f"{type(layer).__name__} in training mode needs at least 2 samples "
                f"per batch ({what}): one sample has no batch variance"
            )

    def check_differentiable(self):
        """Training needs a gradient through every layer above the first one with parameters."""
        first = next(
            (i for i, (l, w) in enumerate(zip(self.layers, self.widths)) if l.params(w)), None
        )
        if first is None:
            return
        for i, layer in enumerate(self.layers[first + 1 :], first + 1):
            if not layer.differentiable:
                raise ValueError(
                    f"layers[{i}] is {layer!r}, whose derivative is zero almost "
                    "everywhere: no gradient reaches the layers below it, so the network "
                    "cannot be trained by gradient descent. Use Sigmoid/Tanh (smooth "
                    "versions of step/sign) for training."
                )


def _first_width(layers):
    """The input width the layers fix without input_dim: the n_in of the first layer that
    requires one, provided no layer before it changes the width."""
    for i, layer in enumerate(layers):
        if layer.n_in is not None:
            return layer.n_in
        if layer.n_out is not None:  # it sets its output width but takes any input width
            raise ValueError(
                f"layers[{i}] ({layer!r}) takes its input width from the layer before it, and "
                "no layer before it fixes one: pass input_dim=n_features to Sequential, or give "
                "the first Dense layer both widths, e.g. Dense(n_features, n_out)"
            )
    raise ValueError(
        "the network needs at least one Dense or BatchNorm layer to know its input "
        "width, or input_dim=n_features on Sequential"
    )


def split(flat, shapes):
    """Views of the flat vector with the given shapes, in order."""
    out, off = [], 0
    for s in shapes:
        size = int(np.prod(s))
        out.append(flat[off : off + size].reshape(s))
        off += size
    return out


def join(arrays, dtype):
    """The arrays flattened into one vector of dtype."""
    return (
        np.concatenate([np.ravel(a) for a in arrays]).astype(dtype, copy=False)
        if arrays
        else np.zeros(0, dtype)
    )
