"""Shared fixtures and helpers.

Most tests run on both engines through the `backend` fixture; the native one (mlpcore._core)
is skipped automatically until the C++ extension is built. Numerical comparisons go through
`assert_close`, which reports the actual maximum difference when it fails.
"""

import copy
import zlib

import numpy as np
import pytest

import mlpcore

BACKENDS = ["numpy", "native"]
DTYPES = ["float32", "float64"]

# Cross-engine tolerances: |a - ref| <= atol + rtol * |ref| elementwise. Room is left for a
# different summation order (BLAS vs NumPy), not for a different formula.
TOLERANCES = {
    "float64": {"rtol": 1e-10, "atol": 1e-12},
    "float32": {"rtol": 1e-4, "atol": 1e-5},
}


def require_backend(backend):
    """Skips the calling test when the requested engine is not available."""
    if backend == "native":
        pytest.importorskip("mlpcore._core", reason="the C++ engine mlpcore._core is not built")
    elif backend != "numpy":
        raise AssertionError(f"unknown backend {backend!r} in a test")
    return backend


@pytest.fixture(params=BACKENDS)
def backend(request):
    return require_backend(request.param)


@pytest.fixture
def native():
    """For tests that compare the C++ engine against the NumPy one."""
    return require_backend("native")


@pytest.fixture(params=DTYPES)
def dtype(request):
    return request.param


@pytest.fixture
def tol(dtype):
    return TOLERANCES[dtype]


def case_seed(request):
    """A seed that differs between test cases (including parametrized ones) but is stable
    from run to run."""
    return zlib.crc32(request.node.nodeid.encode())


@pytest.fixture
def rng(request):
    """Fresh random inputs, seeded per test case."""
    return np.random.default_rng(case_seed(request))


