"""How busy other processes keep the CPU (the benchmark's noise gauge)."""

import os


class OtherLoad:
    """The machine's busy time from /proc/stat minus this process's own CPU time (and its
    children's), as a fraction of all cores, since construction. None where /proc/stat does
    not exist."""

    def __init__(self):
        self.hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.start = self._sample()

    def _sample(self):
        try:
            with open("/proc/stat") as f:
                vals = [int(v) for v in f.readline().split()[1:]]
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
            total = sum(vals[:8])  # guest time is already counted in user
        except (OSError, ValueError, IndexError):
            return None
        t = os.times()
        return idle, total, t.user + t.system + t.children_user + t.children_system

    def fraction(self):
        now = self._sample()
        if now is None or self.start is None or now[1] <= self.start[1]:
            return None
        total = (now[1] - self.start[1]) / self.hz
        busy = total - (now[0] - self.start[0]) / self.hz
        own = now[2] - self.start[2]
        return min(1.0, max(0.0, (busy - own) / total))
