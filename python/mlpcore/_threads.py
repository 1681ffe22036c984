"""mlpcore.set_num_threads / get_num_threads: the number of threads of the BLAS bundled with
the C++ extension (the core's only thread pool). The extension raises ValueError above the
BLAS's maximum; threadpoolctl and OPENBLAS_NUM_THREADS limit the same pool. The NumPy twin
(backend="numpy") multiplies with NumPy's own BLAS, which these functions do not govern
(threadpoolctl does)."""
from . import _checks


def _core():
    try:
        from . import _core
    except ImportError as exc:
        raise RuntimeError("mlpcore's C++ extension (mlpcore._core) is not built, so there is "
                           "no bundled BLAS whose threads could be set; NumPy's BLAS (used by "
                           "backend='numpy') is limited with threadpoolctl") from exc
    return _core


def set_num_threads(n):
    """Sets the number of BLAS threads of the C++ engine (n >= 1, at most the BLAS's
    maximum, usually the number of cores). Results do not depend on it."""
    n = _checks.check_positive_int("n", n)
    if n > _checks.MAX_WIDTH:  # beyond a C int: certainly above any BLAS's maximum
        raise ValueError(f"n={n} exceeds the BLAS's maximum of "
                         f"{_core().get_num_threads()} threads")
    _core().set_num_threads(n)


def get_num_threads():
    """The number of BLAS threads the C++ engine uses."""
    return int(_core().get_num_threads())
