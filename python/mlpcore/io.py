"""Saving and loading a Sequential: one .npz file with the configuration (JSON), the weights
and the state (batch-norm running statistics), readable without pickle."""
import json

import numpy as np

from . import _checks, layers as _layers
from .sequential import Sequential

_FORMAT = "mlpcore-sequential-1"


def _make_layer(config):
    cls = getattr(_layers, config["class"], None)
    if not (isinstance(cls, type) and issubclass(cls, _layers.Layer)):
        raise ValueError(f"unknown layer class {config['class']!r} in the saved model")
    return cls(**config["config"])


def save(net, path):
    """Writes net (configuration, weights, state, training counters) to path (.npz)."""
    config = {"format": _FORMAT, "layers": [{"class": type(l).__name__, "config": l.get_config()}
                                              for l in net.layers],
              "loss": net.loss_name, "dtype": net.dtype.name, "seed": str(net.seed),
              "backend": net.backend, "epoch_": net.epoch_, "step_": net.step_,
              "history_": net.history_, "optimizer_": net.optimizer_,
              "opt_steps_": net.opt_steps_}
    arrays = {f"weight_{i}": w for i, w in enumerate(net.get_weights())}
    arrays.update({f"state_{i}": s for i, s in enumerate(net.get_state())})
    m, v = net.get_optimizer_state()
    arrays.update({f"moment_m_{i}": a for i, a in enumerate(m)})
    arrays.update({f"moment_v_{i}": a for i, a in enumerate(v)})
    np.savez(path, config=np.array(json.dumps(config)), **arrays)


def load(path, backend=None):
    """Reads a model written by save(); backend overrides the saved one."""
    with np.load(path, allow_pickle=False) as f:
        config = json.loads(str(f["config"]))
        if config.get("format") != _FORMAT:
            raise ValueError(f"{path!r} is not an mlpcore model file")
        weights = [f[f"weight_{i}"] for i in range(sum(k.startswith("weight_") for k in f.files))]
        state = [f[f"state_{i}"] for i in range(sum(k.startswith("state_") for k in f.files))]
        moments = ([[f[f"moment_{which}_{i}"] for i in range(len(weights))] for which in "mv"]
                   if "moment_m_0" in f.files or not weights else None)
    net = Sequential([_make_layer(c) for c in config["layers"]], loss=config["loss"],
                     dtype=config["dtype"], seed=int(config["seed"]),
                     backend=backend or config["backend"])
    net.set_weights(weights)
    net.set_state(state)
    if moments is not None:  # absent from files written before the optimizers existed
        net.set_optimizer_state(moments, config["optimizer_"], config["opt_steps_"])
    net.epoch_ = _checks.check_nonnegative_int("saved epoch_", config["epoch_"])
    net.step_ = _checks.check_nonnegative_int("saved step_", config["step_"])
    net.history_ = config["history_"]
    return net
