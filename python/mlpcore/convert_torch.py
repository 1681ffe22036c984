"""PyTorch in and out: mlpcore.from_torch(module, loss) and mlpcore.to_torch(net).

torch is optional and imported only when these functions run. One entry per module kind in
FROM_TORCH (keyed by the torch.nn class name) and per layer kind in TO_TORCH (keyed by the
mlpcore class name):

    torch.nn                          mlpcore
    Linear(n_in, n_out[, bias])       Dense(n_in, n_out)   W = weight.T, b = bias (or zeros:
                                      mlpcore's Dense always has a bias, which fit trains)
    BatchNorm1d(n, eps, momentum)     BatchNorm(n, momentum, eps), gamma/beta = weight/bias,
                                      running_mean/var as state (affine=True and
                                      track_running_stats=True with a float momentum required)
    LayerNorm(n, eps)                 LayerNorm(n, eps), gamma/beta = weight/bias (normalised
                                      over the last dimension only: normalized_shape (n,);
                                      elementwise_affine=False or bias=False convert with
                                      gamma = 1 / beta = 0, which fit then trains)
    Dropout(p)                        Dropout(p)
    Identity, ReLU, Sigmoid, Tanh     Identity, ReLU, Sigmoid, Tanh
    LeakyReLU(negative_slope)         LeakyReLU(negative_slope)
    GELU(approximate="none")          GELU()   (the tanh approximation has no mlpcore twin)
    SiLU                              SiLU
    ELU(alpha)                        ELU(alpha)
    Softplus(beta=1, threshold=20)    Softplus()   (other beta or threshold: no mlpcore twin)

Step and Sign have no torch.nn module: to_torch raises for them.

The output activation: a torch classifier ends at its logits (nn.CrossEntropyLoss and
nn.BCEWithLogitsLoss take logits), while an mlpcore network's loss applies softmax/sigmoid
itself. So from_torch expects the module that produces the logits (no final Softmax, and no
final Sigmoid with loss="binary_cross_entropy"), and to_torch returns that logits module;
to_torch(net, output_activation=True) appends nn.Softmax(dim=-1) / nn.Sigmoid() so that the
module's output equals net.predict. torch_loss(net) is the torch loss mlpcore minimises:

    softmax_cross_entropy   F.cross_entropy(logits, y)                    (mean over samples)
    binary_cross_entropy    F.binary_cross_entropy_with_logits(logits, y, reduction="sum") / n
    mse                     0.5 * F.mse_loss(out, y, reduction="sum") / n  (half squared error
                                                                             summed over outputs)
    poisson                 (exp(z) - y z + xlogy(y, y) - y).sum() / n; to_torch's
                            output_activation=True has no module for its exp output
    hinge                   clamp(1 - t z, min=0).mean(), t = where(y == 0, -1, y) (Keras'
    squared_hinge           hinge: mean over outputs and samples; squared: clamp(...) ** 2);
                            torch's hinge_embedding_loss is a different function. The output
                            is the margin z (output_activation=True adds nothing)
"""

import numpy as np

from . import _interop
from . import layers as _layers
from .sequential import Sequential

DTYPES = {"float32": "float32", "float64": "float64"}


def _import_torch():
    try:
        import torch
    except ImportError as exc:
        raise ImportError(
            "mlpcore's torch conversion needs PyTorch: pip install torch (on "
            "Linux, the CPU-only build: see the README's set-up)"
        ) from exc
    return torch


def _array(tensor):
    return tensor.detach().cpu().numpy().copy()


# ---- torch -> mlpcore: (module, index) -> (mlpcore layer, weights, state) ------------------
def _from_linear(m, i):
    W = _array(m.weight).T  # torch keeps (n_out, n_in)
    b = _array(m.bias) if m.bias is not None else np.zeros(m.out_features, W.dtype)
    return _layers.Dense(m.in_features, m.out_features), [W, b], []