# ---- comparisons ---------------------------------------------------------------------------
def max_rel_diff(actual, expected, rtol, atol):
    """max |a - e| / (atol + rtol |e|): at most 1 when every element is within tolerance."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - e) / (atol + rtol * np.abs(e))))


def assert_close(actual, expected, rtol, atol, what="values"):
    """Elementwise |a - e| <= atol + rtol |e|, with the actual differences in the message."""
    a = np.asarray(actual)
    e = np.asarray(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape}, expected {e.shape}"
    assert np.isfinite(a).all(), f"{what}: non-finite values {a[~np.isfinite(a)][:5]}"
    err = max_rel_diff(a, e, rtol, atol)
    if a.size:
        absdiff = float(np.max(np.abs(a.astype(np.float64) - e.astype(np.float64))))
        scale = float(np.max(np.abs(e)))
    else:
        absdiff = scale = 0.0
    assert err <= 1.0, (
        f"{what}: max |diff| {absdiff:.3e} (max |ref| {scale:.3e}), max "
        f"|diff|/(atol + rtol|ref|) = {err:.3e} with rtol {rtol:g}, atol {atol:g}"
    )


def assert_all_close(actual_list, expected_list, rtol, atol, what="arrays"):
    assert len(actual_list) == len(expected_list), (
        f"{what}: {len(actual_list)} arrays, expected {len(expected_list)}"
    )
    for i, (a, e) in enumerate(zip(actual_list, expected_list)):
        assert_close(a, e, rtol, atol, what=f"{what}[{i}]")


def assert_all_equal(actual_list, expected_list, what="arrays"):
    """Bitwise equality of two lists of arrays (shape and dtype too)."""
    assert len(actual_list) == len(expected_list), (
        f"{what}: {len(actual_list)} arrays, expected {len(expected_list)}"
    )
    for i, (a, e) in enumerate(zip(actual_list, expected_list)):
        a, e = np.asarray(a), np.asarray(e)
        assert a.shape == e.shape and a.dtype == e.dtype, (
            f"{what}[{i}]: {a.dtype}{a.shape} vs {e.dtype}{e.shape}"
        )
        if not np.array_equal(a, e):
            diff = np.abs(a.astype(np.float64) - e.astype(np.float64))
            raise AssertionError(
                f"{what}[{i}] differs: max |diff| {np.nanmax(diff):.3e} at "
                f"{int(np.sum(diff != 0))} of {a.size} elements"
            )


# ---- finite differences --------------------------------------------------------------------
def numerical_gradient(f, x, eps=1e-6):
    """Central differences of the scalar f() w.r.t. every element of the float64 array x,
    which f reads and which is perturbed in place (and restored)."""
    assert x.dtype == np.float64
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, x), "x must be contiguous so that it can be perturbed in place"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + eps
        up = f()
        flat[i] = old - eps
        down = f()
        flat[i] = old
        gflat[i] = (up - down) / (2 * eps)
    return grad


# ---- models --------------------------------------------------------------------------------
def snapshot(model):
    """Everything a failed call must leave unchanged."""
    return {
        "weights": model.get_weights(),
        "state": model.get_state(),
        "epoch_": model.epoch_,
        "step_": model.step_,
        "history": copy.deepcopy(model.history_),
    }


def assert_unchanged(model, snap):
    assert_all_equal(model.get_weights(), snap["weights"], "weights")
    assert_all_equal(model.get_state(), snap["state"], "state")
    assert (model.epoch_, model.step_) == (snap["epoch_"], snap["step_"])
    assert model.history_ == snap["history"]


def random_weights(model, rng, scale=0.5):
    """Random parameters shaped like model.get_weights() (BatchNorm gamma kept positive)."""
    out = []
    for w in model.get_weights():
        out.append(rng.normal(0, scale, w.shape))
    return out


def targets(loss, n, k, rng):
    """Valid targets for a loss: integer labels for softmax, 0/1 for BCE, -1/1 labels for the
    hinge losses, normals for mse."""
    if loss == "softmax_cross_entropy":
        return rng.integers(0, k, n)
    if loss == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k)).astype(np.float64)
    if loss in ("hinge", "squared_hinge"):
        return rng.choice([-1.0, 1.0], (n, k))
    return rng.normal(size=(n, k))


def make(layers, backend, **kw):
    """A Sequential for engine tests: float64 half squared error unless the test says
    otherwise (Sequential itself has no default loss and defaults to float32)."""
    kw.setdefault("loss", "mse")
    kw.setdefault("dtype", "float64")
    return mlpcore.Sequential(layers, backend=backend, **kw)


# ---- PyTorch replays -----------------------------------------------------------------------
def torch_cross_entropy_steps(torch, net, opt, X, y, epochs, batch_size):
    """Trains the torch module net with the optimizer opt on cross-entropy over X, y in order
    (no shuffle), batch after batch, as fit(shuffle=False) does."""
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    for _ in range(epochs):
        for s in range(0, len(X), batch_size):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(
                net(Xt[s : s + batch_size]), yt[s : s + batch_size]
            ).backward()
            opt.step()


def torch_sgd_mse_losses(torch, net, X, y, seed, epochs, batch_size, lr, fold_single):
    """Trains the torch module net with plain SGD on half the squared error (summed over
    outputs, mean over the batch: our "mse") over the same batches as fit (the twin's shuffle
    and batch bounds); returns the per-epoch losses as fit reports them."""
    from mlpcore.reference import rng as ref_rng
    from mlpcore.reference.train import batch_bounds

    n = X.shape[0]
    opt = torch.optim.SGD(net.parameters(), lr=lr)
    losses = []
    for epoch in range(epochs):
        order = ref_rng.permutation(seed, epoch, n)
        total = 0.0
        for start, end in batch_bounds(n, batch_size, fold_single):
            xb, yb = (torch.from_numpy(a[order[start:end]]) for a in (X, y))
            opt.zero_grad()
            loss = 0.5 * ((net(xb) - yb) ** 2).sum(dim=1).mean()  # half squared error
            loss.backward()
            opt.step()
            total += loss.item() * (end - start)
        losses.append(total / n)
    return losses


# ---- threads -------------------------------------------------------------------------------
@pytest.fixture
def one_blas_thread():
    """Limits every BLAS (the engine's OpenBLAS loaded first, so the limit reaches it) to one
    thread: tiny problems run fastest so."""
    from threadpoolctl import threadpool_limits

    try:
        import mlpcore._core  # noqa: F401
    except ImportError:
        pass
    with threadpool_limits(limits=1, user_api="blas"):
        yield


# ---- the closing line: what was skipped for a missing optional dependency ------------------
# import name -> what installs it (the extras of pyproject.toml)
OPTIONAL = {
    "torch": "torch, its CPU-only build",
    "onnx": ".[onnx]",
    "onnxruntime": ".[onnx]",
    "sklearn": ".[test]",
    "pandas": ".[test]",
    "matplotlib": ".[test]",
    "dask": ".[test]",
    "distributed": ".[test]",
    "dask_ml": ".[test]",
    "hypothesis": ".[test]",
    "threadpoolctl": ".[test]",
    "scipy": ".[test]",
    "graphviz": ".[test]",
}


def _missing_dependencies(reason):
    """The optional modules a skip reason says are missing: pytest.importorskip's "could not
    import 'torch': ..." and "needs the optional dependency onnx, onnxruntime (not installed)"."""
    import re

    names = re.findall(r"could not import '([\w.]+)'", reason)
    m = re.search(r"needs the optional dependency ([\w., ]+) \(not installed\)", reason)
    if m:
        names += [n.strip() for n in m.group(1).split(",")]
    return [n.split(".")[0] for n in names if n.split(".")[0] != "mlpcore"]


def pytest_terminal_summary(terminalreporter):
    """One line near the end of the run naming the optional dependencies whose absence
    skipped tests: whole modules (skipped at collection) and single tests."""
    counts = {}  # name -> [modules, tests]
    for report in terminalreporter.stats.get("skipped", []):
        longrepr = report.longrepr
        reason = (
            longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)
        )
        for name in _missing_dependencies(reason):
            counts.setdefault(name, [0, 0])[0 if report.when == "collect" else 1] += 1
    if not counts:
        terminalreporter.write_line("optional dependencies: none missing, no test skipped for one")
        return

    def plural(n, word):
        return f"{n} {word}{'s' if n != 1 else ''}"

    parts = []
    for name, (modules, tests) in sorted(counts.items()):
        what = " and ".join(plural(n, w) for n, w in ((modules, "module"), (tests, "test")) if n)
        parts.append(f"{name} ({what}; install {OPTIONAL.get(name, name)})")
    terminalreporter.write_line(
        "skipped for a missing optional dependency: "
        + ", ".join(parts)
        + "; the README's set-up says how to run the whole suite"
    )
