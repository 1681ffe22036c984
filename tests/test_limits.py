"""Huge row counts, huge layers, divergence that leaves finite
but useless weights, and the private engine's parameter count. The calls that could crash or
exhaust the machine run in a child process (with an address-space limit where memory is the
point), so a crash is reported as a failed test with the child's output, never a dead run."""

import os
import subprocess
import sys
import tempfile
import textwrap

import numpy as np
import pytest

import mlpcore as mc

from conftest import assert_unchanged, require_backend, snapshot

SANITIZED = pytest.mark.skipif(
    bool(os.environ.get("MLPCORE_SANITIZED")),
    reason="ASan reserves terabytes of address space (no RLIMIT_AS) and slows 8 GiB inputs",
)


def run_child(code, limit_bytes=None, timeout=600):
    """Runs code in a fresh interpreter (optionally under RLIMIT_AS = limit_bytes); returns
    its output; fails the test, with that output, if the child crashes or fails. The output
    goes through files and repeated lines are dropped: a BLAS given illegal sizes printed
    millions of identical error lines."""
    prelude = ""
    if limit_bytes is not None:
        prelude = (
            f"import resource; resource.setrlimit(resource.RLIMIT_AS, "
            f"({limit_bytes}, {limit_bytes}))\n"
        )
    with tempfile.TemporaryFile() as out:
        proc = subprocess.run(
            [sys.executable, "-c", prelude + textwrap.dedent(code)],
            stdout=out,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
        out.seek(0)
        lines, last, repeats = [], None, 0
        for raw in out:
            line = raw.decode(errors="replace").rstrip("\n")
            if line == last:
                repeats += 1
                continue
            if repeats:
                lines.append(f"    (previous line repeated {repeats} more times)")
            lines.append(line)
            last, repeats = line, 0
        if repeats:
            lines.append(f"    (previous line repeated {repeats} more times)")
    text = "\n".join(lines[-80:])
    if proc.returncode < 0:
        pytest.fail(f"the child process was killed by signal {-proc.returncode}:\n{text}")
    assert proc.returncode == 0, f"the child process failed (exit {proc.returncode}):\n{text}"
    print(text)
    return text


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ---- item 1: 2**31 - 1 rows ----------------------------------------------------------------
@SANITIZED
@pytest.mark.skipif(
    mem_available() < 14 << 30, reason="needs about 12 GiB free (an 8 GiB prediction + checks)"
)
@pytest.mark.skipif(bool(os.environ.get("MLPCORE_SKIP_BIGMEM")), reason="MLPCORE_SKIP_BIGMEM set")
def test_two_to_the_31_minus_1_rows():
    """X = zeros((2**31 - 1, 1), float32): loss and predict must work or raise a clean
    ValueError/MemoryError, never crash (an int row offset overflowed). The zeros are calloc'ed
    pages that are never written, so X itself costs no memory; runtime ~20 s per call."""
    require_backend("native")
    out = run_child("""
        import time
        import numpy as np, mlpcore as mc
        n = 2**31 - 1
        X = np.zeros((n, 1), np.float32)
        net = mc.Sequential([mc.Dense(1, 1)], loss="mse", dtype="float32", seed=0)
        for call in ("loss", "predict"):
            t = time.time()
            try:
                r = net.loss(X, X) if call == "loss" else net.predict(X)
                ok = (r == 0.0) if call == "loss" else (r.shape == (n, 1) and r[-1, 0] == r[0, 0])
                print(call, "worked", "correct" if ok else f"WRONG {r!r}", flush=True)
            except (ValueError, MemoryError) as e:
                print(call, "raised", type(e).__name__, str(e)[:200], flush=True)
            print(call, f"{time.time() - t:.1f} s", flush=True)
            r = None
    """)
    assert "WRONG" not in out
    assert out.count("worked") + out.count("raised") == 2


# ---- item 2: a layer too big for the machine ------------------------------------------------
_HUGE_DENSE = """
    import numpy as np, mlpcore as mc
    try:
        net = mc.Sequential([mc.Dense(70000, 70000)], loss="mse", dtype="float32", seed=0)
        net.fit(np.zeros((2, 70000), np.float32), np.zeros((2, 70000), np.float32), epochs=1)
        print("worked")
    except MemoryError as e:
        print("MemoryError:", e)
"""


@SANITIZED
def test_a_layer_too_big_for_memory_is_a_clear_memory_error():
    """Under a 6 GiB address-space limit a 70000x70000 float32 Dense (19.6 GB of parameters)
    cannot be built: MemoryError naming the layer and the bytes, not std::bad_alloc."""
    require_backend("native")
    out = run_child(_HUGE_DENSE, limit_bytes=6 << 30)
    assert "MemoryError" in out, out  # 19.6 GB cannot fit a 6 GiB address space
    message = out.split("MemoryError:", 1)[1]
    assert "bad_alloc" not in message and "max_size" not in message, message
    assert "Dense" in message or "layers[0]" in message or "layer 0" in message, message
    assert "bytes" in message or "GB" in message or "GiB" in message, message


@SANITIZED
@pytest.mark.parametrize(
    "spec", [[("dense", 70000, 70000)], [("dense", 2**31 - 1, 2)]], ids=["70000x70000", "2**31-1x2"]
)
def test_the_engine_reports_what_it_cannot_allocate(spec):
    require_backend("native")
    out = run_child(
        f"""
        import mlpcore._core as c
        try:
            c.Network32({spec!r}, "mse", 0)
            print("built")
        except MemoryError as e:
            print("MemoryError:", e)
    """,
        limit_bytes=6 << 30,
    )
    assert "MemoryError" in out, out  # 17-20 GB of parameters, a 6 GiB address space
    message = out.split("MemoryError:", 1)[1]
    assert "bad_alloc" not in message and "bytes" in message, message


# ---- item 8: the private engine's parameter count -------------------------------------------
M = 2**31 - 1
# 4 * (M*M + M) + (4*M + 4) == 2**64: the 64-bit parameter count wraps to exactly 0.
WRAPS_TO_ZERO = [("dense", M, M)] * 4 + [("dense", M, 4)]


@SANITIZED
@pytest.mark.parametrize(
    "spec",
    [[("dense", M, M)], WRAPS_TO_ZERO, [("dense", M, M), ("relu", M, M), ("dense", M, M)]],
    ids=["one-huge-dense", "count-wraps-to-zero", "dense-relu-dense"],
)
@pytest.mark.parametrize("engine", ["Network32", "Network64"])
def test_the_private_engine_rejects_parameter_counts_that_overflow(spec, engine):
    require_backend("native")
    out = run_child(
        f"""
        import mlpcore._core as c
        try:
            net = c.{engine}({spec!r}, "mse", 0)
            print("BUILT with", net.get_params().size, "parameters")
        except ValueError as e:
            print("ValueError:", e)
        except Exception as e:
            print("OTHER", type(e).__name__, e)
    """,
        limit_bytes=4 << 30,
    )
    assert "ValueError:" in out, out
    message = out.split("ValueError:", 1)[1]
    assert message.strip() and "std::" not in message and "max_size" not in message, message


# ---- item 6: a fit that returns must leave a usable model -----------------------------------
DIVERGING = [  # (activation, loss, dtype, batch_size, lr): found to predict NaN/inf on main
    (mc.ReLU, "mse", "float32", 32, 1e10),
    (mc.ReLU, "mse", "float32", 1000, 1e20),
    (mc.ReLU, "mse", "float32", 4, 1e5),
    (mc.ReLU, "softmax_cross_entropy", "float32", 32, 1e10),
    (mc.Tanh, "mse", "float64", 1000, 1e30),
    (mc.Identity, "binary_cross_entropy", "float32", 1, 1e10),
    (mc.Sigmoid, "mse", "float64", 4, 1e10),
]


def _diverging_case(case, backend, n, seed):
    act, loss, dtype, batch_size, lr = case
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, 4))
    y = {
        "mse": rng.normal(size=(n, 8)),
        "softmax_cross_entropy": rng.integers(0, 8, n),
        "binary_cross_entropy": rng.integers(0, 2, (n, 8)).astype(float),
    }[loss]
    net = mc.Sequential(
        [mc.Dense(4, 32), act(), mc.Dense(32, 8)],
        loss=loss,
        dtype=dtype,
        seed=seed,
        backend=backend,
    )
    return net, X, y, dict(epochs=1, batch_size=batch_size, lr=lr)


