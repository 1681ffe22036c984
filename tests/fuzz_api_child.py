"""The fuzz loop of test_fuzz_api.py, run in a child process so that a crash of the
interpreter is reported with the case that caused it.

Usage: python fuzz_api_child.py CASE_FILE [--calls N] [--seconds S] [--seed K]

Hypothesis draws random models (every public mlpcore.Layer subclass, found at run time, with
random constructor arguments, both engines, both dtypes, all losses) and sequences of public
calls (constructor, predict, loss, gradients, fit, get/set_weights, get/set_state,
get/set_optimizer_state, save/load, pickle) on random arguments: valid ones, and broken ones
(NaN, infinity, huge values, empty and wrongly shaped arrays, wrong dtypes and types,
Fortran-ordered, strided, misaligned, read-only, broadcast and big-endian arrays, lists).

Properties checked for every call:
  * only ValueError, TypeError, FloatingPointError or MemoryError escape, with a message;
  * a call that raises leaves the model as it was: weights, state, optimizer moments and
    settings, counters and history (a fit that diverges after k committed epochs keeps
    exactly those k epochs);
  * read-only calls (predict, loss, gradients, get_*, save) change nothing even when they
    succeed; a saved model loads back bitwise equal.
Before each call the case is written to CASE_FILE, so a crash leaves the culprit there.
"""

import argparse
import copy
import inspect
import os
import pickle
import tempfile
import time
from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hseed
from hypothesis import strategies as st

import mlpcore as mc

ALLOWED = (ValueError, TypeError, FloatingPointError, MemoryError)
LOSSES = ["mse", "softmax_cross_entropy", "binary_cross_entropy"]
BACKENDS = ["native", "numpy"]
try:
    import mlpcore._core  # noqa: F401
except ImportError:
    BACKENDS = ["numpy"]
STATS = Counter()


# ---- layer kinds -------------------------------------------------------------------------
def layer_classes():
    """Every concrete public Layer subclass exported by mlpcore."""
    out = []
    for name in sorted(dir(mc)):
        cls = getattr(mc, name)
        if isinstance(cls, type) and issubclass(cls, mc.Layer) and cls is not mc.Layer:
            out.append(cls)
    return out


WIDTH_WORDS = ("n_in", "n_out", "n_features", "features", "units", "width", "size")


def _is_width(name):
    return any(w in name for w in WIDTH_WORDS)


def _required_widths(cls):
    return [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if _is_width(p.name) and p.default is inspect.Parameter.empty
    ]


LAYERS = layer_classes()
WIDE_LAYERS = [c for c in LAYERS if _required_widths(c)] or LAYERS  # Dense, BatchNorm, ...


JUNK = [None, -1, 0, 1.5, float("nan"), float("inf"), 10**400, 2**70, "1", True, [1], {}]


