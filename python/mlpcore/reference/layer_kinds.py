"""The twin's kind table (twin of cpp/src/layer_kinds.cpp): per spec name, everything the
network needs to lay out and run one layer of that kind. network.py only iterates over it.

A layer spec is a tuple `(kind, n_in, n_out, *args)`, both widths always given::

    ("dense", I, O)                 ("batchnorm", F, F, momentum, eps)
    ("layernorm", F, F, eps)        ("dropout", F, F, p)
    ("leaky_relu", F, F, negative_slope)    ("elu", F, F, alpha)
    (activation, F, F) for identity, step, sign, sigmoid, tanh, relu, gelu, silu, softplus

An entry's functions::

    params(spec)  -> [(shape, weight_decay)]  the layer's slice of the flat parameters
    state(spec)   -> [(shape, initial)]       its slice of the flat state
    forward(spec, x, p, s, run) -> (y, cache): x is (B, n_in), y is (B, n_out); p and s are
        views of its parameters and state (updated in place when run.update_running);
        cache is what backward reads
    backward(spec, dy, cache, p, training) -> (dx, [gradient of each parameter])
"""

from typing import Callable, NamedTuple

from . import activations, layers


class Run(NamedTuple):
    """How a forward pass runs: the mode and the dropout key of this layer."""

    training: bool
    step: int
    seed: int
    layer: int
    update_running: bool


class Kind(NamedTuple):
    params: Callable
    state: Callable
    forward: Callable
    backward: Callable
    needs_batch_statistics: bool = False  # training batches need >= 2 samples


def _none(spec):
    return []


# ---- dense: z = x @ W + b, cache x ------------------------------------------------------
def _dense_forward(spec, x, p, s, run):
    return layers.dense_forward(x, p[0], p[1]), x


def _dense_backward(spec, dy, x, p, training):
    dx, dw, db = layers.dense_backward(dy, x, p[0])
    return dx, [dw, db]


# ---- batch norm: spec[3:] = (momentum, eps), cache (xhat, inv_std) -------------------------
def _batchnorm_forward(spec, x, p, s, run):
    y, cache, s[0][...], s[1][...] = layers.batchnorm_forward(
        x, p[0], p[1], s[0], s[1], run.training, spec[3], spec[4], run.update_running
    )
    return y, cache


def _batchnorm_backward(spec, dy, cache, p, training):
    dx, dgamma, dbeta = layers.batchnorm_backward(dy, cache, p[0], training)
    return dx, [dgamma, dbeta]


# ---- layer norm: spec[3] = eps, cache (xhat, inv_std) -------------------------------------
def _layernorm_forward(spec, x, p, s, run):
    return layers.layernorm_forward(x, p[0], p[1], spec[3])


def _layernorm_backward(spec, dy, cache, p, training):
    dx, dgamma, dbeta = layers.layernorm_backward(dy, cache, p[0])
    return dx, [dgamma, dbeta]


# ---- dropout: spec[3] = p, cache the mask (None when it is the identity) ----------------------
def _dropout_forward(spec, x, p, s, run):
    return layers.dropout_forward(x, spec[3], run.seed, run.step, run.layer, run.training)


def _dropout_backward(spec, dy, mask, p, training):
    return layers.dropout_backward(dy, mask), []


# ---- activations: spec[3:] = (param,) or (), cache (z, h) ----------------------------------
def _activation_forward(spec, z, p, s, run):
    h = activations.activation_forward(spec[0], z, *spec[3:])
    return h, (z, h)


def _activation_backward(spec, dh, cache, p, training):
    return activations.activation_backward(spec[0], dh, *cache, *spec[3:]), []


KINDS = {
    "dense": Kind(
        params=lambda spec: [((spec[1], spec[2]), True), ((spec[2],), False)],
        state=_none,
        forward=_dense_forward,
        backward=_dense_backward,
    ),
    "batchnorm": Kind(
        params=lambda spec: [((spec[1],), False), ((spec[1],), False)],
        state=lambda spec: [((spec[1],), 0.0), ((spec[1],), 1.0)],
        forward=_batchnorm_forward,
        backward=_batchnorm_backward,
        needs_batch_statistics=True,
    ),
    "layernorm": Kind(
        params=lambda spec: [((spec[1],), False), ((spec[1],), False)],
        state=_none,
        forward=_layernorm_forward,
        backward=_layernorm_backward,
    ),
    "dropout": Kind(
        params=_none, state=_none, forward=_dropout_forward, backward=_dropout_backward
    ),
    **{
        name: Kind(
            params=_none, state=_none, forward=_activation_forward, backward=_activation_backward
        )
        for name in activations.NAMES
    },
}
NAMES = tuple(KINDS)


def kind(spec):
    """The table entry of a spec; ValueError listing the known kinds for an unknown one."""
    if spec[0] not in KINDS:
        raise ValueError(f"unknown layer kind {spec[0]!r}; known kinds: {', '.join(NAMES)}")
    return KINDS[spec[0]]
