"""Int8 inference: ``qnet = mlpcore.quantize(net, X_calibration)``.

The scheme (docs/quantization.md has the reasons and the measured accuracy):
- weights int8, symmetric, one scale per output column (max |W[:, n]| / 127);
- every Dense layer's input 7-bit unsigned (0..127) with a static scale and zero point
  from the min and max that layer's input reaches on X_calibration (the float model's
  values; 0 is always exactly representable);
- int32 accumulation, then float32: z = (acc - zp * colsum) * (s_in * s_w) + bias;
- BatchNorm (its inference form, running statistics) folded into the Dense layer before it,
  else into the Dense layer after it, else kept as a float per-feature affine step; Dropout
  dropped (it is the identity in inference); activations, the output activation and the
  loss in float32.
Layers of other kinds (anything that is not Dense, BatchNorm, Dropout or an elementwise
activation) raise ValueError naming the layer.

The quantized model (QuantizedSequential) predicts, evaluates, summarises, saves, loads and
pickles like a Sequential; it cannot be trained (fit raises TypeError: train the float model
and quantize it again). Both engines: backend="native" (the C++ kernels, quantized.hpp) and
backend="numpy" (reference/quantized.py, the same integers).
"""

import copy

import numpy as np

from . import _checks
from . import metrics as _metrics
from .reference import losses as _ref_losses
from .reference import quantized as _ref

FORMAT = "mlpcore-quantized-1"
BACKENDS = ("native", "numpy")

__all__ = ["quantize", "QuantizedSequential", "FORMAT"]


# ---- from a float model to the record -------------------------------------------------------


def _ops_of(net):
    """The model as ops in float64: ("dense", W, b), ("act", name, param),
    ("affine", a, c) (an inference-form batch norm); dropout and identity dropped."""
    from .layers import Activation

    weights, state = iter(net.get_weights()), iter(net.get_state())
    ops = []
    for i, (layer, spec) in enumerate(zip(net.layers, net._layout.specs)):
        kind, args = spec[0], spec[3:]
        if kind == "dense":
            ops.append(
                [
                    "dense",
                    np.asarray(next(weights), np.float64),
                    np.asarray(next(weights), np.float64),
                ]
            )
        elif kind == "batchnorm":
            gamma, beta = next(weights), next(weights)
            mean, var = next(state), next(state)
            eps = float(args[1])
            a = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(var, np.float64) + eps)
            ops.append(
                ["affine", a, np.asarray(beta, np.float64) - np.asarray(mean, np.float64) * a]
            )
        elif kind == "dropout":
            continue
        elif isinstance(layer, Activation) and len(args) <= 1:
            if kind != "identity":
                ops.append(["act", kind, float(args[0]) if args else 0.0])
        else:
            raise ValueError(
                f"cannot quantize layer {i} ({layer!r}): int8 inference supports "
                "Dense, BatchNorm, Dropout and elementwise activations"
            )
    if not any(op[0] == "dense" for op in ops):
        raise ValueError("cannot quantize a model without a Dense layer")
    return ops


def _fold(ops):
    """Each affine step folded into the Dense before it (z a + c), else into the Dense right
    after it (W' = a[:, None] W, b' = b + c W); the others stay as float steps."""
    out = []
    for j, op in enumerate(ops):
        if op[0] != "affine":
            out.append(op)
        elif out and out[-1][0] == "dense":
            d = out[-1]
            d[1], d[2] = d[1] * op[1], d[2] * op[1] + op[2]
        elif j + 1 < len(ops) and ops[j + 1][0] == "dense":
            d = ops[j + 1]
            d[1], d[2] = op[1][:, None] * d[1], d[2] + op[2] @ d[1]
        else:
            out.append(op)
    return out


