"""mlpcore.set_num_threads / get_num_threads: the number of threads of the C++ engine's own
pool (cpp/src/parallel.cpp), which splits big products and row blocks; the bundled OpenBLAS
always runs on one thread. The default comes from MLPCORE_NUM_THREADS, else
OPENBLAS_NUM_THREADS, else OMP_NUM_THREADS, else the CPUs the process may use. When
threadpoolctl (3.5 or newer) is installed, the pool is registered with it as a "blas" library
(internal_api "mlpcore"), so `threadpool_limits(1)` and `threadpool_limits(1, user_api="blas")`
limit it.
The NumPy twin (backend="numpy") multiplies with NumPy's own BLAS, which these functions do
not govern (threadpoolctl does)."""

import contextlib
import importlib.util

from . import _checks


def _core():
    try:
        from . import _core
    except ImportError as exc:
        raise RuntimeError(
            "mlpcore's C++ extension (mlpcore._core) is not built, so there is "
            "no bundled BLAS whose threads could be set; NumPy's BLAS (used by "
            "backend='numpy') is limited with threadpoolctl"
        ) from exc
    return _core


MAX_THREADS = 256  # parallel::MAX_THREADS


def set_num_threads(n):
    """Sets the number of threads of the C++ engine (1 <= n <= 256). Any count gives
    bitwise the same results (docs/guide/performance.md, "Threads").

    Examples
    --------
    >>> import mlpcore as mc
    >>> before = mc.get_num_threads()
    >>> mc.set_num_threads(1)
    >>> mc.get_num_threads()
    1
    >>> mc.set_num_threads(before)
    """
    n = _checks.check_positive_int("n", n)
    if n > MAX_THREADS:
        raise ValueError(f"n={n} exceeds the maximum of {MAX_THREADS} threads")
    _core().set_num_threads(n)


def get_num_threads():
    """The number of threads the C++ engine uses."""
    return int(_core().get_num_threads())


@contextlib.contextmanager
def limited(n):
    """The engine's thread count set to n inside the block and restored after it (a
    set/get pair: microseconds, where threadpoolctl scans every loaded library)."""
    before = get_num_threads()
    set_num_threads(min(n, MAX_THREADS))
    try:
        yield
    finally:
        set_num_threads(before)


def register_with_threadpoolctl():
    """Makes threadpoolctl see and limit the engine's pool (a no-op without threadpoolctl or
    without the extension). Called once, when mlpcore is imported."""
    if importlib.util.find_spec("threadpoolctl") is None:
        return
    try:
        from . import _core  # noqa: F401  (without the extension there is no pool)
    except ImportError:
        return
    try:
        import threadpoolctl

        version = tuple(int(p) for p in threadpoolctl.__version__.split(".")[:2])
    except Exception:  # an unusable threadpoolctl must not break `import mlpcore`
        return
    if version < (3, 5):  # custom controllers with check_symbols for every library: 3.5+
        return

    class MlpcoreController(threadpoolctl.LibController):
        user_api = "blas"
        internal_api = "mlpcore"
        filename_prefixes = ("_core",)
        check_symbols = ("mlpcore_get_num_threads", "mlpcore_set_num_threads")

        def get_num_threads(self):
            return self.dynlib.mlpcore_get_num_threads()

        def set_num_threads(self, num_threads):
            self.dynlib.mlpcore_set_num_threads(int(num_threads))

        def get_version(self):
            from ._version import __version__

            return __version__

    try:
        if not any(
            getattr(c, "internal_api", None) == "mlpcore"
            for c in getattr(threadpoolctl, "_ALL_CONTROLLERS", ())
        ):
            threadpoolctl.register(MlpcoreController)
    except Exception:
        return
