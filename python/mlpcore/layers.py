"""Layer descriptors of the Python API: one class per layer kind owns everything about it.

A descriptor holds configuration only (the parameters live in the Sequential that contains
it, one flat buffer per engine) and answers every question the rest of the package asks
about its kind: the spec name both engines know it by (`kind`), its output width, the
shapes of its parameters (and which of them get weight decay) and of its state, how its
parameters are initialised, the rules it imposes (`needs_batch_statistics`,
`differentiable`), its engine spec tuple, repr and (de)serialisation. Sequential, io and
pickling iterate over descriptors; nothing else branches on the kind of a layer.

Adding a kind: subclass Layer (or Activation) here; __init_subclass__ registers it by class
name for `deserialize`. The engines need the kind too: cpp/src/layer_kinds.cpp and
reference/layer_kinds.py (see docs/ARCHITECTURE.md).
"""

import copy
from typing import Dict, NamedTuple, Optional, Tuple

import numpy as np

from . import _checks

_REGISTRY: Dict[str, type] = {}  # class name -> descriptor class, filled by Layer.__init_subclass__


class Param(NamedTuple):
    """One trainable parameter array of a layer."""

    name: str
    shape: tuple
    weight_decay: bool  # fit's weight_decay applies to it (Dense weight matrices only)


class State(NamedTuple):
    """One non-trainable state array of a layer, filled with `initial` at construction."""

    name: str  # the array's name, as the converters know it: "running_var"
    shape: tuple
    initial: float
    nonnegative: bool = False  # set_state refuses negative values
    what: str = ""  # what it is, for messages ("running variance"; default: the name)


class Layer:
    """Base class of the layer descriptors.

    Class attributes a kind sets::

      kind                   the spec name both engines know the kind by
      needs_batch_statistics training needs >= 2 samples per batch (one has no variance)
      differentiable         False: derivative zero almost everywhere, no training through it
      relu_like              a Dense layer right before it is He-initialised
      init_transparent       the Dense layer before it looks past it to pick its initialisation

    Instance attributes: n_in (the input width it requires, None when any width passes, as
    for activations and for Dense(n_out), which takes the width before it) and n_out (its
    output width, None when it equals the input width).
    """

    kind: Optional[str] = None
    needs_batch_statistics = False
    differentiable = True
    relu_like = False
    init_transparent = False
    n_in = None
    n_out = None
    _positional: Tuple[str, ...] = ()  # get_config keys shown positionally by repr

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kind is not None:
            _REGISTRY.setdefault(cls.__name__, cls)  # the first class of a name keeps it

    # ---- read-only once part of a model -------------------------------------------------
    # A Sequential owns copies of its layers, built into its engine; an edit of one would
    # not reach the engine but would reach save and pickle. Those copies are frozen.
    def _freeze(self):
        object.__setattr__(self, "_frozen", True)

    def __setattr__(self, name, value):
        if self.__dict__.get("_frozen"):
            raise AttributeError(
                f"{type(self).__name__} is a layer of a built Sequential and cannot be changed "
                f"(setting {name!r}); build a new model, e.g. from an edited net.get_config() "
                f"with Sequential.from_config, and set_weights where the shapes allow"
            )
        object.__setattr__(self, name, value)

    def __delattr__(self, name):
        if self.__dict__.get("_frozen"):
            raise AttributeError(
                f"{type(self).__name__} is a layer of a built Sequential and "
                f"cannot be changed (deleting {name!r})"
            )
        object.__delattr__(self, name)

    def __getstate__(self):  # copies and pickles of a model's layer are editable again
        return {k: v for k, v in self.__dict__.items() if k != "_frozen"}

    # ---- shapes -----------------------------------------------------------------------
    def output_width(self, n_in):
        """The width this layer produces from an input of width n_in."""
        return n_in if self.n_out is None else self.n_out

    def params(self, n_in):
        """Its trainable parameters, in storage order: a list of Param."""
        return []

    def state(self, n_in):
        """Its non-trainable state, in storage order: a list of State."""
        return []

    def initial_params(self, n_in, rng, he):
        """Initial parameter arrays (float64), shaped like params(n_in). rng is the one
        np.random.Generator of the model, drawn from in layer order; he is True when the
        next layer that is not init_transparent is relu_like."""
        return [np.zeros(p.shape) for p in self.params(n_in)]

    def initial_state(self, n_in):
        """The initial values of the layer's state arrays for input width n_in (BatchNorm:
        running mean 0 and running variance 1; other kinds have no state)."""
        return [np.full(s.shape, s.initial) for s in self.state(n_in)]

    def expand(self):
        """The layers this descriptor stands for in a model: [self], or for a shorthand such
        as Dense(64, activation="relu") the layers it is written for, [Dense(64), ReLU()].
        Sequential builds its layers from the expansion (so net.layers, summary, config, io
        and the converters only ever see plain layers)."""
        return [self]

    # ---- the engines' view ------------------------------------------------------------
    def spec_args(self):
        """The values after the two widths in the spec tuple."""
        return ()

    def spec(self, n_in):
        """The tuple both engines build this layer from: `(kind, n_in, n_out, *spec_args)`."""
        return (self.kind, n_in, self.output_width(n_in)) + tuple(self.spec_args())

    # ---- serialisation ----------------------------------------------------------------
    def get_config(self):
        """Constructor arguments: type(layer).from_config(layer.get_config()) rebuilds it."""
        return {}

    @classmethod
    def from_config(cls, config):
        """The layer that `get_config()` described: ``cls(**config)``, with a ValueError
        naming the class when the config does not fit its constructor."""
        if not isinstance(config, dict):
            raise ValueError(
                f"{cls.__name__}: config must be a dict of constructor arguments, got {config!r}"
            )
        try:
            return cls(**config)
        except TypeError as exc:  # missing or unknown arguments
            raise ValueError(f"{cls.__name__}: bad config {config!r} ({exc})") from None

    def __repr__(self):
        config = self.get_config()
        args = [repr(config.pop(k)) for k in self._positional if k in config]
        args += [f"{k}={v!r}" for k, v in config.items()]
        return f"{type(self).__name__}({', '.join(args)})"


