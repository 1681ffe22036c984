"""The interface both engines implement: the C++ Network32/Network64 (mlpcore._core) and the
NumPy twin's reference.network.Network. Sequential talks to its engine through these
methods only.

An engine is built from (specs, loss, seed) (the twin also takes the dtype): specs are the
layer tuples (kind, n_in, n_out, *args) of reference/layer_kinds.py. Buffers are flat vectors
of the engine's dtype, copied in and out: parameters [W1, b1, ..., gamma, beta, ...], state
[running_mean, running_var] per batch-norm layer, optimizer moments [m..., v...]. Engines
trust their caller: Sequential checks every argument first (mlpcore._checks), the C++
engine keeps cheap invariant checks that raise ValueError.
"""
from typing import Any, Dict, Optional, Protocol, Tuple, runtime_checkable

import numpy as np


@runtime_checkable
class Engine(Protocol):
    @property
    def n_inputs(self) -> int: ...

    @property
    def n_outputs(self) -> int: ...

    def get_params(self) -> np.ndarray: ...

    def set_params(self, flat: np.ndarray) -> None: ...

    def get_state(self) -> np.ndarray: ...

    def set_state(self, flat: np.ndarray) -> None: ...

    def get_optimizer_state(self) -> np.ndarray: ...

    def set_optimizer_state(self, flat: np.ndarray) -> None: ...

    def predict(self, X: np.ndarray, training: bool, step: int) -> np.ndarray:
        """Output activations (B, n_outputs); updates nothing."""

    def loss(self, X: np.ndarray, Y: np.ndarray, training: bool, step: int,
             sample_weight: Optional[np.ndarray] = None) -> float:
        """Mean (or sample_weight-weighted mean) loss over the rows; updates nothing."""

    def gradients(self, X: np.ndarray, Y: np.ndarray, training: bool, step: int,
                  sample_weight: Optional[np.ndarray] = None) -> Tuple[float, np.ndarray]:
        """(mean loss, flat gradient shaped like get_params()); updates nothing."""

    def train_epoch(self, X: Any, Y: np.ndarray, batch_size: int, optimizer: dict,
                    opt_step: int, epoch: int, step: int, shuffle: bool,
                    **options: Any) -> Dict[str, Any]:
        """One epoch (reference/train.py): {"loss": sample-weighted mean batch loss, "steps":
        steps taken, "step_losses", "grad_norms"}. X is (n, n_in) or a CSR triple (data,
        indices int64, indptr int64). Keyword-only options: sample_weight, lrs (per-step
        learning rates), l2_alpha, clip_norm, clip_value, grad_norms, step_losses, progress
        (a Progress counter), check_interrupts (Ctrl-C between steps)."""