def _record_of(net, X):
    """(meta, arrays) of the quantized model of net calibrated on X (float64 (n, n_in))."""
    ops = _fold(_ops_of(net))
    meta_ops, arrays, y = [], {}, X
    n_dense = n_affine = 0
    for op in ops:
        if op[0] == "dense":
            in_scale, zp = _ref.input_quantization(y.min(), y.max())
            if op[1].shape[0] > _ref.MAX_K:
                raise ValueError(
                    f"cannot quantize a Dense layer of {op[1].shape[0]} inputs "
                    f"(at most {_ref.MAX_K}: the int32 sums could overflow)"
                )
            wq, w_scale = _ref.quantize_weights(op[1])
            arrays[f"wq_{n_dense}"] = wq
            arrays[f"w_scale_{n_dense}"] = w_scale
            arrays[f"bias_{n_dense}"] = op[2].astype(np.float32)
            meta_ops.append({"op": "dense", "in_scale": in_scale, "zp": zp})
            n_dense += 1
            y = y @ op[1] + op[2]
        elif op[0] == "act":
            meta_ops.append({"op": "act", "name": op[1], "param": op[2]})
            y = _activation64(op[1], y, op[2])
        else:
            arrays[f"a_{n_affine}"] = op[1].astype(np.float32)
            arrays[f"c_{n_affine}"] = op[2].astype(np.float32)
            meta_ops.append({"op": "affine"})
            n_affine += 1
            y = y * op[1] + op[2]
    meta = {
        "format": FORMAT,
        "loss": net.loss_name,
        "n_in": int(net.n_features_in_),
        "ops": meta_ops,
        "source": [repr(l) for l in net.layers],
        "calibration_rows": int(X.shape[0]),
    }
    return meta, arrays


def _activation64(name, y, param):
    from .reference import activations

    return activations.activation_forward(name, y, param)


def quantize(model, X_calibration, *, backend=None):
    """The int8 version of a trained model, calibrated on X_calibration.

    Parameters
    ----------
    model : Sequential or fitted MLPClassifier / MLPRegressor
        A fitted mlpcore estimator gives a fitted QuantizedMLPClassifier /
        QuantizedMLPRegressor: a copy whose `model_` is quantized; predict, predict_proba and
        score work, fit raises TypeError.
    X_calibration : array of shape (n_samples, n_features)
        E.g. a few hundred to a few thousand training rows: each Dense layer's input range is the min and max its input
        reaches on them; values outside that range are clamped to it at inference.
    backend : {"native", "numpy"} or None
        None: the model's; "numpy" is the reference twin.

    Returns
    -------
    QuantizedSequential
        Or the quantized estimator copy.

    Notes
    -----
    Weights are int8 per output column (symmetric), layer inputs 7-bit with static scales,
    sums in int32, everything else in float32; see mlpcore.quantization.

    Examples
    --------
    >>> import numpy as np
    >>> import mlpcore as mc
    >>> rng = np.random.default_rng(0)
    >>> X = rng.normal(size=(500, 8))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> net = mc.Sequential([mc.Dense(8, 16), mc.ReLU(), mc.Dense(16, 2)],
    ...                     loss="softmax_cross_entropy", seed=0)
    >>> history = net.fit(X, y, epochs=5, lr=0.1)
    >>> qnet = mc.quantize(net, X[:200])
    >>> float(np.mean(qnet.predict_classes(X) == net.predict_classes(X))) > 0.95
    True
    """
    from .sequential import Sequential

    if not isinstance(model, Sequential) and hasattr(model, "get_params"):
        from ._quantized_estimators import quantize_estimator

        return quantize_estimator(model, X_calibration, backend, quantize)
    if not isinstance(model, Sequential):
        raise TypeError(
            f"model must be an mlpcore Sequential or a fitted mlpcore MLPClassifier/"
            f"MLPRegressor, got {type(model).__name__}"
        )
    backend = model.backend if backend is None else backend
    _checks.check_choice("backend", backend, BACKENDS)
    X = _checks.check_X(X_calibration, model.n_features_in_, np.float64, name="X_calibration")
    meta, arrays = _record_of(model, X)
    return QuantizedSequential._restore(meta, arrays, backend)


# ---- files: mlpcore.save / mlpcore.load come here for quantized models -----------------------


def write(qnet, path):
    """Writes qnet's record (format FORMAT) to path atomically, or to a binary file object."""
    import json

    from ._npz import model_path, write_atomic

    meta, arrays = qnet._capture()
    config = np.array(json.dumps(meta))

    def write_to(f):
        np.savez(f, config=config, **arrays)

    if hasattr(path, "write"):
        write_to(path)
    else:
        write_atomic(model_path(path), write_to)


