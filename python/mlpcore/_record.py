"""A whole Sequential as (meta, arrays), the one serialisation path of mlpcore.save/load and
of pickling.

    meta:   JSON-able: Sequential.get_config() plus the training counters COUNTERS; history_
            is fit's whole record, a dict of equally long lists of numbers (None where an
            epoch lacks an entry, e.g. val_loss of a fit without validation)
    arrays: {"weight_i", "state_i", "moment_m_i", "moment_v_i": ndarray}, i = 0, 1, ...
            shaped like get_weights(), get_state() and get_optimizer_state()

restore() checks everything (config, counters, every array's name, shape and values)
before it builds the model, so a bad record raises ValueError and builds nothing.
"""
import copy
import numbers

from . import _checks, _memory

COUNTERS = ("epoch_", "step_", "opt_steps_", "optimizer_", "history_")
_ARRAY_LISTS = ("weight", "state", "moment_m", "moment_v")


def _named(prefix, arrays):
    return {f"{prefix}_{i}": a for i, a in enumerate(arrays)}


def capture(net):
    """(meta, arrays) of the model: copies, safe to keep while the model trains on."""
    meta = {**net.get_config(), **{k: copy.deepcopy(getattr(net, k)) for k in COUNTERS}}
    m, v = net.get_optimizer_state()
    arrays = {**_named("weight", net.get_weights()), **_named("state", net.get_state()),
              **_named("moment_m", m), **_named("moment_v", v)}
    return meta, arrays


def _check_history(h):
    if (not isinstance(h, dict) or "loss" not in h
            or not all(isinstance(k, str) and isinstance(v, list)
                       and all(x is None or (isinstance(x, numbers.Real)
                                             and not isinstance(x, bool)) for x in v)
                       for k, v in h.items())):
        raise ValueError(f"history_ must be a dict of lists of numbers (None where an epoch "
                         f"lacks the entry) with a 'loss' entry, got {h!r}")
    return {k: [None if x is None else float(x) for x in v] for k, v in h.items()}


def _arrays(arrays, prefix, n):
    return [arrays[f"{prefix}_{i}"] for i in range(n)]


def _parse(meta, backend=None):
    """(layers, kwargs, layout, dtype) of a record's meta, checked; builds nothing."""
    from .sequential import check_config, parse_config
    if not isinstance(meta, dict):
        raise ValueError(f"the model description must be a dict, got {type(meta).__name__}")
    missing = [k for k in COUNTERS if k not in meta]
    if missing:
        raise ValueError(f"the model description lacks {', '.join(missing)}")
    layers, kwargs = parse_config({k: v for k, v in meta.items() if k not in COUNTERS})
    if backend is not None:
        kwargs["backend"] = backend
    layout, _, dtype, _, _ = check_config(layers, **kwargs)
    return layers, kwargs, layout, dtype


def _expected_shapes(layout):
    n_params, n_state = len(layout.param_shapes), len(layout.state_shapes)
    out = {f"weight_{i}": s for i, s in enumerate(layout.param_shapes)}
    out.update({f"state_{i}": s for i, s in enumerate(layout.state_shapes)})
    for prefix in ("moment_m", "moment_v"):
        out.update({f"{prefix}_{i}": s for i, s in enumerate(layout.param_shapes)})
    assert len(out) == 3 * n_params + n_state
    return out


def expected_arrays(meta):
    """{name: (shape, dtype)}: the arrays a record with this meta holds, from its config
    alone (ValueError for a meta that restore would refuse before looking at arrays). A
    reader checks a file's members against it before reading any of them, and the memory
    they take against what the machine has."""
    _, _, layout, dtype = _parse(meta)
    shapes = _expected_shapes(layout)
    n_bytes = sum(_memory._prod(s) for s in shapes.values()) * dtype.itemsize
    _memory.require(n_bytes, f"the {len(shapes)} arrays of the model file "
                             f"(largest layer: {_memory.describe_largest(layout)})")
    return {name: (tuple(s), dtype) for name, s in shapes.items()}


def restore(meta, arrays, backend=None):
    """The Sequential that capture() described; backend overrides the recorded one."""
    from .sequential import Sequential, check_moments
    layers, kwargs, layout, dtype = _parse(meta, backend)
    counters = {k: _checks.check_nonnegative_int(f"saved {k}", meta[k])
                for k in ("epoch_", "step_", "opt_steps_")}
    counters["optimizer_"] = _checks.check_optimizer_dict("saved optimizer_", meta["optimizer_"])
    counters["history_"] = _check_history(meta["history_"])

    if not isinstance(arrays, dict):
        raise ValueError(f"the model's arrays must be a dict, got {type(arrays).__name__}")
    n_params, n_state = len(layout.param_shapes), len(layout.state_shapes)
    expected = _expected_shapes(layout)
    if set(arrays) != set(expected):
        raise ValueError(f"the model's arrays must be {sorted(expected)}, got {sorted(arrays)}")
    weights = _checks.check_array_list("saved weights", _arrays(arrays, "weight", n_params),
                                       layout.param_shapes, dtype)
    state = layout.check_state(_arrays(arrays, "state", n_state), dtype)
    moments = check_moments([_arrays(arrays, "moment_m", n_params),
                             _arrays(arrays, "moment_v", n_params)], layout.param_shapes, dtype)

    net = Sequential(layers, **kwargs)
    net.set_weights(weights)
    net.set_state(state)
    net.set_optimizer_state(list(moments), counters["optimizer_"], counters["opt_steps_"])
    net.epoch_, net.step_, net.history_ = (counters["epoch_"], counters["step_"],
                                           counters["history_"])
    return net


def restore_pickled(d):
    """The model of a pickle's state: {"meta", "arrays"}."""
    if not isinstance(d, dict) or set(d) != {"meta", "arrays"}:
        raise ValueError("not the pickled state of an mlpcore Sequential")
    return restore(d["meta"], d["arrays"])
