"""A whole Sequential as (meta, arrays), the one serialisation path of mlpcore.save/load and
of pickling.

    meta:   JSON-able: Sequential.get_config() plus the training counters COUNTERS; history_
            is fit's whole record, a dict of lists of numbers (None where an epoch lacks an
            entry, e.g. val_loss of a fit without validation)
    arrays: {"weight_i", "state_i", "moment_m_i", "moment_v_i": ndarray}, i = 0, 1, ...
            shaped like get_weights(), get_state() and get_optimizer_state()

capture() reads a model; restore() checks a record (config, counters, every array's name,
shape and values) and returns it as plain data, a Record, from which Sequential builds itself
(Sequential._from_record), so a bad record raises ValueError and builds nothing. write() and
read() are the file side of mlpcore.save/load (the archive itself: _npz.py).

The configuration's checks live here too (check_config, parse_config, check_moments): the
constructor, from_config and restore() share them.
"""

import copy
import json
import numbers
from typing import Any, Dict, List, NamedTuple, Optional

import numpy as np

from . import _checks, _memory
from ._layout import Layout
from ._npz import FORMAT, ModelFileError, model_path, read_archive, write_atomic
from .layers import deserialize

BACKENDS = ("native", "numpy")
CONFIG_KEYS = ("layers", "loss", "dtype", "seed", "backend", "input_dim")
COUNTERS = ("epoch_", "step_", "opt_steps_", "optimizer_", "history_")


class Record(NamedTuple):
    """A checked record: the constructor arguments, then the arrays and counters to load."""

    layers: List[Any]
    kwargs: Dict[str, Any]  # loss, dtype, seed, backend, input_dim
    weights: List[np.ndarray]  # as get_weights()
    state: List[np.ndarray]  # as get_state()
    moments: List[List[np.ndarray]]  # [m, v] as get_optimizer_state()
    counters: Dict[str, Any]  # epoch_, step_, opt_steps_, optimizer_, history_


# ---- the configuration -------------------------------------------------------------------
def check_config(layers, loss, dtype, seed, backend, input_dim=None):
    """The checked constructor arguments (layers as a Layout, which holds input_dim; loss as
    its canonical name); builds nothing."""
    layout = Layout(layers, input_dim)
    loss = layout.check_loss(_checks.check_loss(loss, layout.n_out))
    return (
        layout,
        loss,
        _checks.check_dtype(dtype),
        _checks.check_seed(seed),
        _checks.check_choice("backend", backend, BACKENDS),
    )


def parse_config(config):
    """(layers, kwargs) from a get_config() dict; ValueError for anything else."""
    if not isinstance(config, dict) or set(config) != set(CONFIG_KEYS):
        raise ValueError(
            f"a Sequential config must be a dict with the keys "
            f"{', '.join(CONFIG_KEYS)}, got {config!r}"
        )
    if not isinstance(config["layers"], (list, tuple)):
        raise ValueError(f"config['layers'] must be a list, got {config['layers']!r}")
    layers = [deserialize(d) for d in config["layers"]]
    return layers, {k: config[k] for k in CONFIG_KEYS[1:]}


def check_moments(moments, shapes, dtype):
    """[m, v] as get_optimizer_state() returns them, checked: v >= 0."""
    if not isinstance(moments, (list, tuple)) or len(moments) != 2:
        raise ValueError("moments must be a pair [m, v] of weight-shaped lists")
    m = _checks.check_array_list("moments[0]", moments[0], shapes, dtype)
    v = _checks.check_array_list("moments[1]", moments[1], shapes, dtype)
    if any((a < 0).any() for a in v):
        raise ValueError("moments[1] holds second moments (Adam's v) and must be >= 0")
    return m, v


# ---- capture and restore -----------------------------------------------------------------
def _named(prefix, arrays):
    return {f"{prefix}_{i}": a for i, a in enumerate(arrays)}


def capture(net):
    """(meta, arrays) of the model: copies, safe to keep while the model trains on."""
    with net._snapshot_lock:  # one state: not mid-epoch, nor between an epoch and its record
        meta = {**net.get_config(), **{k: copy.deepcopy(getattr(net, k)) for k in COUNTERS}}
        m, v = net.get_optimizer_state()
        arrays = {
            **_named("weight", net.get_weights()),
            **_named("state", net.get_state()),
            **_named("moment_m", m),
            **_named("moment_v", v),
        }
    return meta, arrays


def _check_history(h):
    if (
        not isinstance(h, dict)
        or "loss" not in h
        or not all(
            isinstance(k, str)
            and isinstance(v, list)
            and all(
                x is None or (isinstance(x, numbers.Real) and not isinstance(x, bool)) for x in v
            )
            for k, v in h.items()
        )
    ):
        raise ValueError(
            f"history_ must be a dict of lists of numbers (None where an epoch "
            f"lacks the entry) with a 'loss' entry, got {h!r}"
        )
    if any(x is not None and not float(x).is_integer() for x in h.get("epoch", [])):
        raise ValueError(f"history_['epoch'] must hold whole epoch numbers, got {h['epoch']!r}")
    # epoch numbers are integers (files written before held them as floats: 3.0)
    return {
        k: [None if x is None else int(x) if k == "epoch" else float(x) for x in v]
        for k, v in h.items()
    }


def _arrays(arrays, prefix, n):
    return [arrays[f"{prefix}_{i}"] for i in range(n)]