def read(archive, where, backend=None):
    """The QuantizedSequential of a read_archive() result; ModelFileError if it is invalid."""
    from ._npz import ModelFileError

    meta, arrays = archive
    try:
        return QuantizedSequential._restore(meta, arrays, "native" if backend is None else backend)
    except (ValueError, TypeError, OverflowError) as exc:
        if backend is not None and "backend" in str(exc):
            raise
        raise ModelFileError(f"{where!r} is not a valid mlpcore model: {exc}") from None


# ---- the quantized model --------------------------------------------------------------------


def _new_engine(backend, n_in, loss):
    if backend == "native":
        from . import _core

        return _core.QuantizedNetwork(n_in, loss)
    return _ref.QuantizedNetwork(n_in, loss)


def _check_record(meta, arrays):
    """ValueError unless (meta, arrays) is a well-formed quantized record."""
    if not isinstance(meta, dict) or not isinstance(arrays, dict):
        raise ValueError("a quantized model record is a (dict, dict of arrays)")
    for key in ("loss", "n_in", "ops"):
        if key not in meta:
            raise ValueError(f"the quantized model description lacks {key!r}")
    if meta["loss"] not in _ref_losses.NAMES:
        raise ValueError(f"unknown loss {meta['loss']!r}")
    n_in = meta["n_in"]
    if not isinstance(n_in, int) or isinstance(n_in, bool) or not 1 <= n_in <= _ref.MAX_K:
        raise ValueError(f"n_in must be an int in [1, {_ref.MAX_K}], got {n_in!r}")
    ops = meta["ops"]
    if not isinstance(ops, list) or not ops:
        raise ValueError("ops must be a non-empty list")
    expected, width, n_dense, n_affine = {}, n_in, 0, 0
    for k, op in enumerate(ops):
        kind = op.get("op") if isinstance(op, dict) else None
        if kind == "dense":
            zp, s = op.get("zp"), op.get("in_scale")
            if (
                not isinstance(zp, int)
                or isinstance(zp, bool)
                or not 0 <= zp <= _ref.QMAX
                or not isinstance(s, float)
                or not (np.isfinite(s) and s > 0)
                or not np.isfinite(np.float32(1) / np.float32(s))
            ):
                raise ValueError(
                    f"op {k}: a dense op needs zp in [0, 127] and a finite in_scale > 0, got {op!r}"
                )
            wq = arrays.get(f"wq_{n_dense}")
            if (
                not isinstance(wq, np.ndarray)
                or wq.dtype != np.int8
                or wq.ndim != 2
                or wq.shape[0] != width
                or wq.shape[1] < 1
            ):
                raise ValueError(f"wq_{n_dense} must be an int8 array with {width} rows")
            width = wq.shape[1]
            expected.update(
                {
                    f"wq_{n_dense}": (np.int8, wq.shape),
                    f"w_scale_{n_dense}": (np.float32, (width,)),
                    f"bias_{n_dense}": (np.float32, (width,)),
                }
            )
            n_dense += 1
        elif kind == "act":
            name, param = op.get("name"), op.get("param")
            from .reference import activations

            if name not in activations.NAMES or not isinstance(param, float):
                raise ValueError(
                    f"op {k}: an act op needs a known activation name and a float param, got {op!r}"
                )
        elif kind == "affine":
            expected.update(
                {f"a_{n_affine}": (np.float32, (width,)), f"c_{n_affine}": (np.float32, (width,))}
            )
            n_affine += 1
        else:
            raise ValueError(f"op {k} must be a dict with 'op' dense, act or affine, got {op!r}")
    if n_dense == 0:
        raise ValueError("a quantized model needs a dense op")
    if set(arrays) != set(expected):
        raise ValueError(
            f"the quantized model's arrays must be {sorted(expected)}, got {sorted(arrays)}"
        )
    for name, (dtype, shape) in expected.items():
        a = arrays[name]
        if not isinstance(a, np.ndarray) or a.dtype != dtype or a.shape != shape:
            raise ValueError(
                f"{name} must be {np.dtype(dtype).name} of shape {shape}, got "
                f"{getattr(a, 'dtype', type(a).__name__)} "
                f"{getattr(a, 'shape', '')}"
            )
        if dtype == np.float32 and not np.isfinite(a).all():
            raise ValueError(f"{name} contains NaN or infinity")
        if dtype == np.int8 and (a == -128).any():
            raise ValueError(f"{name} must lie in [-127, 127]")


