"""Saving and loading a Sequential: one .npz file with the configuration (JSON), the weights
and the state (batch-norm running statistics), readable without pickle.

Paths: save(net, "m") and load("m") both use "m.npz" (like np.savez, ".npz" is appended
when the name does not end with it; load does the same, so the pair is symmetric).

save is atomic: it writes a temporary file in the target's folder, flushes and fsyncs it
and renames it over the target (then fsyncs the folder), so a crash or a kill at any moment
leaves either the previous file or the new one, never a damaged one. (A process killed
mid-save may leave its temporary file, named ".<name>.*.tmp", behind.)

load reads the whole file, then validates everything (zip structure, every member's header,
dtype and size, the JSON configuration, history and optimizer settings, counters, and every
array's shape, dtype and values) before it builds a model. Any file that is damaged,
truncated, crafted or written by a newer format raises ModelFileError (a ValueError) with
the reason; errors of the file system (missing file, permissions) stay OSError. Nothing is
ever unpickled.
"""
import io as _io
import json
import numbers
import os
import re
import tempfile
import zipfile

import numpy as np

from . import _checks, layers as _layers
from .reference import losses as _losses, optim as _optim
from .reference.network import param_shapes, state_shapes
from .sequential import BACKENDS, Sequential

_FORMAT = "mlpcore-sequential-1"
_FORMAT_RE = re.compile(r"mlpcore-sequential-(\d+)\Z")
_SUFFIX = ".npz"
_MAX_COUNTER = (1 << 64) - 1


class ModelFileError(ValueError):
    """A file given to mlpcore.load() is not a readable model: damaged, truncated, crafted,
    not an mlpcore model, or written in a newer format. The message gives the reason."""


# ---- paths and atomic writing -------------------------------------------------------------
def _model_path(path):
    """path as a str ending in ".npz" (appended when missing, as np.savez does)."""
    try:
        path = os.fsdecode(os.fspath(path))
    except TypeError:
        raise TypeError(f"path must be a str or os.PathLike (or a file object), got "
                        f"{type(path).__name__}") from None
    return path if path.endswith(_SUFFIX) else path + _SUFFIX


def _new_file_mode():
    """The permission bits open() would give a new file (0o666 minus the umask)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return 0o666 & ~mask


def _fsync_dir(directory):
    """Makes a rename in directory durable; a no-op where folders cannot be opened (Windows)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(path, write_fn):
    """Calls write_fn(file) on a temporary file next to path, makes it durable and renames it
    over path; on any failure (exception, Ctrl-C) the temporary file is removed and path is
    untouched."""
    if os.path.islink(path):
        path = os.path.realpath(path)  # replace the file the link points to, not the link
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp",
                               dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            write_fn(f)
            f.flush()
            os.fsync(f.fileno())
        try:  # mkstemp creates the file 0o600: keep the target's mode, or the default one
            mode = os.stat(path).st_mode & 0o7777
        except FileNotFoundError:
            mode = _new_file_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_dir(directory)


# ---- reading and validating a file ---------------------------------------------------------
def _read_member(zf, info):
    """One .npy member of the archive as an array, refusing object (pickled) arrays and
    headers whose shape does not match the member's size before allocating anything."""
    with zf.open(info) as f:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
        if dtype.hasobject:
            raise ValueError("it holds Python objects (pickled data), which are never loaded")
        count = 1
        for n in shape:
            count *= n
        if info.file_size - f.tell() != count * dtype.itemsize:
            raise ValueError(f"its header announces {dtype}{shape} ({count * dtype.itemsize} "
                             f"bytes) but it holds {info.file_size - f.tell()} bytes")
        data = f.read()
    if len(data) != count * dtype.itemsize:
        raise ValueError("it is truncated")
    arr = np.frombuffer(data, dtype=dtype, count=count)
    order = "F" if fortran else "C"
    return arr.reshape(shape, order=order).copy(order="C")


