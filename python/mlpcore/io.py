"""Saving and loading a Sequential: one .npz file, readable without pickle, holding the
model's record (_record.py): its JSON meta under "config" and its named arrays.

Format "mlpcore-sequential-1": "config" is JSON {"format", "layers": [{"class", "config"}],
"loss", "dtype", "seed", "backend", "input_dim", "epoch_", "step_", "opt_steps_",
"optimizer_", "history_"}; arrays weight_i, state_i, moment_m_i, moment_v_i.
Format "mlpcore-quantized-1": an int8 QuantizedSequential (quantization.py describes it).

Paths: save(net, "m") and load("m") both use "m.npz" (".npz" is appended when the name does
not end with it, as np.savez does). save is atomic and load validates the whole file before
it builds a model (_npz.py): a damaged, truncated, crafted or newer-format file raises
ModelFileError (a ValueError) with the reason; file-system errors stay OSError.
"""

from typing import Any, Optional

from . import _record
from ._npz import QUANTIZED_FORMAT, ModelFileError, model_path, read_archive
from .sequential import Sequential

__all__ = ["save", "load", "ModelFileError"]


def save(net: Any, path: Any) -> None:
    """Writes net (configuration, weights, state, optimizer moments, training counters) to
    path, atomically; ".npz" is appended when missing. path may also be a binary file object
    (written directly, without the atomic rename). A quantized model writes its own record.

    Examples
    --------
    >>> import numpy as np
    >>> import mlpcore as mc
    >>> net = mc.Sequential([mc.Dense(3, 2)], loss="mse", seed=0)
    >>> mc.save(net, "model.npz")
    >>> same = mc.load("model.npz")
    >>> X = np.ones((2, 3))
    >>> bool(np.array_equal(same.predict(X), net.predict(X)))
    True
    """
    if getattr(net, "_quantized_record", False):
        from . import quantization

        quantization.write(net, path)
    else:
        _record.write(net, path)


def load(path: Any, backend: Optional[str] = None) -> Any:
    """Reads a model written by save() (".npz" is appended when missing; path may also be a
    binary file object); backend overrides the saved one. ModelFileError (a ValueError) for
    any damaged, crafted or newer-format file, OSError for I/O errors."""
    if not hasattr(path, "read"):
        path = model_path(path)
    where = getattr(path, "name", path)

    def expect(config):  # the members the config implies, checked before any is read
        if config.get("format") == QUANTIZED_FORMAT:
            return None  # its arrays are checked against its ops (quantization.read)
        return _record.expecting(where, backend)(config)

    archive = read_archive(path, expect)
    if archive[0].get("format") == QUANTIZED_FORMAT:
        from . import quantization

        return quantization.read(archive, getattr(path, "name", path), backend)
    return Sequential._from_record(_record.read(path, backend, archive=archive))
