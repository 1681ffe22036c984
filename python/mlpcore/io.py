"""Saving and loading a Sequential: one .npz file, readable without pickle, holding the
model's record (see _record.py): its JSON meta under "config" and its named arrays.

Format "mlpcore-sequential-1": "config" is JSON {"format", "layers": [{"class", "config"}],
"loss", "dtype", "seed", "backend", "epoch_", "step_", "opt_steps_", "optimizer_",
"history_"}; arrays weight_i, state_i, moment_m_i, moment_v_i. Files written before the
optimizers existed lack the moments, opt_steps_ and optimizer_; older writers stored the
seed as a decimal string.
"""
import json

import numpy as np

from . import _record

_FORMAT = "mlpcore-sequential-1"


def save(net, path):
    """Writes net (configuration, weights, state, optimizer moments, training counters) to
    path (.npz)."""
    meta, arrays = _record.capture(net)
    np.savez(path, config=np.array(json.dumps({"format": _FORMAT, **meta})), **arrays)


def load(path, backend=None):
    """Reads a model written by save(); backend overrides the saved one."""
    with np.load(path, allow_pickle=False) as f:
        meta = json.loads(str(f["config"])) if "config" in f.files else None
        if not isinstance(meta, dict) or meta.pop("format", None) != _FORMAT:
            raise ValueError(f"{path!r} is not an mlpcore model file")
        arrays = {k: f[k] for k in f.files if k != "config"}
    if isinstance(meta.get("seed"), str) and meta["seed"].isdigit():
        meta["seed"] = int(meta["seed"])
    return _record.restore(meta, arrays, backend)
