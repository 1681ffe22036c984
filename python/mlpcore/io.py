"""Saving and loading a Sequential: one .npz file, readable without pickle, holding the
model's record (_record.py): its JSON meta under "config" and its named arrays.

Format "mlpcore-sequential-1": "config" is JSON {"format", "layers": [{"class", "config"}],
"loss", "dtype", "seed", "backend", "epoch_", "step_", "opt_steps_", "optimizer_",
"history_"}; arrays weight_i, state_i, moment_m_i, moment_v_i, exactly those the config
implies, each in the model's dtype.

Paths: save(net, "m") and load("m") both use "m.npz" (".npz" is appended when the name does
not end with it, as np.savez does). save is atomic and load validates the whole file before
it builds a model (_npz.py): a damaged, truncated, crafted or newer-format file raises
ModelFileError (a ValueError) with the reason; file-system errors stay OSError. The config is
read first: the archive must hold exactly the members it implies, with their shapes and
dtype, checked before any member's data is decompressed (a file cannot make load inflate
more than its config describes, and that is checked against the available memory).
"""
import json

import numpy as np

from . import _record
from ._npz import FORMAT, ModelFileError, model_path, read_archive, write_atomic

__all__ = ["save", "load", "ModelFileError"]


def save(net, path):
    """Writes net (configuration, weights, state, optimizer moments, training counters) to
    path, atomically; ".npz" is appended when missing. path may also be a binary file object
    (written directly, without the atomic rename)."""
    meta, arrays = _record.capture(net)
    config = np.array(json.dumps({"format": FORMAT, **meta}))

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
    where = getattr(path, "name", path)

    def invalid(exc):
        return ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}")

    def expect(config):
        try:
            return _record.expected_arrays({k: v for k, v in config.items() if k != "format"})
        except (ValueError, TypeError, OverflowError) as exc:
            raise invalid(exc) from None
    meta, arrays = read_archive(path, expect)
    meta.pop("format")
    try:
        return _record.restore(meta, arrays, backend)
    except (ValueError, TypeError, OverflowError) as exc:
        if backend is not None and "backend" in str(exc):
            raise
        raise invalid(exc) from None