def _from_batchnorm1d(m, i):
    if not (m.affine and m.track_running_stats) or m.momentum is None:
        raise ValueError(
            f"module[{i}] ({m}) is not convertible: mlpcore's BatchNorm needs "
            "affine=True, track_running_stats=True and a float momentum (got "
            f"affine={m.affine}, track_running_stats={m.track_running_stats}, "
            f"momentum={m.momentum})"
        )
    layer = _layers.BatchNorm(m.num_features, momentum=m.momentum, eps=m.eps)
    return (
        layer,
        [_array(m.weight), _array(m.bias)],
        [_array(m.running_mean), _array(m.running_var)],
    )


def _from_layernorm(m, i):
    shape = tuple(m.normalized_shape)
    if len(shape) != 1:
        raise ValueError(
            f"module[{i}] ({m}) is not convertible: mlpcore's LayerNorm normalises "
            f"the last dimension only, normalized_shape (n_features,); got {shape}"
        )
    n = shape[0]
    weight = _array(m.weight) if m.weight is not None else np.ones(n)
    bias = _array(m.bias) if getattr(m, "bias", None) is not None else np.zeros(n, weight.dtype)
    return _layers.LayerNorm(n, eps=m.eps), [weight, bias], []


def _from_softplus(m, i):
    if m.beta != 1 or m.threshold != 20:
        raise ValueError(
            f"module[{i}] ({m}) is not convertible: mlpcore's Softplus is "
            f"torch's default beta=1, threshold=20; got beta={m.beta}, "
            f"threshold={m.threshold}"
        )
    return _layers.Softplus(), [], []


def _from_gelu(m, i):
    if m.approximate != "none":
        raise ValueError(
            f"module[{i}] ({m}) is not convertible: mlpcore's GELU is the exact "
            f"(erf) form, approximate='none'; got approximate={m.approximate!r}"
        )
    return _layers.GELU(), [], []


def _plain(name):
    return lambda m, i: (getattr(_layers, name)(), [], [])


FROM_TORCH = {
    "Linear": _from_linear,
    "BatchNorm1d": _from_batchnorm1d,
    "Dropout": lambda m, i: (_layers.Dropout(m.p), [], []),
    "Identity": _plain("Identity"),
    "ReLU": _plain("ReLU"),
    "Sigmoid": _plain("Sigmoid"),
    "Tanh": _plain("Tanh"),
    "LeakyReLU": lambda m, i: (_layers.LeakyReLU(negative_slope=m.negative_slope), [], []),
    "GELU": _from_gelu,
    "LayerNorm": _from_layernorm,
    "SiLU": _plain("SiLU"),
    "ELU": lambda m, i: (_layers.ELU(alpha=m.alpha), [], []),
    "Softplus": _from_softplus,
}

# what a module ending in these means, and what to pass instead
_OUTPUT_HINTS = {
    "Softmax": "end the module at the logits: loss='softmax_cross_entropy' applies the softmax",
    "LogSoftmax": "end the module at the logits: loss='softmax_cross_entropy' applies the softmax",
}


def _modules(module, torch):
    """The leaf modules of a (possibly nested) nn.Sequential, in order."""
    if not isinstance(module, torch.nn.Sequential):
        raise ValueError(f"module must be a torch.nn.Sequential, got {type(module).__name__}")
    out = []
    for child in module:
        out += _modules(child, torch) if isinstance(child, torch.nn.Sequential) else [child]
    return out


