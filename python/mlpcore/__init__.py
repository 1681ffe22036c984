"""mlpcore: fast multilayer perceptrons on a C++/OpenBLAS core, with a pure-NumPy twin
(mlpcore.reference) that specifies and cross-checks every computation."""

# Interop: these modules import torch / onnx only when their functions run.
from . import (  # noqa: F401  (mc.callbacks.EarlyStopping, mc.schedules...)
    _threads,  # noqa: E402
    callbacks,
    onnx,
    schedules,
)
from ._denormals import get_flush_denormals, set_flush_denormals
from ._threads import get_num_threads, set_num_threads
from ._version import __version__  # noqa: F401  (mlpcore.__version__)
from .computation_graph import ComputationGraph, computation_graph
from .convert_sklearn import from_sklearn
from .convert_torch import from_torch, to_torch
from .gradient_check import GradientCheck, check_gradients
from .history import History
from .io import ModelFileError, load, save
from .layers import (
    ELU,
    GELU,
    BatchNorm,
    Dense,
    Dropout,
    Identity,
    Layer,
    LayerNorm,
    LeakyReLU,
    ReLU,
    Sigmoid,
    Sign,
    SiLU,
    Softplus,
    Step,
    Tanh,
)
from .optimizers import SGD, Adam, AdamW, RMSprop
from .quantization import QuantizedSequential, quantize
from .sequential import Sequential

_threads.register_with_threadpoolctl()  # threadpoolctl sees and limits the engine's threads

__all__ = [
    "Sequential",
    "Layer",
    "Dense",
    "Identity",
    "Step",
    "Sign",
    "Sigmoid",
    "Tanh",
    "ReLU",
    "LeakyReLU",
    "GELU",
    "SiLU",
    "ELU",
    "Softplus",
    "BatchNorm",
    "LayerNorm",
    "Dropout",
    "save",
    "load",
    "ModelFileError",
    "set_num_threads",
    "get_num_threads",
    "set_flush_denormals",
    "get_flush_denormals",
    "from_torch",
    "to_torch",
    "from_sklearn",
    "onnx",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "History",
    "callbacks",
    "schedules",
    "quantize",
    "QuantizedSequential",
    "check_gradients",
    "GradientCheck",
    "computation_graph",
    "ComputationGraph",
]


# ---- scikit-learn estimators, imported on first use -------------------------------------------
# `import mlpcore` never imports scikit-learn; `from mlpcore import MLPClassifier` does.
_LAZY_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def __getattr__(name):
    if name in _LAZY_ESTIMATORS:
        try:
            from . import estimators
        except ImportError as exc:
            raise ImportError(
                f"mlpcore.{name} needs scikit-learn: pip install scikit-learn "
                '(in a clone of mlpcore: pip install ".[sklearn]")'
            ) from exc
        return getattr(estimators, name)
    raise AttributeError(f"module 'mlpcore' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + list(_LAZY_ESTIMATORS))