def _open_validated(path):
    """The file's (config dict, {name: array}). OSError when the file cannot be read;
    ModelFileError when its content is not a well-formed archive of plain arrays with a
    JSON config of a format this version reads."""
    if hasattr(path, "read"):
        data, path = path.read(), getattr(path, "name", "<file object>")
    else:
        with open(path, "rb") as f:  # I/O errors stay OSError
            data = f.read()
    if not isinstance(data, bytes):
        raise TypeError("the file object must be opened in binary mode")
    try:
        # Everything below parses bytes in memory: any failure is the file's content.
        with zipfile.ZipFile(_io.BytesIO(data)) as zf:
            infos = zf.infolist()
            names = [i.filename for i in infos]
            if len(set(names)) != len(names):
                raise ValueError("an archive member appears twice")
            arrays = {}
            for info in infos:
                if not info.filename.endswith(".npy"):
                    raise ValueError(f"unexpected archive member {info.filename!r}")
                try:
                    arrays[info.filename[:-4]] = _read_member(zf, info)
                except MemoryError:
                    raise
                except Exception as exc:
                    raise ValueError(f"member {info.filename!r}: {exc}") from None
    except MemoryError:
        raise
    except Exception as exc:  # BadZipFile, zlib.error, EOFError, ValueError, ...
        raise ModelFileError(f"{path!r} is damaged or not an mlpcore model file "
                             f"({type(exc).__name__}: {exc})") from None
    config = arrays.pop("config", None)
    if config is None or config.dtype.kind != "U" or config.shape != ():
        raise ModelFileError(f"{path!r} is not an mlpcore model file (no JSON 'config' text)")
    try:
        config = json.loads(str(config))
    except (ValueError, RecursionError) as exc:
        raise ModelFileError(f"{path!r}: its config is not valid JSON ({exc})") from None
    if not isinstance(config, dict) or not isinstance(config.get("format"), str):
        raise ModelFileError(f"{path!r} is not an mlpcore model file (no format in its config)")
    newer = _FORMAT_RE.match(config["format"])
    if newer and int(newer.group(1)) > int(_FORMAT_RE.match(_FORMAT).group(1)):
        raise ModelFileError(f"{path!r} was written in format {config['format']!r} by a newer "
                             f"mlpcore; this version reads {_FORMAT!r}: upgrade mlpcore")
    if config["format"] != _FORMAT:
        raise ModelFileError(f"{path!r} is not an mlpcore model file (format "
                             f"{config['format']!r}, expected {_FORMAT!r})")
    return config, arrays


def _layer_classes():
    """The concrete public layer classes a file may name."""
    out = {}
    for name in dir(_layers):
        cls = getattr(_layers, name)
        if (isinstance(cls, type) and issubclass(cls, _layers.Layer) and not name.startswith("_")
                and cls.spec is not _layers.Layer.spec and getattr(cls, "name", "") is not None):
            out[name] = cls
    return out


def _is_counter(value):
    return (isinstance(value, numbers.Integral) and not isinstance(value, bool)
            and 0 <= value <= _MAX_COUNTER)


def _is_number(value):
    """A JSON number that converts to float (NaN and infinity included: a validation loss
    may be either)."""
    if isinstance(value, bool):
        return False
    return isinstance(value, float) or (isinstance(value, int) and abs(value) < 2**1023)


