"""Counter-based random numbers, identical in C++ (cpp/include/mlpcore/rng.hpp) and here.

Every random draw is a pure function of (seed, stream, a, b, index): no generator state,
so both engines draw the same numbers in any order and on any number of threads.

    key(seed, stream, a, b) = mix(mix(mix(mix(seed + G) + G*(stream+1)) + G*(a+1)) + G*(b+1))
    bits(key, i)            = mix(key + G*(i+1))            # SplitMix64's output function

all arithmetic modulo 2**64, G = 0x9E3779B97F4A7C15 and mix the SplitMix64 finaliser.
Streams: SHUFFLE (a = epoch, b = 0) and DROPOUT (a = training step, b = layer index).
"""

import numpy as np

MASK = (1 << 64) - 1
GOLDEN = 0x9E3779B97F4A7C15
STREAM_SHUFFLE = 1
STREAM_DROPOUT = 2
TWO53 = 9007199254740992.0  # 2**53


def _mix_int(z):
    """SplitMix64 finaliser on a Python int."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _mix_array(z):
    """SplitMix64 finaliser on a uint64 array (wrapping arithmetic)."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def key(seed, stream, a, b):
    """The 64-bit key of one stream of draws."""
    k = _mix_int((seed + GOLDEN) & MASK)
    for part in (stream, a, b):
        k = _mix_int((k + GOLDEN * (part + 1)) & MASK)
    return k


def bits(k, n):
    """n random 64-bit integers: bits(k, i) for i in range(n)."""
    with np.errstate(over="ignore"):
        i = np.arange(1, n + 1, dtype=np.uint64)
        return _mix_array(np.uint64(k) + np.uint64(GOLDEN) * i)


def permutation(seed, epoch, n):
    """The epoch's shuffle: indices sorted by their random key (ties by index)."""
    return np.argsort(bits(key(seed, STREAM_SHUFFLE, epoch, 0), n), kind="stable")


def keep_threshold(p):
    """Element i is kept when (bits >> 11) >= keep_threshold(p), i.e. with probability 1 - p."""
    return np.uint64(int(p * TWO53))


def dropout_keep(seed, step, layer, n, p):
    """Boolean keep-mask of n elements for one dropout layer at one training step."""
    return (bits(key(seed, STREAM_DROPOUT, step, layer), n) >> np.uint64(11)) >= keep_threshold(p)