def serialize(layer):
    """{"class": class name, "config": get_config()}: JSON-able."""
    return {"class": type(layer).__name__, "config": layer.get_config()}


def deserialize(d):
    """The layer serialize() described; ValueError for anything else."""
    if not isinstance(d, dict) or set(d) != {"class", "config"}:
        raise ValueError(
            f"a layer must be described as {{'class': name, 'config': {{...}}}}, got {d!r}"
        )
    cls = _REGISTRY.get(d["class"]) if isinstance(d["class"], str) else None
    if cls is None:
        raise ValueError(
            f"unknown layer class {d['class']!r}; known layers: {', '.join(_REGISTRY)}"
        )
    return cls.from_config(d["config"])


def registered():
    """The registered layer classes by name (a copy)."""
    return dict(_REGISTRY)


# ---- the kinds -----------------------------------------------------------------------------
class Dense(Layer):
    """Fully connected layer z = x @ W + b with W of shape (n_in, n_out), b of shape (n_out,).

    ``Dense(n_in, n_out)`` fixes both widths; ``Dense(n_out)`` (one positional width, as
    Keras' ``Dense(units)``) takes n_in from the layer before it, and the first layer's from
    ``Sequential(..., input_dim=k)``. Keywords work too: ``Dense(n_in=3, n_out=4)``,
    ``Dense(3, n_out=4)`` (the positional width is then n_in, as it always was).

    ``activation=`` (Keras' shorthand): an activation's name ("relu", "sigmoid", "tanh",
    "leaky_relu", "gelu", "silu" or "swish", "elu", "softplus", "identity", "step", "sign"; None
    or "linear": none) or an Activation layer. A model expands it at construction into the
    Dense layer followed by that activation layer, with the class's default arguments for a
    name (LeakyReLU's negative_slope 0.01, as torch; Keras' "leaky_relu" is 0.2: pass
    ``activation=LeakyReLU(0.2)`` for that): ``Sequential([Dense(64, activation="relu")])``
    has the layers ``[Dense(64), ReLU()]``, and its summary, config, files and exports show
    those two. "softmax" is refused (the softmax belongs to the loss
    softmax_cross_entropy), and so is "sigmoid" on the last layer with
    binary_cross_entropy, which applies the sigmoid itself.

    Initialisation (seeded by the Sequential): W is drawn uniformly from [-r, r] with
    r = sqrt(6 / n_in) (He/Kaiming-uniform) when the next activation is ReLU-like (ReLU,
    LeakyReLU, GELU, SiLU, ELU, Softplus; BatchNorm, LayerNorm and Dropout in between are
    looked past), and
    r = sqrt(6 / (n_in + n_out)) (Glorot/Xavier-uniform) otherwise; b starts at zero.

    Examples
    --------
    >>> import mlpcore as mc
    >>> net = mc.Sequential([mc.Dense(32, activation="relu"), mc.Dense(1)],
    ...                     input_dim=10, loss="mse")
    >>> net.layers  # the shorthand expanded into two layers
    (Dense(32), ReLU(), Dense(1))
    >>> [w.shape for w in net.get_weights()]
    [(10, 32), (32,), (32, 1), (1,)]
    """

    kind = "dense"
    _positional = ("n_in", "n_out")

    def __init__(self, *widths, n_in=None, n_out=None, activation=None):
        if len(widths) > 2:
            raise TypeError(
                f"Dense takes (n_out) or (n_in, n_out), got {len(widths)} "
                f"positional arguments {widths!r}"
            )
        if len(widths) == 2:
            if n_in is not None or n_out is not None:
                raise TypeError("Dense got multiple values for n_in and n_out")
            n_in, n_out = widths
        elif len(widths) == 1:
            if n_out is None:  # Dense(n_out) or Dense(n_out, n_in=k)
                n_out = widths[0]
            elif n_in is None:  # Dense(n_in, n_out=k): the (n_in, n_out) signature
                n_in = widths[0]
            else:
                raise TypeError("Dense got multiple values for n_in")
        if n_out is None:
            # a missing argument is a TypeError, as Python's own; from_config turns it into
            # ValueError "Dense: bad config"
            raise TypeError(
                "Dense missing n_out (the number of units), e.g. Dense(10) or Dense(784, 10)"
            )
        self.n_in = None if n_in is None else _checks.check_width("Dense", "n_in", n_in)
        self.n_out = _checks.check_width("Dense", "n_out", n_out)
        self.activation = _check_activation(activation)

    def expand(self):
        if self.activation is None:
            return [self]
        act = (
            copy.deepcopy(self.activation)
            if isinstance(self.activation, Activation)
            else activation_classes()[self.activation]()
        )
        return [Dense(n_in=self.n_in, n_out=self.n_out), act]

    def params(self, n_in):
        return [Param("W", (n_in, self.n_out), True), Param("b", (self.n_out,), False)]

    def initial_params(self, n_in, rng, he):
        fan = n_in if he else n_in + self.n_out
        bound = np.sqrt(6.0 / fan)
        return [
            rng.uniform(-bound, bound, n_in * self.n_out).reshape(n_in, self.n_out),
            np.zeros(self.n_out),
        ]

    def get_config(self):
        """{"n_in", "n_out"}; {"n_out"} alone when n_in is inferred; "activation" (its name,
        or serialize() of an Activation layer) when there is one."""
        config = (
            {"n_out": self.n_out} if self.n_in is None else {"n_in": self.n_in, "n_out": self.n_out}
        )
        if self.activation is not None:
            config["activation"] = (
                serialize(self.activation)
                if isinstance(self.activation, Activation)
                else self.activation
            )
        return config


