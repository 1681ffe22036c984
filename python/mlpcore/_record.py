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

from . import _checks

COUNTERS = ("epoch_", "step_", "opt_steps_", "optimizer_", "history_")
# absent from records written before the optimizers existed: these defaults apply
_OPTIONAL = {"opt_steps_": 0, "optimizer_": None}
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


def restore(meta, arrays, backend=None):
    """The Sequential that capture() described; backend overrides the recorded one."""
    from .sequential import Sequential, check_config, check_moments, parse_config
    if not isinstance(meta, dict):
        raise ValueError(f"the model description must be a dict, got {type(meta).__name__}")
    missing = [k for k in COUNTERS if k not in meta and k not in _OPTIONAL]
    if missing:
        raise ValueError(f"the model description lacks {', '.join(missing)}")
    meta = {**_OPTIONAL, **meta}
    layers, kwargs = parse_config({k: v for k, v in meta.items() if k not in COUNTERS})
    if backend is not None:
        kwargs["backend"] = backend
    layout, _, dtype, _, _ = check_config(layers, **kwargs)
    counters = {k: _checks.check_nonnegative_int(f"saved {k}", meta[k])
                for k in ("epoch_", "step_", "opt_steps_")}
    counters["optimizer_"] = _checks.check_optimizer_dict("saved optimizer_", meta["optimizer_"])
    counters["history_"] = _check_history(meta["history_"])

    if not isinstance(arrays, dict):
        raise ValueError(f"the model's arrays must be a dict, got {type(arrays).__name__}")
    n_params, n_state = len(layout.param_shapes), len(layout.state_shapes)
    has_moments = n_params == 0 or "moment_m_0" in arrays
    expected = {**_named("weight", range(n_params)), **_named("state", range(n_state))}
    if has_moments:
        expected.update({**_named("moment_m", range(n_params)),
                         **_named("moment_v", range(n_params))})
    if set(arrays) != set(expected):
        raise ValueError(f"the model's arrays must be {sorted(expected)}, got {sorted(arrays)}")
    weights = _checks.check_array_list("saved weights", _arrays(arrays, "weight", n_params),
                                       layout.param_shapes, dtype)
    state = layout.check_state(_arrays(arrays, "state", n_state), dtype)
    moments = (check_moments([_arrays(arrays, "moment_m", n_params),
                              _arrays(arrays, "moment_v", n_params)], layout.param_shapes, dtype)
               if has_moments else None)

    net = Sequential(layers, **kwargs)
    net.set_weights(weights)
    net.set_state(state)
    if moments is not None:
        net.set_optimizer_state(list(moments), counters["optimizer_"], counters["opt_steps_"])
    net.epoch_, net.step_, net.history_ = (counters["epoch_"], counters["step_"],
                                           counters["history_"])
    return net


def restore_pickled(d):
    """The model of a pickle's state: {"meta", "arrays"}, or the field dict pickles of
    mlpcore 0.1 before this module held (layer objects, weight lists)."""
    if isinstance(d, dict) and set(d) == {"meta", "arrays"}:
        return restore(d["meta"], d["arrays"])
    if not isinstance(d, dict) or "layers" not in d or "weights" not in d:
        raise ValueError("not the pickled state of an mlpcore Sequential")
    from .layers import serialize
    meta = {"layers": [serialize(l) for l in d["layers"]],
            **{k: d[k] for k in ("loss", "dtype", "seed", "backend", "epoch_", "step_",
                                 "history_", "optimizer_", "opt_steps_") if k in d}}
    arrays = {**_named("weight", d["weights"]), **_named("state", d["state"])}
    if "optimizer_state" in d:
        arrays.update({**_named("moment_m", d["optimizer_state"][0]),
                       **_named("moment_v", d["optimizer_state"][1])})
    return restore(meta, arrays)