def from_torch(module, loss, dtype=None, seed=None, backend="native"):
    """An mlpcore.Sequential with the layers, parameters and batch-norm statistics of a
    torch.nn.Sequential (see the module doc for the kinds and the output activation).

    Parameters
    ----------
    module : torch.nn.Sequential
        Of the layer kinds the module doc lists, ending with the last layer before the
        output activation.
    loss : str
        The mlpcore loss ("softmax_cross_entropy", "binary_cross_entropy", "mse", "poisson",
        "hinge", "squared_hinge"); the module must produce that loss's logits (values for
        "mse", margins for the hinge losses).
    dtype : {"float32", "float64"} or None
        None: the dtype of the module's parameters.
    seed, backend
        As for Sequential (the seed then keys shuffling and dropout masks).

    Returns
    -------
    Sequential

    Notes
    -----
    In evaluation mode (module.eval()), net.predict(X) equals the module's output with the
    loss's output activation applied.
    """
    torch = _import_torch()
    mods = _modules(module, torch)
    if not mods:
        raise ValueError("module is an empty nn.Sequential")
    last = type(mods[-1]).__name__
    if last in _OUTPUT_HINTS:
        raise ValueError(f"module[{len(mods) - 1}] is {mods[-1]}: {_OUTPUT_HINTS[last]}")
    if last == "Sigmoid" and loss == "binary_cross_entropy":
        raise ValueError(
            f"module[{len(mods) - 1}] is Sigmoid() and loss='binary_cross_entropy' "
            "applies a sigmoid itself: pass the module without its final Sigmoid"
        )
    layers, weights, state = [], [], []
    for i, m in enumerate(mods):
        convert = FROM_TORCH.get(type(m).__name__)
        if convert is None:
            raise ValueError(
                f"module[{i}] ({m}) is not supported by from_torch: no converter "
                f"for {type(m).__name__}; supported: {', '.join(sorted(FROM_TORCH))}"
            )
        layer, w, s = convert(m, i)
        layers.append(layer)
        weights += w
        state += s
    if dtype is None:
        params = list(module.parameters())
        dtype = str(params[0].dtype).replace("torch.", "") if params else "float64"
        if dtype not in DTYPES:
            raise ValueError(
                f"the module's parameters are {dtype}; pass dtype='float32' or "
                "'float64' to convert them"
            )
    net = Sequential(layers, loss=loss, dtype=dtype, seed=seed, backend=backend)
    net.set_weights(weights)
    net.set_state(state)
    return net


# ---- mlpcore -> torch: (nn, layer, arrays) -> module ----------------------------------------
def _to_linear(nn, layer, a):
    m = nn.Linear(*a["W"].shape)  # (n_in, n_out): a Dense(n_out) has no n_in of its own
    m.weight.data = _tensor(a["W"].T)
    m.bias.data = _tensor(a["b"])
    return m


def _to_batchnorm(nn, layer, a):
    m = nn.BatchNorm1d(layer.n_in, eps=layer.eps, momentum=layer.momentum)
    m.weight.data, m.bias.data = _tensor(a["gamma"]), _tensor(a["beta"])
    m.running_mean.data, m.running_var.data = _tensor(a["running_mean"]), _tensor(a["running_var"])
    return m


def _to_layernorm(nn, layer, a):
    m = nn.LayerNorm(layer.n_in, eps=layer.eps)
    m.weight.data, m.bias.data = _tensor(a["gamma"]), _tensor(a["beta"])
    return m


def _tensor(array):
    import torch

    return torch.from_numpy(np.ascontiguousarray(array).copy())


def _no_torch_twin(nn, layer, a):
    raise ValueError(
        "no torch.nn module computes it (its derivative is zero almost "
        "everywhere, so torch.nn has no such layer); to_torch cannot convert it"
    )


TO_TORCH = {
    "Dense": _to_linear,
    "BatchNorm": _to_batchnorm,
    "Dropout": lambda nn, layer, a: nn.Dropout(layer.p),
    "Identity": lambda nn, layer, a: nn.Identity(),
    "ReLU": lambda nn, layer, a: nn.ReLU(),
    "Sigmoid": lambda nn, layer, a: nn.Sigmoid(),
    "Tanh": lambda nn, layer, a: nn.Tanh(),
    "LeakyReLU": lambda nn, layer, a: nn.LeakyReLU(layer.negative_slope),
    "GELU": lambda nn, layer, a: nn.GELU(),
    "LayerNorm": _to_layernorm,
    "SiLU": lambda nn, layer, a: nn.SiLU(),
    "ELU": lambda nn, layer, a: nn.ELU(layer.alpha),
    "Softplus": lambda nn, layer, a: nn.Softplus(),
    "Step": _no_torch_twin,
    "Sign": _no_torch_twin,
}