class BatchNorm(Layer):
    """Batch normalisation over the features of a (batch, n_features) input.

    Training mode: y = gamma * (x - mean_B) / sqrt(var_B + eps) + beta, with the batch mean
    and the biased (1/n) batch variance, and the running estimates updated as
    running = (1 - momentum) * running + momentum * batch_stat, where the running variance
    receives the unbiased (1/(n-1)) batch variance. Evaluation mode normalises with the
    running estimates. These are PyTorch's conventions (BatchNorm1d), so models port both
    ways. The lecture normalises with the 1/(n-1) variance in training as well; that is a
    documented difference, not an option here.

    gamma (init 1) and beta (init 0) are trainable parameters in get_weights(); the running
    mean (init 0) and variance (init 1) are state: Sequential.get_state()/set_state().
    Training needs at least 2 samples per batch.
    """

    kind = "batchnorm"
    needs_batch_statistics = True
    init_transparent = True
    _positional = ("n_features",)

    def __init__(self, n_features, momentum=0.1, eps=1e-5):
        self.n_in = _checks.check_width("BatchNorm", "n_features", n_features)
        self.n_out = self.n_in
        self.momentum = _checks.check_layer_real("BatchNorm", "momentum", momentum, 0, 1)
        self.eps = _checks.check_layer_real("BatchNorm", "eps", eps, 0, closed=(False, True))

    def params(self, n_in):
        return [Param("gamma", (self.n_in,), False), Param("beta", (self.n_in,), False)]

    def initial_params(self, n_in, rng, he):
        return [np.ones(self.n_in), np.zeros(self.n_in)]

    def state(self, n_in):
        return [
            State("running_mean", (self.n_in,), 0.0, what="running mean"),
            State("running_var", (self.n_in,), 1.0, nonnegative=True, what="running variance"),
        ]

    def spec_args(self):
        return (self.momentum, self.eps)

    def get_config(self):
        return {"n_features": self.n_in, "momentum": self.momentum, "eps": self.eps}


