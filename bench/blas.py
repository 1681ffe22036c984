"""The sgemm rate of every BLAS present (the physical limit of a training step) and, as a
diagnostic, one-row products: the bundled OpenBLAS's sgemm with M=1 against its sgemv.

BLASes: the OpenBLAS bundled with mlpcore (mlpcore._core.testing.gemm, or
mlpcore._core.gemm in older builds), torch.mm, numpy.matmul, and jax.numpy.dot under jit.
"""

import ctypes
import os

import numpy as np
from common import gflops, measure_calls


def bundled_gemm():
    """The extension's gemm binding (op(a) @ op(b) through the bundled OpenBLAS), or None."""
    try:
        from mlpcore import _core
    except ImportError:
        return None
    testing = getattr(_core, "testing", None)
    if testing is not None and hasattr(testing, "gemm"):
        return testing.gemm
    return getattr(_core, "gemm", None)


def bundled_cblas():
    """ctypes handle on the OpenBLAS shipped next to the extension (the same loaded copy,
    so its thread setting applies), or None. Used for sgemv/sgemm without binding overhead."""
    try:
        import mlpcore
    except ImportError:
        return None
    path = os.path.join(os.path.dirname(mlpcore.__file__), "libscipy_openblas.so")
    if not os.path.exists(path):
        return None
    try:
        lib = ctypes.CDLL(path)
        lib.scipy_cblas_sgemv
        lib.scipy_cblas_sgemm
    except (OSError, AttributeError):
        return None
    return lib


def bundled_core():
    """The CPU kernel set the bundled OpenBLAS runs (e.g. SkylakeX = AVX-512, Haswell = AVX2),
    with OPENBLAS_CORETYPE when that environment variable forces it."""
    lib = bundled_cblas()
    try:
        lib.scipy_openblas_get_corename.restype = ctypes.c_char_p
        name = lib.scipy_openblas_get_corename().decode()
    except (AttributeError, OSError):
        return "unknown"
    forced = os.environ.get("OPENBLAS_CORETYPE")
    return name + (f", forced by OPENBLAS_CORETYPE={forced}" if forced else "")


def blas_products():
    """{name: (description, make(a, b) -> zero-argument callable computing a @ b)}."""
    out = {}
    gemm = bundled_gemm()
    if gemm is not None:
        out["openblas"] = (
            "mlpcore's gemm ("
            + gemm.__module__
            + "."
            + gemm.__name__
            + ": the bundled OpenBLAS on one thread, cut into panels on mlpcore's"
            f" pool; kernels for core {bundled_core()})",
            lambda a, b: lambda: gemm(a, b),
        )
    try:
        import torch

        mkl = torch.backends.mkl.is_available()
        out["torch"] = (
            f"torch.mm (torch {torch.__version__}, MKL={mkl})",
            lambda a, b: lambda ta=torch.from_numpy(a), tb=torch.from_numpy(b): torch.mm(ta, tb),
        )
    except ImportError:
        pass
    cfg = np.show_config(mode="dicts") if hasattr(np, "show_config") else {}
    try:
        blas = cfg["Build Dependencies"]["blas"]
        name = f"{blas.get('name')} {blas.get('version')}"
    except (KeyError, TypeError):
        name = "its BLAS"
    out["numpy"] = (
        f"numpy.matmul (numpy {np.__version__}, {name})",
        lambda a, b: lambda: np.matmul(a, b),
    )
    try:
        import jax
        import jax.numpy as jnp

        dot = jax.jit(jnp.dot)

        def make(a, b):
            ja, jb = jnp.asarray(a), jnp.asarray(b)
            return lambda: dot(ja, jb).block_until_ready()

        out["jax"] = (f"jax.numpy.dot under jit (jax {jax.__version__}, XLA CPU)", make)
    except ImportError:
        pass
    return out


def sgemm_rates(shapes, seconds, repeats):
    """{blas: {"MxKxN": summary of GFLOP/s, plus "per_cpu_second"}} for every BLAS present and
    every (M, K, N)."""
    rng = np.random.default_rng(1)
    out = {}
    for name, (_, make) in blas_products().items():
        out[name] = {}
        for m, k, n in shapes:
            a = rng.standard_normal((m, k), dtype=np.float32)
            b = rng.standard_normal((k, n), dtype=np.float32)
            t = measure_calls(make(a, b), seconds, repeats, warm_seconds=min(0.1, seconds))
            out[name][f"{m}x{k}x{n}"] = {
                "median": gflops(m, k, n, t["median"]),
                "min": gflops(m, k, n, t["max"]),
                "max": gflops(m, k, n, t["min"]),
                "n": t["n"],
                "calls": t["calls"],
                "cpu_per_wall": t["cpu_per_wall"],
                # GFLOP per CPU-second: the single-thread rate other processes barely move
                "per_cpu_second": gflops(m, k, n, t["cpu_seconds"]["median"]),
            }
    return out


def one_row(shapes, seconds, repeats):
    """Microseconds of x @ W for one row x (1, K), W (K, N): the bundled OpenBLAS's sgemm
    with M=1 and its sgemv (both through ctypes, no allocation), the gemm binding, numpy
    and torch. Returns {"KxN": {routine: median us}}."""
    rng = np.random.default_rng(2)
    lib = bundled_cblas()
    gemm = bundled_gemm()
    products = blas_products()
    out = {}
    for k, n in shapes:
        x = rng.standard_normal((1, k), dtype=np.float32)
        w = rng.standard_normal((k, n), dtype=np.float32)
        y = np.empty((1, n), np.float32)
        row = out[f"{k}x{n}"] = {}
        calls = {}
        if lib is not None:
            px, pw, py = (a.ctypes.data_as(ctypes.c_void_p) for a in (x, w, y))
            one, zero = ctypes.c_float(1.0), ctypes.c_float(0.0)
            # RowMajor=101, NoTrans=111, Trans=112
            calls["openblas sgemm M=1"] = lambda: lib.scipy_cblas_sgemm(
                101, 111, 111, 1, n, k, one, px, k, pw, n, zero, py, n
            )
            calls["openblas sgemv"] = lambda: lib.scipy_cblas_sgemv(
                101, 112, k, n, one, pw, n, px, 1, zero, py, 1
            )
        if gemm is not None:
            calls["gemm binding M=1"] = lambda: gemm(x, w)
        for name in ("numpy", "torch"):
            if name in products:
                calls[name] = products[name][1](x, w)
        for name, fn in calls.items():
            row[name] = measure_calls(fn, seconds, repeats, warm_seconds=0.02)["median"] * 1e6
    return out
