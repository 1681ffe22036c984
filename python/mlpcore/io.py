"""Saving and loading a Sequential: one .npz file, readable without pickle, holding the
model's record (_record.py): its JSON meta under "config" and its named arrays.

Format "mlpcore-sequential-1": "config" is JSON {"format", "layers": [{"class", "config"}],
"loss", "dtype", "seed", "backend", "epoch_", "step_", "opt_steps_", "optimizer_",
"history_"}; arrays weight_i, state_i, moment_m_i, moment_v_i. Files written before the
optimizers existed lack the moments, opt_steps_ and optimizer_; older writers stored the
seed as a decimal string.

Paths: save(net, "m") and load("m") both use "m.npz" (".npz" is appended when the name does
not end with it, as np.savez does). save is atomic and load validates the whole file before
it builds a model (_npz.py): a damaged, truncated, crafted or newer-format file raises
ModelFileError (a ValueError) with the reason; file-system errors stay OSError.
"""
import json

import numpy as np

from . import _record
from ._npz import FORMAT, QUANTIZED_FORMAT, ModelFileError, model_path, read_archive, write_atomic

__all__ = ["save", "load", "ModelFileError"]


def save(net, path):
    """Writes net (configuration, weights, state, optimizer moments, training counters) to
    path, atomically; ".npz" is appended when missing. path may also be a binary file object
    (written directly, without the atomic rename)."""
    if getattr(net, "_quantized_record", False):  # an int8 model: its own record and format
        meta, arrays = net._capture()
    else:
        meta, arrays = _record.capture(net)
        meta = {"format": FORMAT, **meta}
    config = np.array(json.dumps(meta))

    def write(f):
        np.savez(f, config=config, **arrays)
    if hasattr(path, "write"):
        write(path)
    else:
        write_atomic(model_path(path), write)


def load(path, backend=None):
    """Reads a model written by save() (".npz" is appended when missing; path may also be a
    binary file object); backend overrides the saved one. ModelFileError (a ValueError) for
    any damaged, crafted or newer-format file, OSError for I/O errors."""
    if not hasattr(path, "read"):
        path = model_path(path)
    meta, arrays = read_archive(path)
    where = getattr(path, "name", path)
    if meta.pop("format") == QUANTIZED_FORMAT:
        from .quantization import QuantizedSequential
        try:
            return QuantizedSequential._restore(meta, arrays,
                                                "native" if backend is None else backend)
        except (ValueError, TypeError, OverflowError) as exc:
            if backend is not None and "backend" in str(exc):
                raise
            raise ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}") from None
    seed = meta.get("seed")
    if isinstance(seed, str) and seed.isascii() and seed.isdigit() and len(seed) <= 20:
        meta["seed"] = int(seed)  # older writers stored the seed as text
    dtype = meta.get("dtype")
    for name, a in arrays.items():  # every array in the model's own dtype, as save writes it
        if dtype not in ("float32", "float64") or a.dtype != np.dtype(dtype):
            raise ModelFileError(f"{where!r} is not a valid mlpcore model: {name} holds "
                                 f"{a.dtype} values, the model's dtype is {dtype!r}")
    try:
        return _record.restore(meta, arrays, backend)
    except (ValueError, TypeError, OverflowError) as exc:
        if backend is not None and "backend" in str(exc):
            raise
        raise ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}") from None