def _check_config(config, arrays):
    """Validates the JSON configuration and the arrays against each other; returns the
    layers (built from their configs: no model yet). Raises ValueError with the reason."""
    allowed = {"format", "layers", "loss", "dtype", "seed", "backend", "epoch_", "step_",
               "history_", "optimizer_", "opt_steps_"}
    unknown = set(config) - allowed
    if unknown:
        raise ValueError(f"unknown config keys {sorted(unknown)}")
    missing = {"layers", "loss", "dtype", "seed", "backend", "epoch_", "step_",
               "history_"} - set(config)
    if missing:
        raise ValueError(f"missing config keys {sorted(missing)}")
    if config["loss"] not in _losses.NAMES:
        raise ValueError(f"unknown loss {config['loss']!r}")
    if config["dtype"] not in _checks.DTYPES:
        raise ValueError(f"dtype must be 'float32' or 'float64', got {config['dtype']!r}")
    if config["backend"] not in BACKENDS:
        raise ValueError(f"unknown backend {config['backend']!r}")
    seed = config["seed"]
    if not (isinstance(seed, str) and seed.isascii() and seed.isdigit() and len(seed) <= 20
            and int(seed) <= _MAX_COUNTER):
        raise ValueError(f"seed must be a decimal integer in [0, 2**64) as text, got {seed!r}")
    for key in ("epoch_", "step_", "opt_steps_"):
        if key in config and not _is_counter(config[key]):
            raise ValueError(f"{key} must be an integer in [0, 2**64), got {config[key]!r}")
    history = config["history_"]
    if (not isinstance(history, dict) or not isinstance(history.get("loss"), list)
            or not all(isinstance(k, str) and isinstance(v, list) and all(map(_is_number, v))
                       for k, v in history.items())):
        raise ValueError("history_ must map names (with 'loss') to lists of numbers")
    opt = config.get("optimizer_")
    if opt is not None:
        if not isinstance(opt, dict) or set(opt) - {"name", "momentum", "nesterov", "beta1",
                                                    "beta2", "eps"}:
            raise ValueError(f"optimizer_ must be None or a dict of optimizer settings, got "
                             f"{opt!r}")
        o = {**_optim.DEFAULTS, **opt}
        try:
            _checks.check_optimizer(o["name"], o["momentum"], o["nesterov"],
                                    (o["beta1"], o["beta2"]), o["eps"])
        except (TypeError, OverflowError) as exc:
            raise ValueError(f"optimizer_: {exc}") from None

    layer_configs = config["layers"]
    if not isinstance(layer_configs, list) or not layer_configs:
        raise ValueError("layers must be a non-empty list")
    classes, layers = _layer_classes(), []
    for i, c in enumerate(layer_configs):
        if (not isinstance(c, dict) or set(c) != {"class", "config"}
                or not isinstance(c["config"], dict) or not isinstance(c["class"], str)):
            raise ValueError(f"layers[{i}] must be {{'class': name, 'config': dict}}, got {c!r}")
        if c["class"] not in classes:
            raise ValueError(f"layers[{i}]: unknown layer class {c['class']!r}; known: "
                             f"{', '.join(sorted(classes))}")
        try:
            layers.append(classes[c["class"]](**c["config"]))
        except (TypeError, ValueError, OverflowError) as exc:
            raise ValueError(f"layers[{i}]: {exc}") from None

    dtype = np.dtype(config["dtype"])
    specs = [layer.spec() for layer in layers]
    weight_shapes = [s for spec in specs for s in param_shapes(spec)]
    expected = {f"weight_{i}": s for i, s in enumerate(weight_shapes)}
    expected.update({f"state_{i}": s for i, s in
                     enumerate(s for spec in specs for s in state_shapes(spec))})
    if "moment_m_0" in arrays or not weight_shapes:  # no moments: a file from before them
        expected.update({f"moment_{w}_{i}": s for w in "mv" for i, s in enumerate(weight_shapes)})
    if set(arrays) != set(expected):
        raise ValueError(f"arrays {sorted(set(expected) - set(arrays))} missing, "
                         f"{sorted(set(arrays) - set(expected))} unexpected")
    for name, shape in expected.items():
        a = arrays[name]
        if a.dtype.kind != "f" or a.dtype.itemsize != dtype.itemsize or a.shape != tuple(shape):
            raise ValueError(f"{name} must be {dtype.name} of shape {tuple(shape)}, got "
                             f"{a.dtype} of shape {a.shape}")
        if not np.isfinite(a).all():
            raise ValueError(f"{name} holds NaN or infinity")
        if name.startswith("moment_v_") and (a < 0).any():
            raise ValueError(f"{name} (second moments) must be >= 0")
    return layers


def _validated_model(path, backend):
    """(Sequential built from the file at path, validated first). ModelFileError if not."""
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; known backends: {', '.join(BACKENDS)}")
    if not hasattr(path, "read"):
        path = _model_path(path)
    config, arrays = _open_validated(path)
    where = getattr(path, "name", path)
    try:
        layers = _check_config(config, arrays)
    except ValueError as exc:
        raise ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}") from None
    n_weights = sum(k.startswith("weight_") for k in arrays)
    weights = [arrays[f"weight_{i}"] for i in range(n_weights)]
    state = [arrays[f"state_{i}"] for i in range(sum(k.startswith("state_") for k in arrays))]
    moments = ([[arrays[f"moment_{w}_{i}"] for i in range(n_weights)] for w in "mv"]
               if "moment_m_0" in arrays or not weights else None)
    try:  # the layers' own rules (widths that chain, BatchNorm variances >= 0, ...)
        net = Sequential(layers, loss=config["loss"], dtype=config["dtype"],
                         seed=int(config["seed"]), backend=backend or config["backend"])
        net.set_weights(weights)
        net.set_state(state)
        if moments is not None:  # absent from files written before the optimizers existed
            net.set_optimizer_state(moments, config.get("optimizer_"),
                                    config.get("opt_steps_", 0))
    except ValueError as exc:
        raise ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}") from None
    net.epoch_, net.step_ = config["epoch_"], config["step_"]
    net.history_ = {k: [float(x) for x in v] for k, v in config["history_"].items()}
    return net


# ---- the public pair ------------------------------------------------------------------------
def save(net, path):
    """Writes net (configuration, weights, state, training counters) to path, atomically;
    ".npz" is appended to path when missing. path may also be a binary file object (written
    directly, without the atomic rename)."""
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

    def write(f):
        np.savez(f, config=np.array(json.dumps(config)), **arrays)
    if hasattr(path, "write"):
        write(path)
    else:
        _write_atomic(_model_path(path), write)


def load(path, backend=None):
    """Reads a model written by save() (".npz" is appended to path when missing; path may
    also be a binary file object); backend overrides the saved one. Raises ModelFileError
    (a ValueError) for any damaged, crafted or newer-format file, OSError for I/O errors."""
    return _validated_model(path, backend)