def _expected_shapes(layout):
    """{name: shape} of every array of a record of this layout."""
    n_params, n_state = len(layout.param_shapes), len(layout.state_shapes)
    out = {f"weight_{i}": s for i, s in enumerate(layout.param_shapes)}
    out.update({f"state_{i}": s for i, s in enumerate(layout.state_shapes)})
    for prefix in ("moment_m", "moment_v"):
        out.update({f"{prefix}_{i}": s for i, s in enumerate(layout.param_shapes)})
    assert len(out) == 3 * n_params + n_state
    return out


def expected_arrays(meta):
    """{name: (shape, dtype)}: the arrays a record with this meta holds, from its config
    alone (ValueError for a config restore would refuse). read() checks a file's members
    against it, and the memory they take against what the machine has, before reading any."""
    if not isinstance(meta, dict):
        raise ValueError(f"the model description must be a dict, got {type(meta).__name__}")
    missing = [k for k in COUNTERS if k not in meta]
    if missing:
        raise ValueError(f"the model description lacks {', '.join(missing)}")
    layers, kwargs = parse_config({k: v for k, v in meta.items() if k not in COUNTERS})
    layout, _, dtype, _, _ = check_config(layers, **kwargs)
    shapes = _expected_shapes(layout)
    n_bytes = sum(_memory._prod(s) for s in shapes.values()) * dtype.itemsize
    _memory.require(
        n_bytes,
        f"the {len(shapes)} arrays of the model file "
        f"(largest layer: {_memory.describe_largest(layout)})",
    )
    return {name: (tuple(s), dtype) for name, s in shapes.items()}


def restore(meta, arrays, backend=None):
    """The Record capture() described, every part checked; backend overrides the recorded
    one. Builds no model."""
    if not isinstance(meta, dict):
        raise ValueError(f"the model description must be a dict, got {type(meta).__name__}")
    missing = [k for k in COUNTERS if k not in meta]
    if missing:
        raise ValueError(f"the model description lacks {', '.join(missing)}")
    layers, kwargs = parse_config({k: v for k, v in meta.items() if k not in COUNTERS})
    if backend is not None:
        kwargs["backend"] = backend
    layout, _, dtype, _, _ = check_config(layers, **kwargs)
    # at most 2**62: training on from a loaded model adds to them (the engine counts in 64 bits)
    counters = {
        k: _checks.check_nonnegative_int(f"saved {k}", meta[k], maximum=1 << 62)
        for k in ("epoch_", "step_", "opt_steps_")
    }
    counters["optimizer_"] = _checks.check_optimizer_dict("saved optimizer_", meta["optimizer_"])
    counters["history_"] = _check_history(meta["history_"])

    if not isinstance(arrays, dict):
        raise ValueError(f"the model's arrays must be a dict, got {type(arrays).__name__}")
    n_params, n_state = len(layout.param_shapes), len(layout.state_shapes)
    expected = _expected_shapes(layout)
    if set(arrays) != set(expected):
        raise ValueError(f"the model's arrays must be {sorted(expected)}, got {sorted(arrays)}")
    weights = _checks.check_array_list(
        "saved weights", _arrays(arrays, "weight", n_params), layout.param_shapes, dtype
    )
    state = layout.check_state(_arrays(arrays, "state", n_state), dtype)
    m, v = check_moments(
        [_arrays(arrays, "moment_m", n_params), _arrays(arrays, "moment_v", n_params)],
        layout.param_shapes,
        dtype,
    )
    return Record(layers, kwargs, weights, state, [m, v], counters)


def restore_pickled(d):
    """The Record of a pickle's state {"meta", "arrays"} (Sequential.__getstate__)."""
    if not isinstance(d, dict) or set(d) != {"meta", "arrays"}:
        raise ValueError("not the pickled state of an mlpcore Sequential")
    return restore(d["meta"], d["arrays"])


# ---- files: mlpcore.save / mlpcore.load --------------------------------------------------
def write(net, path):
    """Writes net's record to path (atomically; ".npz" appended when missing), or to a binary
    file object directly."""
    meta, arrays = capture(net)
    config = np.array(json.dumps({"format": FORMAT, **meta}))

    def write_to(f):
        np.savez(f, config=config, **arrays)

    if hasattr(path, "write"):
        write_to(path)
    else:
        write_atomic(model_path(path), write_to)


def expecting(where, backend=None):
    """read_archive's expect for a file of this format: the members its config implies
    (expected_arrays), or ModelFileError naming the file for a config restore would refuse."""

    def expect(config):
        try:
            return expected_arrays({k: v for k, v in config.items() if k != "format"})
        except (ValueError, TypeError, OverflowError) as exc:
            if backend is not None and "backend" in str(exc):
                raise
            raise ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}") from None

    return expect


def read(path, backend: Optional[str] = None, archive=None):
    """The checked Record of a file written by write(); ModelFileError for any damaged,
    crafted or newer-format file, OSError for I/O errors. archive: the file's
    read_archive(path, expecting(...)), when the caller has read it already."""
    if not hasattr(path, "read"):
        path = model_path(path)
    where = getattr(path, "name", path)
    meta, arrays = read_archive(path, expecting(where, backend)) if archive is None else archive
    meta.pop("format")
    try:
        return restore(meta, arrays, backend)
    except (ValueError, TypeError, OverflowError) as exc:
        if backend is not None and "backend" in str(exc):
            raise
        raise ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}") from None