@st.composite
def layer_at(draw, width, kinds=None):
    """(layer or exception, new width): a layer of a random kind whose input is `width`
    wide; now and then with junk arguments (whose constructor must then raise ValueError or
    TypeError)."""
    cls = draw(st.sampled_from(kinds or LAYERS))
    params = [
        p
        for p in inspect.signature(cls.__init__).parameters.values()
        if p.name != "self" and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    kwargs, widths_seen = {}, 0
    for p in params:
        if draw(st.integers(0, 30)) == 0:
            kwargs[p.name] = draw(st.sampled_from(JUNK))
        elif _is_width(p.name):
            kwargs[p.name] = width if widths_seen == 0 else draw(st.integers(1, 6))
            widths_seen += 1
        elif p.default is not inspect.Parameter.empty:
            if draw(st.booleans()):
                continue  # the default
            d = p.default
            if isinstance(d, bool):
                kwargs[p.name] = draw(st.booleans())
            elif isinstance(d, (int, float)):
                kwargs[p.name] = draw(
                    st.sampled_from([0.0, 0.01, 0.1, 0.3, 0.5, 0.9, 0.999, 1.0, 1e-5, 1e-3, 2.0])
                )
            elif isinstance(d, str):
                kwargs[p.name] = draw(st.sampled_from([d, "tanh", "none", "x"]))
            else:
                kwargs[p.name] = d
        else:
            kwargs[p.name] = draw(st.integers(1, 6))
    try:
        layer = cls(**kwargs)
    except Exception as exc:  # checked in Fuzz.run, with the case
        return ("rejected", cls.__name__, kwargs, exc), width
    out = getattr(layer, "n_out", None)
    return layer, (width if out is None else out)


@st.composite
def architectures(draw):
    width = n_in = draw(st.integers(1, 6))
    layers = []
    for _ in range(draw(st.integers(1, 5))):
        layer, width = draw(layer_at(width))
        layers.append(layer)
    if all(getattr(l, "n_in", None) is None for l in layers if not isinstance(l, tuple)) and draw(
        st.integers(0, 9)
    ):  # at least one layer that fixes the width
        layer, _ = draw(layer_at(n_in, WIDE_LAYERS))
        layers.insert(0, layer)
    if draw(st.integers(0, 19)) == 0 and len(layers) > 1:  # a width mismatch, now and then
        layers = list(reversed(layers))
    return n_in, layers


# ---- array-like arguments ----------------------------------------------------------------
SPECIALS = [np.nan, np.inf, -np.inf, 1e300, -1e300, 3.5e38, -3.5e38, 1e-320, -0.0, 1e10]
DTYPES = ["float64", "float32"] * 6 + [
    "float16",
    "int64",
    "int32",
    "uint8",
    "bool",
    "complex128",
    "object",
    "U3",
    ">f8",
    ">f4",
]
LAYOUTS = ["c"] * 6 + [
    "f",
    "strided",
    "misaligned",
    "misaligned",
    "readonly",
    "broadcast",
    "list",
    "tuple-rows",
    "ragged",
]


def make_layout(a, layout):
    """a rearranged in memory (same values) according to layout."""
    if layout == "f":
        return np.asfortranarray(a)
    if layout == "strided" and a.ndim:
        big = np.repeat(a, 2, axis=0)
        return big[::2]
    if layout == "misaligned" and a.dtype.kind in "fiuc" and a.itemsize > 1:
        buf = bytearray(a.nbytes + 1)
        v = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
        v[...] = a
        return v
    if layout == "readonly":
        a = a.copy()
        a.setflags(write=False)
        return a
    if layout == "broadcast" and a.ndim == 2 and a.shape[0] > 0:
        return np.broadcast_to(a[:1], a.shape)
    if layout == "list":
        return a.tolist()
    if layout == "tuple-rows" and a.ndim:
        return tuple(a.tolist())
    if layout == "ragged" and a.ndim == 2 and a.shape[0] > 1:
        rows = a.tolist()
        rows[-1] = rows[-1][:-1] + [1.0, 2.0]
        return rows
    return a


@st.composite
def values(draw, shape, kind="real", classes=3):
    """A float64 array of the shape: normals of a random scale, sometimes special values."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1.0, 1.0, 1e-3, 1e3, 1e20, 1e200]))
    if kind == "labels":
        a = rng.integers(0, classes, shape).astype(np.float64)
    elif kind == "unit":
        a = rng.random(shape)
    elif kind == "prob":
        a = (
            rng.dirichlet(np.ones(shape[1]), size=shape[0])
            if len(shape) == 2 and shape[1]
            else rng.random(shape)
        )
    elif kind == "positive":
        a = rng.random(shape) * scale
    else:
        a = rng.normal(scale=scale, size=shape)
    if a.size and draw(st.integers(0, 9)) == 0:  # special values at a few positions
        flat = a.reshape(-1)
        for _ in range(draw(st.integers(1, 3))):
            flat[draw(st.integers(0, flat.size - 1))] = draw(st.sampled_from(SPECIALS))
    # an array even for shape (): a 0-d array times a float is a NumPy scalar, and a scalar's
    # astype(object) a Python float, which the layouts below cannot rearrange
    return np.asarray(a)


@st.composite
def array_arg(draw, shape, kind="real", good=False, classes=3):
    """Something passed where an array of `shape` is expected: usually such an array in a
    random dtype and memory layout, sometimes a wrong shape or not an array at all."""
    if not good:
        choice = draw(st.integers(0, 19))
        if choice == 0:
            return draw(
                st.sampled_from(
                    [
                        None,
                        "abc",
                        3,
                        2.5,
                        {},
                        [],
                        [[]],
                        object(),
                        b"\x00\x01",
                        iter([1, 2]),
                        np.float64(1.0),
                    ]
                )
            )
        if choice == 1 and len(shape) >= 1:  # a wrong shape
            shape = draw(
                st.sampled_from(
                    [
                        (0,) + tuple(shape[1:]),
                        tuple(shape) + (1,),
                        tuple(shape[1:]) or (2,),
                        (shape[0], shape[1] + 1) if len(shape) == 2 else (shape[0] + 1,),
                        (shape[0] + 1,) + tuple(shape[1:]),
                        (1, 1, 1),
                        (),
                    ]
                )
            )
    a = draw(values(tuple(shape), kind, classes))
    dtype = "float64" if good else draw(st.sampled_from(DTYPES))
    with np.errstate(all="ignore"):
        try:
            a = a.astype(dtype)
        except (ValueError, TypeError):
            pass
    return a if good else make_layout(a, draw(st.sampled_from(LAYOUTS)))


def target_kind(loss, draw):
    if loss == "softmax_cross_entropy":
        return draw(st.sampled_from(["labels", "labels", "prob", "real"]))
    if loss == "binary_cross_entropy":
        return draw(st.sampled_from(["unit", "unit", "real"]))
    return "real"


@st.composite
def targets_for(draw, net, n):
    kind = target_kind(net.loss_name, draw)
    shape = (n,) if kind == "labels" else (n, net.n_outputs_)
    if kind == "labels" and draw(st.integers(0, 9)) == 0:  # labels out of range
        return draw(array_arg(shape, kind, classes=net.n_outputs_ + 2))
    return draw(array_arg(shape, kind, classes=net.n_outputs_))


def _junk_or(draw, good, junk, one_in=6):
    """Usually one of good, once in one_in draws one of junk."""
    if draw(st.integers(0, one_in - 1)):
        return draw(st.sampled_from(good))
    return draw(st.sampled_from(junk))


junk_or = _junk_or


# ---- calls ---------------------------------------------------------------------------------
def snapshot(net):
    m, v = net.get_optimizer_state()
    return {
        "weights": net.get_weights(),
        "state": net.get_state(),
        "m": m,
        "v": v,
        "counters": (net.epoch_, net.step_, net.opt_steps_),
        "optimizer": copy.deepcopy(net.optimizer_),
        "history": copy.deepcopy(net.history_),
    }


def same_arrays(a, b):
    return len(a) == len(b) and all(
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
        for x, y in zip(a, b)
    )


def same_history(a, b):
    """history_ dicts equal, a NaN (a validation score of a diverged model) equal to a NaN:
    a copy's NaN is another float object, and NaN != NaN."""

    def same(x, y):
        return x == y or (isinstance(x, float) and isinstance(y, float) and x != x and y != y)

    if not (isinstance(a, dict) and isinstance(b, dict)):
        return a == b
    return a.keys() == b.keys() and all(
        len(a[k]) == len(b[k]) and all(same(x, y) for x, y in zip(a[k], b[k])) for k in a
    )


def assert_same(before, after, what):
    for key in before:
        a, b = before[key], after[key]
        if key in ("weights", "state", "m", "v"):
            same = same_arrays(a, b)
        elif key == "history":
            same = same_history(a, b)
        else:
            same = a == b
        assert same, f"{what} changed the model's {key}"


def describe(x, depth=0):
    """A short, faithful description of an argument for the case file."""
    if isinstance(x, np.ndarray):
        f = x.flags
        head = np.array2string(x.reshape(-1)[:6], threshold=6) if x.dtype != object else "objects"
        return (
            f"ndarray({x.dtype}, shape={x.shape}, C={f.c_contiguous}, F={f.f_contiguous}, "
            f"aligned={f.aligned}, writeable={f.writeable}, strides={x.strides}, "
            f"head={head})"
        )
    if isinstance(x, (list, tuple)) and depth < 2:
        inner = ", ".join(describe(v, depth + 1) for v in list(x)[:8])
        return f"{type(x).__name__}[{len(x)}]({inner})"
    r = repr(x)
    return r if len(r) < 200 else r[:200] + "..."


class Runner:
    def __init__(self, case_file, tmpdir):
        self.case_file, self.tmpdir = case_file, tmpdir

    def record(self, text):
        with open(self.case_file, "w") as f:
            f.write(text)

    def call(self, net, name, fn, args, kwargs, read_only=False):
        desc = (
            f"model: {net!r}\ncall: {name}("
            + ", ".join(
                [describe(a) for a in args] + [f"{k}={describe(v)}" for k, v in kwargs.items()]
            )
            + ")\n"
        )
        self.record(desc)
        before = snapshot(net) if net is not None else None
        STATS["calls"] += 1
        STATS[name] += 1
        try:
            with np.errstate(all="ignore"):
                result = fn(*args, **kwargs)
        except ALLOWED as exc:
            STATS[type(exc).__name__] += 1
            assert str(exc).strip(), f"{type(exc).__name__} without a message\n{desc}"
            if net is not None:
                after = snapshot(net)
                if name == "fit" and isinstance(exc, FloatingPointError):
                    done = after["counters"][0] - before["counters"][0]
                    assert len(after["history"]["loss"]) - len(before["history"]["loss"]) == done, (
                        f"history and epoch_ disagree after a divergence\n{desc}"
                    )
                    assert all(np.isfinite(w).all() for w in after["weights"]), desc
                    if done:
                        return None
                assert_same(
                    before, after, f"a rejected {name} ({type(exc).__name__}: {exc})\n{desc}"
                )
            return None
        except Exception as exc:
            raise AssertionError(f"{name} raised {type(exc).__name__}: {exc}\n{desc}") from exc
        STATS["ok"] += 1
        if read_only:
            assert_same(before, snapshot(net), f"{name}, which must change nothing,\n{desc}")
        return result


def training_arg(draw):
    return junk_or(draw, [False, True, 0, 1], [None, "yes", np.bool_(True), [1], 2.5])


def step_arg(draw):
    return junk_or(
        draw, [None, 0, 1, 7, 2**64 - 1], [-1, 2**64, 1.5, "3", True, np.uint64(3), np.int8(-1)]
    )


@st.composite
def fit_kwargs(draw, net, n):
    junk_or = lambda draw, good, junk: _junk_or(draw, good, junk, 12)  # noqa: E731
    kw = {}
    kw["epochs"] = junk_or(draw, [0, 1, 1, 2, 3], [-1, 1.5, "1", None, True])
    kw["batch_size"] = junk_or(draw, [1, 2, 3, 8, 1000], [0, -1, 2.0, "2", None])
    kw["lr"] = junk_or(
        draw,
        [0.01, 0.1, 1.0, 1e-30, 1e10],
        [0, -1, np.nan, np.inf, 1e39, 10**400, "0.1", None, True],
    )
    kw["optimizer"] = junk_or(draw, ["sgd", "adam"], ["rmsprop", None, 1, "SGD"])
    if kw["optimizer"] == "sgd" and draw(st.booleans()):
        kw["momentum"] = junk_or(draw, [0.0, 0.5, 0.9], [1.0, -0.1, np.nan, "x", True])
        kw["nesterov"] = junk_or(draw, [False, True], [0, "yes", None])
    if draw(st.integers(0, 3)) == 0:
        kw["betas"] = junk_or(
            draw,
            [(0.9, 0.999), [0.5, 0.5], (0.0, 0.0)],
            [(1, 0.9), (0.9,), None, "ab", (np.nan, 0.9)],
        )
        kw["adam_eps"] = junk_or(draw, [1e-8, 1e-3], [0, -1, np.nan, np.inf, 10**400, "x"])
    if draw(st.integers(0, 3)) == 0:
        kw["weight_decay"] = junk_or(
            draw, [0.0, 1e-4, 0.1], [-1, np.nan, np.inf, 1e300, 10**400, "x"]
        )
    if draw(st.integers(0, 3)) == 0:
        kw["shuffle"] = draw(st.sampled_from([True, False, 0, 1]))
    if draw(st.integers(0, 2)) == 0:
        nv = draw(st.integers(1, 4))
        good = (draw(array_arg((nv, net.n_features_in_), good=True)), draw(targets_for(net, nv)))
        kw["validation_data"] = junk_or(
            draw, [good], [good[:1], good + (1,), "xy", (draw(array_arg((nv, 2))), good[1])]
        )
    if draw(st.integers(0, 3)) == 0:
        kw["patience"] = junk_or(draw, [None, 1, 2], [0, -1, 1.5, "x"])
    if draw(st.integers(0, 3)) == 0:
        kw["callback"] = junk_or(
            draw,
            [
                None,
                lambda net, logs: False,
                lambda net, logs: True,
                lambda net, logs: None,
                lambda net, logs: np.bool_(logs["epoch"] > 0),
            ],
            [3, "print"],
        )
    return kw


@st.composite
def weight_list(draw, arrays, kind="real"):
    """A list shaped like `arrays` (get_weights()/get_state()), sometimes broken."""
    out = [draw(array_arg(a.shape, kind, good=draw(st.integers(0, 3)) > 0)) for a in arrays]
    choice = draw(st.integers(0, 9))
    if choice == 0:
        return out[:-1]
    if choice == 1:
        return out + [np.zeros(2)]
    if choice == 2:
        return tuple(out)
    if choice == 3:
        return draw(st.sampled_from([None, np.zeros(3), "w", 5]))
    return out


class Fuzz:
    def __init__(self, runner):
        self.runner = runner

    def run(self, data):
        draw = data.draw
        n_in, layers = draw(architectures())
        rejected = [l for l in layers if isinstance(l, tuple)]
        STATS["constructors"] += len(layers)
        if rejected:
            STATS["layer rejected"] += 1
            _, cls, kwargs, exc = rejected[0]
            case = f"{cls}(**{kwargs!r}) raised {type(exc).__name__}: {exc}"
            assert isinstance(exc, ALLOWED), case
            assert str(exc).strip(), f"{case} (without a message)"
            return
        kw = dict(
            loss=draw(st.sampled_from(LOSSES)),
            dtype=junk_or(draw, ["float32", "float64", np.float32], ["float16", "f8x", 1], 20),
            seed=junk_or(draw, [0, 1, 2**64 - 1, None], [-1, 2**64, 1.5, "1"], 20),
            backend=junk_or(draw, BACKENDS, ["cuda", None], 20),
        )
        net = self.runner.call(None, "Sequential", mc.Sequential, (layers,), kw)
        if net is None:
            return
        for _ in range(draw(st.integers(1, 8))):
            self.one_call(draw, net)

    def one_call(self, draw, net):
        r = self.runner
        n = draw(st.integers(1, 7))
        what = draw(
            st.sampled_from(
                [
                    "predict",
                    "loss",
                    "gradients",
                    "fit",
                    "fit",
                    "set_weights",
                    "set_state",
                    "set_optimizer_state",
                    "save_load",
                    "pickle",
                ]
            )
        )
        X = lambda: draw(array_arg((n, net.n_features_in_)))  # noqa: E731
        if what == "predict":
            r.call(
                net,
                what,
                net.predict,
                (X(),),
                {"training": training_arg(draw), "step": step_arg(draw)},
                read_only=True,
            )
        elif what in ("loss", "gradients"):
            r.call(
                net,
                what,
                getattr(net, what),
                (X(), draw(targets_for(net, n))),
                {"training": training_arg(draw), "step": step_arg(draw)},
                read_only=True,
            )
        elif what == "fit":
            X_, y_ = X(), draw(targets_for(net, n))
            r.call(net, what, net.fit, (X_, y_), draw(fit_kwargs(net, n)))
            assert all(np.isfinite(w).all() for w in net.get_weights()), (
                "fit left non-finite weights"
            )
        elif what == "set_weights":
            r.call(net, what, net.set_weights, (draw(weight_list(net.get_weights())),), {})
        elif what == "set_state":
            r.call(net, what, net.set_state, (draw(weight_list(net.get_state(), "positive")),), {})
        elif what == "set_optimizer_state":
            m, v = net.get_optimizer_state()
            moments = [draw(weight_list(m)), draw(weight_list(v, "positive"))]
            opt = junk_or(
                draw,
                [
                    None,
                    {"name": "sgd", "momentum": 0.9},
                    {"name": "adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8},
                ],
                [{"name": "rmsprop"}, "adam", {"name": "adam", "beta1": 2}, 3],
            )
            steps = junk_or(draw, [0, 5, 2**64 - 1], [-1, 2**64, 1.5, "2"])
            r.call(net, what, net.set_optimizer_state, (moments, opt, steps), {})
        elif what == "save_load":
            path = os.path.join(r.tmpdir, "m")
            r.call(net, "save", __import__("mlpcore").save, (net, path), {}, read_only=True)
            backend = junk_or(draw, [None] + BACKENDS, ["gpu", 3])
            loaded = r.call(net, "load", mc.load, (path,), {"backend": backend}, read_only=True)
            if loaded is not None:
                self.check_same(net, loaded, "save/load")
        else:
            loaded = r.call(
                net, "pickle", lambda: pickle.loads(pickle.dumps(net)), (), {}, read_only=True
            )
            if loaded is not None:
                self.check_same(net, loaded, "pickle")

    @staticmethod
    def check_same(net, loaded, what):
        a, b = snapshot(net), snapshot(loaded)
        assert_same(a, b, f"{what} round trip")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("case_file")
    ap.add_argument("--calls", type=int, default=3000)
    ap.add_argument("--seconds", type=float, default=120)
    ap.add_argument("--seed", type=int, default=None)
    args = ap.parse_args()
    base = args.seed if args.seed is not None else int.from_bytes(os.urandom(4), "little")
    print(
        f"fuzz: layer kinds {[c.__name__ for c in LAYERS]}, engines {BACKENDS}, seed {base}",
        flush=True,
    )
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmpdir:
        fuzz = Fuzz(Runner(args.case_file, tmpdir))
        batch = 0
        while STATS["calls"] < args.calls and time.time() - t0 < args.seconds:

            @hseed(base + batch)
            @settings(
                max_examples=50,
                deadline=None,
                database=None,
                derandomize=False,
                suppress_health_check=list(HealthCheck),
                print_blob=True,
            )
            @given(st.data())
            def check(data):
                fuzz.run(data)

            check()
            batch += 1
    took = time.time() - t0
    print(
        f"fuzz: {STATS['calls']} calls in {took:.1f} s ({batch} batches of 50 examples, "
        f"seeds {base}..{base + batch - 1})",
        flush=True,
    )
    print("fuzz: " + ", ".join(f"{k} {v}" for k, v in sorted(STATS.items())), flush=True)
    os.remove(args.case_file)


if __name__ == "__main__":
    main()
