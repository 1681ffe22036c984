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

from dataclasses import dataclass, field
from typing import Any, Dict, Optional, Protocol, Sequence, Tuple, runtime_checkable

import numpy as np


@dataclass
class EpochOptions:
    """Everything one training epoch is run with apart from the data and the model's counters;
    built and checked once per fit (Sequential.fit, the estimators), then passed as it is.

    optimizer:     the optimizer's settings as Sequential.optimizer_ records them (name,
                   momentum, nesterov, beta1, beta2, eps, alpha): the moments restart from
                   zero when they change
    lr, lrs:       the rate of every step, or (lrs, one per step) each step's rate
    weight_decay:  L2 on the Dense weight matrices (adamw: decoupled)
    sklearn_eps:   Adam's eps added before the bias correction (scikit-learn's AdamOptimizer)
    order:         the epoch's sample order (n,) int64 (overrides shuffle)
    sample_weight: (n,) > 0 of the model's dtype, or None
    l2_alpha:      scikit-learn's alpha: l2_alpha / (the batch's weight sum) added to the decay
    clip_value, clip_norm: 0 for none
    grad_norms, step_losses: also return the per-layer gradient norms, every step's loss
    progress:      a Progress counter the engine updates, or None
    check_interrupts: poll for Ctrl-C between steps (the C++ engine)
    """

    batch_size: int
    optimizer: Dict[str, Any]
    lr: float = 0.01
    lrs: Optional[Sequence[float]] = None
    weight_decay: float = 0.0
    sklearn_eps: bool = False
    shuffle: bool = True
    order: Optional[np.ndarray] = None
    sample_weight: Optional[np.ndarray] = None
    l2_alpha: float = 0.0
    clip_norm: float = 0.0
    clip_value: float = 0.0
    grad_norms: bool = False
    step_losses: bool = False
    progress: Any = field(default=None, compare=False)
    check_interrupts: bool = False


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

    def loss(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        training: bool,
        step: int,
        sample_weight: Optional[np.ndarray] = None,
    ) -> float:
        """Mean (or sample_weight-weighted mean) loss over the rows; updates nothing."""

    def gradients(
        self,
        X: np.ndarray,
        Y: np.ndarray,
        training: bool,
        step: int,
        sample_weight: Optional[np.ndarray] = None,
    ) -> Tuple[float, np.ndarray]:
        """(mean loss, flat gradient shaped like get_params()); updates nothing."""

    def train_epoch(
        self, X: Any, Y: np.ndarray, options: EpochOptions, opt_step: int, epoch: int, step: int
    ) -> Dict[str, Any]:
        """One epoch (reference/train.py) with the settings of `options`, the optimizer's
        steps counting from opt_step + 1, the shuffle keyed by epoch, the dropout masks by
        step, step + 1, ...: {"loss": sample-weighted mean batch loss, "steps": steps taken,
        "step_losses", "grad_norms"}. X is (n, n_in) or a CSR triple (data, indices int64,
        indptr int64)."""