class LayerNorm(Layer):
    """Layer normalisation over the features of each row (torch.nn.LayerNorm(n_features)):
    y = gamma * (x - mean) / sqrt(var + eps) + beta, with the row's mean and biased (1/n)
    variance over its n_features values. The same in training and evaluation: no running
    statistics, no state, and any batch size (one sample too).

    gamma (init 1) and beta (init 0) are trainable parameters in get_weights() (torch's
    elementwise affine weight and bias); no weight decay applies to them, as for BatchNorm.
    """

    kind = "layernorm"
    init_transparent = True
    _positional = ("n_features",)

    def __init__(self, n_features, eps=1e-5):
        self.n_in = _checks.check_width("LayerNorm", "n_features", n_features)
        self.n_out = self.n_in
        self.eps = _checks.check_layer_real("LayerNorm", "eps", eps, 0, closed=(False, True))

    def params(self, n_in):
        return [Param("gamma", (self.n_in,), False), Param("beta", (self.n_in,), False)]

    def initial_params(self, n_in, rng, he):
        return [np.ones(self.n_in), np.zeros(self.n_in)]

    def spec_args(self):
        return (self.eps,)

    def get_config(self):
        return {"n_features": self.n_in, "eps": self.eps}


class Dropout(Layer):
    """Inverted dropout: in training each element is kept with probability 1 - p and scaled
    by 1 / (1 - p); in evaluation it is the identity. p in [0, 1); p = 0 is the identity.

    Masks come from a counter-based generator keyed by (model seed, training step, layer
    index, element index), identical in both engines and independent of thread count."""

    kind = "dropout"
    init_transparent = True

    def __init__(self, p=0.5):
        self.p = _checks.check_layer_real("Dropout", "p", p, 0, 1, closed=(True, False))

    def spec_args(self):
        return (self.p,)

    def get_config(self):
        return {"p": self.p}


class Activation(Layer):
    """Base of the elementwise activations: no parameters, any width."""


class Identity(Activation):
    """h = z."""

    kind = "identity"


class Step(Activation):
    """Heaviside step: h = 1 if z >= 0 else 0. Forward only: its derivative is zero almost
    everywhere, so no gradient-based training can pass through it."""

    kind = "step"
    differentiable = False


class Sign(Activation):
    """h = +1 if z >= 0 else -1. Forward only, like Step."""

    kind = "sign"
    differentiable = False


