"""Memory a call will need, checked against what the machine can still give before anything
is allocated: an oversized model raises MemoryError naming what needs the memory, instead
of being ended by the kernel's OOM killer once the pages are touched (the C++ engine does the
same for its own buffers, cpp/include/mlpcore/memory.hpp)."""

import os

_LARGE = 64 << 20  # smaller requests are not checked (reading /proc/meminfo costs time)


def _meminfo_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _cgroup_available(root="/sys/fs/cgroup", self_cgroup="/proc/self/cgroup"):
    """The tightest (limit - usage) over this process's memory cgroup and the cgroups above
    it: cgroup v2 (memory.max, memory.current) or v1 (memory/memory.limit_in_bytes,
    memory.usage_in_bytes; a container often sees its own cgroup as the mount's root). None
    where there is no limit or none can be read. A container's limit is there, not in
    /proc/meminfo, which shows the host's memory."""
    try:
        with open(self_cgroup) as f:
            lines = [line.rstrip("\n").split(":", 2) for line in f]
    except OSError:
        return None
    paths = {}  # version -> the cgroup path of this process
    for fields in lines:
        if len(fields) == 3 and fields[0] == "0" and fields[1] == "":
            paths[2] = fields[2]
        elif len(fields) == 3 and "memory" in fields[1].split(","):
            paths[1] = fields[2]
    candidates = []
    for version, (base, limit_name, usage_name) in {
        2: (root, "memory.max", "memory.current"),
        1: (os.path.join(root, "memory"), "memory.limit_in_bytes", "memory.usage_in_bytes"),
    }.items():
        if version not in paths:
            continue
        parts = [p for p in paths[version].split("/") if p]
        candidates += [
            (os.path.join(base, *parts[:depth]), limit_name, usage_name)
            for depth in range(len(parts), -1, -1)
        ]
    best = None
    for directory, limit_name, usage_name in candidates:
        try:
            with open(os.path.join(directory, limit_name)) as f:
                limit = f.read().strip()
            if limit == "max" or int(limit) >= 1 << 60:  # no limit (v1 writes ~2**63)
                continue
            with open(os.path.join(directory, usage_name)) as f:
                free = max(0, int(limit) - int(f.read().strip()))
        except (OSError, ValueError):
            continue
        best = free if best is None else min(best, free)
    return best


def available_bytes():
    """What the process can still allocate: MemAvailable from /proc/meminfo, or less where
    its cgroup (a container) has a memory.max limit; None where neither can be read."""
    values = [v for v in (_meminfo_available(), _cgroup_available()) if v is not None]
    return min(values) if values else None


def require(n_bytes, what):
    """Raises MemoryError when n_bytes exceeds the available memory; `what` names the need."""
    if n_bytes <= _LARGE:
        return
    avail = available_bytes()
    if avail is not None and n_bytes > avail:
        raise MemoryError(
            f"not enough memory for {what}: {n_bytes} bytes "
            f"({n_bytes / 2**30:.1f} GiB) needed, the machine (or its cgroup) has "
            f"{avail / 2**30:.1f} GiB available"
        )


def describe_largest(layout):
    """'layers[i] (repr)', the layer of layout with the most parameters."""
    sizes = [
        (sum(_prod(p.shape) for p in layer.params(w)), i)
        for i, (layer, w) in enumerate(zip(layout.layers, layout.widths))
    ]
    _, i = max(sizes)
    return f"layers[{i}] ({layout.layers[i]!r})"


def _prod(shape):
    n = 1
    for d in shape:
        n *= int(d)
    return n
