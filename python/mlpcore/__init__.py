"""mlpcore: fast multilayer perceptrons on a C++/OpenBLAS core, with a pure-NumPy twin
(mlpcore.reference) that specifies and cross-checks every computation."""
from .layers import (BatchNorm, Dense, Dropout, Identity, Layer, ReLU, Sigmoid, Sign, Step,
                     Tanh)
from .sequential import Sequential
from .io import ModelFileError, load, save

__version__ = "0.1.0"

__all__ = ["Sequential", "Layer", "Dense", "Identity", "Step", "Sign", "Sigmoid", "Tanh",
           "ReLU", "BatchNorm", "Dropout", "save", "load",
           "ModelFileError"]