class Sigmoid(Activation):
    """Logistic function h = 1 / (1 + exp(-z)), computed without overflow."""

    kind = "sigmoid"


class Tanh(Activation):
    """h = tanh(z)."""

    kind = "tanh"


class ReLU(Activation):
    """h = max(z, 0); derivative 1 where z > 0 and 0 elsewhere (also at z = 0)."""

    kind = "relu"
    relu_like = True


class LeakyReLU(Activation):
    """h = z where z > 0, negative_slope * z elsewhere (torch.nn.LeakyReLU); derivative 1
    where z > 0 and negative_slope elsewhere (also at z = 0). negative_slope: any finite
    real number, as in PyTorch."""

    kind = "leaky_relu"
    relu_like = True

    def __init__(self, negative_slope=0.01):
        self.negative_slope = _checks.check_layer_real(
            "LeakyReLU", "negative_slope", negative_slope
        )

    def spec_args(self):
        return (self.negative_slope,)

    def get_config(self):
        return {"negative_slope": self.negative_slope}


class GELU(Activation):
    """Gaussian error linear unit, exact form (torch.nn.GELU's default):
    h = z * Phi(z) = 0.5 z (1 + erf(z / sqrt(2))), h' = Phi(z) + z phi(z)."""

    kind = "gelu"
    relu_like = True


class SiLU(Activation):
    """Sigmoid linear unit (swish): h = z * sigmoid(z), h' = s (1 + z (1 - s)) with
    s = sigmoid(z) (torch.nn.SiLU, Keras' "silu"/"swish")."""

    kind = "silu"
    relu_like = True


class ELU(Activation):
    """Exponential linear unit (torch.nn.ELU): h = z where z > 0, alpha * (exp(z) - 1)
    elsewhere; derivative 1 where z > 0 and alpha * exp(z) elsewhere (also at z = 0, as
    torch). alpha: any finite real number (torch's and Keras' default 1.0)."""

    kind = "elu"
    relu_like = True

    def __init__(self, alpha=1.0):
        self.alpha = _checks.check_layer_real("ELU", "alpha", alpha)

    def spec_args(self):
        return (self.alpha,)

    def get_config(self):
        return {"alpha": self.alpha}


class Softplus(Activation):
    """h = log(1 + exp(z)), computed as z where z > 20 (torch.nn.Softplus's defaults,
    beta = 1 and threshold = 20; Keras' softplus); h' = sigmoid(z), 1 where z > 20."""

    kind = "softplus"
    relu_like = True


# ---- activation names (Dense's activation= shorthand) ----------------------------------------
# Keras' names that are not a kind name here: "linear" is no activation, "swish" is SiLU.
ACTIVATION_ALIASES = {"linear": None, "swish": "silu"}
# names an activation= cannot take, with the reason
_REFUSED = {
    "softmax": 'the softmax belongs to the loss: use loss="softmax_cross_entropy" '
    "(Keras' categorical_crossentropy) and no output activation"
}


def activation_classes():
    """{kind: Activation class} for every registered activation (builtin and user-defined)."""
    return {cls.kind: cls for cls in _REGISTRY.values() if issubclass(cls, Activation)}


def _check_activation(activation):
    """Dense's activation= as stored: None, a kind name, or an Activation layer (a dict as
    get_config writes one is deserialized)."""
    if isinstance(activation, dict):
        activation = deserialize(activation)
    if activation is None or isinstance(activation, Activation):
        return activation
    known = activation_classes()
    if isinstance(activation, str):
        if activation in _REFUSED:
            raise ValueError(
                f"Dense: activation={activation!r} is not a layer here: {_REFUSED[activation]}"
            )
        name = ACTIVATION_ALIASES.get(activation, activation)
        if name is None or name in known:
            return name
    raise ValueError(
        f"Dense: activation must be None, an activation's name or an mlpcore "
        f"Activation layer, got {activation!r}; known names: "
        f"{', '.join(list(known) + list(ACTIVATION_ALIASES))}"
    )