class QuantizedSequential:
    """An int8 model made by mlpcore.quantize(net, X_calibration): predict, predict_proba,
    predict_classes, loss, evaluate and summary as on a Sequential (outputs in float32);
    mlpcore.save/load and pickle. Not trainable: fit raises TypeError.

    Attributes: loss_name, `n_features_in_`, `n_outputs_`, dtype (float32), backend,
    kernel (the int8 kernel the C++ engine uses: "amx", "vnni", "avx2" or "portable").
    """

    dtype = np.dtype(np.float32)
    _quantized_record = True  # mlpcore.save writes _capture() in FORMAT

    def __init__(self, *args, **kwargs):
        raise TypeError(
            "a QuantizedSequential is made by mlpcore.quantize(net, X_calibration) or mlpcore.load"
        )

    @classmethod
    def _restore(cls, meta, arrays, backend="native"):
        _checks.check_choice("backend", backend, BACKENDS)
        _check_record(meta, arrays)
        engine = _new_engine(backend, meta["n_in"], meta["loss"])
        n_dense = n_affine = 0
        for op in meta["ops"]:
            if op["op"] == "dense":
                w_scale = arrays[f"w_scale_{n_dense}"]
                inv_s, scale = _ref.derived(op["in_scale"], w_scale)
                engine.add_dense(
                    arrays[f"wq_{n_dense}"],
                    scale,
                    arrays[f"bias_{n_dense}"],
                    op["zp"],
                    float(inv_s),
                )
                n_dense += 1
            elif op["op"] == "act":
                engine.add_activation(op["name"], op["param"])
            else:
                engine.add_affine(arrays[f"a_{n_affine}"], arrays[f"c_{n_affine}"])
                n_affine += 1
        self = object.__new__(cls)
        self._meta = copy.deepcopy(meta)
        self._meta["format"] = FORMAT
        self._arrays = {k: np.array(v) for k, v in arrays.items()}
        self._engine, self.backend = engine, backend
        self.loss_name, self.n_features_in_ = meta["loss"], meta["n_in"]
        self.n_outputs_ = int(engine.n_out)
        return self

    # ---- evaluation -----------------------------------------------------------------------
    def _X(self, X):
        if self.backend == "native" and _checks.engine_reads_as_is(
            X, self.n_features_in_, np.float32
        ):
            return X  # the serving fast path: the engine reads it as it is
        return _checks.check_X(X, self.n_features_in_, np.float32)

    def predict(self, X):
        """Output activations (n_samples, n_outputs), float32: class probabilities for the
        cross-entropy losses, values for mse, exp(z) for poisson."""
        return self._engine.predict(self._X(X), True)

    def decision_function(self, X):
        """The last layer's float z (n_samples, n_outputs), before the output activation."""
        return self._engine.predict(self._X(X), False)

    def _loss_and_h(self, X, y, sample_weight):
        X = self._X(X)
        Y = _checks.check_targets(y, self.loss_name, X.shape[0], self.n_outputs_, np.float64)
        w = _checks.check_sample_weight(sample_weight, X.shape[0], np.float64)
        z = self._engine.predict(X, False).astype(np.float64)
        loss, h = _ref_losses.loss_forward(self.loss_name, z, Y, w)
        return loss, h, Y, w

    def loss(self, X, y, sample_weight=None):
        """Mean (or sample_weight-weighted mean) loss of the quantized outputs, a float
        (computed in float64 from the float32 z)."""
        return float(self._loss_and_h(X, y, sample_weight)[0])

    def evaluate(self, X, y, sample_weight=None):
        """{"loss", and the loss's metrics (accuracy; r2 and mae)}, as Sequential.evaluate."""
        loss, h, Y, w = self._loss_and_h(X, y, sample_weight)
        return {"loss": float(loss), **_metrics.compute(self.loss_name, h, Y, w)}

    def _classifier_rule(self, method):
        from .sequential import _CLASS_RULES

        rule = _CLASS_RULES.get(self.loss_name)
        if rule is None:
            raise ValueError(
                f"{method} needs a classification loss ({', '.join(_CLASS_RULES)}); "
                f"this model's loss is {self.loss_name!r}: use predict()"
            )
        return rule

    def predict_proba(self, X):
        """Class probabilities, = predict(X), for the classification losses."""
        self._classifier_rule("predict_proba")
        return self.predict(X)

    def predict_classes(self, X):
        """Classes as int64, by the rule of Sequential.predict_classes."""
        return self._classifier_rule("predict_classes")(self.predict(X))

    # ---- not trainable --------------------------------------------------------------------
    def _no_training(self, *args, **kwargs):
        raise TypeError(
            "a quantized model cannot be trained: train the float model and "
            "quantize it again (mlpcore.quantize(net, X_calibration))"
        )

    def fit(self, *args, **kwargs):
        """Refused: raises TypeError (train the float model and quantize it again)."""
        self._no_training()

    def gradients(self, *args, **kwargs):
        """Refused: raises TypeError (an int8 model has no gradients to train)."""
        self._no_training()

    def set_weights(self, *args, **kwargs):
        """Refused: raises TypeError (set the float model's weights and quantize it again)."""
        self._no_training()

    def set_state(self, *args, **kwargs):
        """Refused: raises TypeError (set the float model's state and quantize it again)."""
        self._no_training()

    # ---- introspection --------------------------------------------------------------------
    @property
    def kernel(self):
        """The int8 kernel that predict runs: "amx", "vnni", "avx2" or "portable" (picked at run
        time from the CPU), "numpy" on the twin."""
        if self.backend != "native":
            return "numpy"
        from . import _core

        return _core.int8_kernel()

    def summary(self):
        """A table of the int8 layers and float steps (a str): widths, input scale and zero
        point per Dense layer, the bytes of the int8 weights and float32 vectors."""
        rows, n_dense, n_affine, width = [], 0, 0, self.n_features_in_
        int8_bytes = float_bytes = 0
        for op in self._meta["ops"]:
            if op["op"] == "dense":
                wq = self._arrays[f"wq_{n_dense}"]
                rows.append(
                    (
                        f"Dense int8 {wq.shape[0]} -> {wq.shape[1]}",
                        f"(None, {wq.shape[1]})",
                        f"input scale {op['in_scale']:.4g}, zero point {op['zp']}",
                    )
                )
                int8_bytes += wq.nbytes
                float_bytes += 8 * wq.shape[1]
                width = wq.shape[1]
                n_dense += 1
            elif op["op"] == "act":
                arg = f"({op['param']:g})" if op["name"] == "leaky_relu" else ""
                rows.append((f"{op['name']}{arg} (float32)", f"(None, {width})", ""))
            else:
                rows.append(("affine (batch norm, float32)", f"(None, {width})", ""))
                float_bytes += 8 * width
                n_affine += 1
        head = ("#", "Step", "Output shape", "Quantization")
        body = [(str(i), *r) for i, r in enumerate(rows)]
        widths = [max(len(r[c]) for r in [head] + body) for c in range(4)]

        def line(r):
            return "  ".join(f"{v:<{w}}" for v, w in zip(r, widths)).rstrip()

        rule = "-" * len(line(head))
        return "\n".join(
            [
                f"QuantizedSequential: input (None, {self.n_features_in_}), loss {self.loss_name} "
                f"(output in float32), calibrated on {self._meta.get('calibration_rows', '?')} rows",
                rule,
                line(head),
                rule,
                *map(line, body),
                rule,
                f"int8 weights: {int8_bytes:,} bytes; float32 scales, biases, affine: "
                f"{float_bytes:,} bytes; engine {self.backend} ({self.kernel})",
                f"from: {', '.join(self._meta.get('source', []))}",
            ]
        )

    def __repr__(self):
        sizes = [self.n_features_in_] + [
            self._arrays[f"wq_{i}"].shape[1]
            for i in range(sum(op["op"] == "dense" for op in self._meta["ops"]))
        ]
        return (
            f"QuantizedSequential({'-'.join(map(str, sizes))}, loss={self.loss_name!r}, "
            f"backend={self.backend!r})"
        )

    # ---- persistence: the same record for pickling and mlpcore.save -----------------------
    def _capture(self):
        return copy.deepcopy(self._meta), {k: v.copy() for k, v in self._arrays.items()}

    def __getstate__(self):
        meta, arrays = self._capture()
        return {"meta": meta, "arrays": arrays, "backend": self.backend}

    def __setstate__(self, d):
        self.__dict__.update(
            QuantizedSequential._restore(
                d["meta"], d["arrays"], d.get("backend", "native")
            ).__dict__
        )