# the loss's output activation as a module (None: mse has none)
OUTPUT_MODULES = {
    "softmax_cross_entropy": lambda nn: nn.Softmax(dim=-1),
    "binary_cross_entropy": lambda nn: nn.Sigmoid(),
    "mse": lambda nn: None,
    "hinge": lambda nn: None,
    "squared_hinge": lambda nn: None,
}


def to_torch(net, output_activation=False):
    """A torch.nn.Sequential in evaluation mode, of the network's dtype, with its parameters
    and batch-norm statistics (call .train() to train it further).

    output_activation=False (the default) returns the logits module, the input torch's
    CrossEntropyLoss / BCEWithLogitsLoss expect; torch.softmax(m(x), -1) or
    torch.sigmoid(m(x)) then equals net.predict(x). output_activation=True appends
    nn.Softmax(dim=-1) / nn.Sigmoid() (nothing for mse and the hinge losses): m(x) equals
    net.predict(x).
    """
    torch = _import_torch()
    net = _interop.unwrap(net)
    convert = [
        _interop.lookup(TO_TORCH, layer, i, "converted to torch")
        for i, layer in enumerate(net.layers)
    ]
    modules = []
    for i, (c, (layer, arrays)) in enumerate(zip(convert, _interop.layer_arrays(net))):
        try:
            modules.append(c(torch.nn, layer, arrays))
        except ValueError as exc:
            raise ValueError(f"layers[{i}] ({layer!r}): {exc}") from None
    if output_activation:
        if net.loss_name not in OUTPUT_MODULES:
            raise ValueError(
                f"torch.nn has no module for the output activation of the loss "
                f"{net.loss_name!r}: use output_activation=False and apply it to "
                "the output (torch.exp for poisson)"
            )
        out = OUTPUT_MODULES[net.loss_name](torch.nn)
        modules += [out] if out is not None else []
    dtype = getattr(torch, net.dtype.name)
    return torch.nn.Sequential(*modules).to(dtype).eval()


def _bce_with_logits(F, z, y):
    return F.binary_cross_entropy_with_logits(z, y, reduction="sum") / z.shape[0]


def _poisson(F, z, y):
    import torch

    return (torch.exp(z) - y * z + torch.special.xlogy(y, y) - y).sum() / z.shape[0]


def _hinge_margins(z, y):
    import torch

    t = torch.where(y == 0, -torch.ones_like(y), y)
    return torch.clamp(1 - t * z, min=0)


LOSSES = {
    "softmax_cross_entropy": lambda F, z, y: F.cross_entropy(z, y),
    "binary_cross_entropy": _bce_with_logits,
    "mse": lambda F, z, y: 0.5 * F.mse_loss(z, y, reduction="sum") / z.shape[0],
    "poisson": _poisson,
    "hinge": lambda F, z, y: _hinge_margins(z, y).mean(),
    "squared_hinge": lambda F, z, y: (_hinge_margins(z, y) ** 2).mean(),
}


def torch_loss(net):
    """loss(logits, y): the torch loss equal to net.loss (y as class indices (n,) or
    probability rows for softmax_cross_entropy, (n, n_outputs) otherwise)."""
    import torch.nn.functional as F

    name = _interop.unwrap(net).loss_name
    if name not in LOSSES:
        raise ValueError(f"no torch form of the loss {name!r} here; known: {', '.join(LOSSES)}")
    f = LOSSES[name]
    return lambda z, y: f(F, z, y)
