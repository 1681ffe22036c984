"""Memory a call will need, checked against what the machine can still give before anything
is allocated: an oversized model raises MemoryError naming what needs the memory, instead
of being ended by the kernel's OOM killer once the pages are touched (the C++ engine does the
same for its own buffers, cpp/include/mlpcore/memory.hpp)."""

_LARGE = 64 << 20  # smaller requests are not checked (reading /proc/meminfo costs time)


def available_bytes():
    """MemAvailable from /proc/meminfo, or None where it cannot be read."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def require(n_bytes, what):
    """Raises MemoryError when n_bytes exceeds the available memory; `what` names the need."""
    if n_bytes <= _LARGE:
        return
    avail = available_bytes()
    if avail is not None and n_bytes > avail:
        raise MemoryError(f"not enough memory for {what}: {n_bytes} bytes "
                          f"({n_bytes / 2**30:.1f} GiB) needed, the machine has "
                          f"{avail / 2**30:.1f} GiB available")


def describe_largest(layout):
    """'layers[i] (repr)', the layer of layout with the most parameters."""
    sizes = [(sum(_prod(p.shape) for p in layer.params(w)), i)
             for i, (layer, w) in enumerate(zip(layout.layers, layout.widths))]
    _, i = max(sizes)
    return f"layers[{i}] ({layout.layers[i]!r})"


def _prod(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n