@pytest.mark.parametrize(
    "case", DIVERGING, ids=[f"{a.__name__}-{l}-{d}-bs{b}-lr{lr:g}" for a, l, d, b, lr in DIVERGING]
)
@pytest.mark.parametrize("n, seed", [(8, 0), (100, 1), (32, 2)])
def test_fit_returns_only_models_that_predict_finite_values(case, n, seed, backend):
    """lr far too large on a 4-32-8 net: fit either raises FloatingPointError with the model
    as it was, or returns a model whose predictions and training loss are finite."""
    net, X, y, kw = _diverging_case(case, backend, n, seed)
    before = snapshot(net)
    with np.errstate(all="ignore"):
        try:
            net.fit(X, y, **kw)
        except FloatingPointError as e:
            assert str(e)
            assert_unchanged(net, before)
            return
        pred, loss = net.predict(X), net.loss(X, y)
    bad = int((~np.isfinite(pred)).sum())
    assert bad == 0, (
        f"fit returned normally but {bad} of {pred.size} predictions are not "
        f"finite (max |weight| {max(np.abs(w).max() for w in net.get_weights()):.3e})"
    )
    assert np.isfinite(loss), f"fit returned normally but the training loss is {loss}"


# ---- Python ints beyond float's range where a real number is expected -----------------------
HUGE = 10**400  # a valid Python int that no float can hold


@pytest.mark.parametrize(
    "kwargs, name",
    [
        ({"lr": HUGE}, "lr"),
        ({"weight_decay": HUGE}, "weight_decay"),
        ({"optimizer": "adam", "adam_eps": HUGE}, "adam_eps"),
    ],
)
def test_huge_ints_as_fit_arguments(kwargs, name, backend):
    net = mc.Sequential([mc.Dense(2, 2)], loss="mse", seed=0, backend=backend)
    before = snapshot(net)
    with pytest.raises(ValueError, match=name):
        net.fit(np.zeros((3, 2)), np.zeros((3, 2)), **kwargs)
    assert_unchanged(net, before)


@pytest.mark.parametrize(
    "make, name",
    [
        (lambda: mc.Dropout(p=HUGE), "p"),
        (lambda: mc.BatchNorm(3, momentum=HUGE), "momentum"),
        (lambda: mc.BatchNorm(3, eps=HUGE), "eps"),
    ],
    ids=["Dropout-p", "BatchNorm-momentum", "BatchNorm-eps"],
)
def test_huge_ints_as_layer_arguments(make, name):
    """Found by the fuzz test: math.isfinite(10**400) raises OverflowError in layers.py."""
    with pytest.raises(ValueError, match=name):
        make()
