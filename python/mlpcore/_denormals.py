"""mlpcore.set_flush_denormals / get_flush_denormals: whether the C++ engine flushes
subnormal numbers (below 1.2e-38 in float32, 2.2e-308 in float64) to zero while it computes.

On by default. A trained classifier makes many subnormals (the softmax probabilities of
the classes it rules out, and the deltas they feed into every backward product), and on x86
each operation that meets one takes a microcode assist: training a 32-64-64-2 net slowed
from 16 to 57 us per step over 60 epochs without flushing (bench/README.md, "Subnormal
numbers"). TensorFlow and JAX flush on CPU too. Flushing changes a result only where a value
falls below those magnitudes. The setting holds for the whole process and every thread; the
calling thread's own floating-point mode (NumPy's, for example) is left as it was. The NumPy
twin (backend="numpy") never flushes."""

from . import _checks
from ._threads import _core


def set_flush_denormals(on):
    """Whether engine calls flush subnormal numbers to zero (True, the default) or keep
    IEEE gradual underflow (False, slower when subnormals occur).

    Examples
    --------
    >>> import mlpcore as mc
    >>> mc.set_flush_denormals(False)
    >>> mc.get_flush_denormals()
    False
    >>> mc.set_flush_denormals(True)
    """
    _core().set_flush_denormals(_checks.check_bool("on", on))


def get_flush_denormals():
    """Whether engine calls flush subnormal numbers to zero."""
    return bool(_core().get_flush_denormals())
