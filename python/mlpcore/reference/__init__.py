"""The pure-NumPy twin of the C++ core: the executable specification of every computation.

Same names and argument order as the C++ functions (which fill caller-owned outputs where
these return them): activations, losses, layers (dense, batch norm, dropout), layer_kinds
(the per-kind table network.py iterates over), optim, rng, network, train.
Sequential(..., backend="numpy") runs on it.
"""

from . import activations, layer_kinds, layers, losses, network, optim, rng, train  # noqa: F401
