"""Shared by the benchmark driver, its worker and the peers: the configurations, the
synthetic data, the work count of a training step and the timing loops (median of repeats).
"""

import math
import os
import statistics
import time

import numpy as np

perf = time.perf_counter

LR = 0.01
SEED = 0
DROPOUT = 0.2
SERVE_ROWS = (4096, 1)


class Config:
    """One benchmarked network: widths, whether hidden blocks are Dense-BatchNorm-ReLU-Dropout
    (else Dense-ReLU), batch size and training-set size (full and --quick; both multiples of
    the batch size so every peer runs equal batches and no peer recompiles for a ragged one)."""

    def __init__(self, key, widths, blocks, batch, n, n_quick):
        self.key, self.widths, self.blocks, self.batch = key, tuple(widths), blocks, batch
        self.n, self.n_quick = n, n_quick
        assert n % batch == 0 and n_quick % batch == 0

    @property
    def title(self):
        return (
            "-".join(map(str, self.widths))
            + (" BN+Drop" if self.blocks else "")
            + f" b{self.batch}"
        )

    def samples(self, quick):
        return self.n_quick if quick else self.n


CONFIGS = [
    Config("a", (784, 256, 128, 10), False, 128, 8192, 512),
    Config("b", (784, 1024, 1024, 10), False, 256, 8192, 512),
    Config("c", (784, 256, 128, 10), True, 128, 8192, 512),
    Config("d", (64, 128, 10), False, 64, 16384, 1024),
    Config("e", (32, 64, 64, 2), False, 32, 16384, 1024),
]
BY_KEY = {c.key: c for c in CONFIGS}


def make_data(n, n_in, n_classes, seed):
    """Standard-normal float32 inputs (n, n_in), int64 labels (n,) = argmax of a random
    linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in), dtype=np.float32)
    teacher = rng.standard_normal((n_in, n_classes)).astype(np.float32)
    y = np.argmax(X @ teacher, axis=1).astype(np.int64)
    return X, y


def n_weights(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def flops_per_sample(widths):
    """Necessary work of one training sample: 2 flops per weight forward, 4 backward (input
    and weight gradients), less the first layer's input gradient that no one needs."""
    return 6 * n_weights(widths) - 2 * widths[0] * widths[1]


def summary(values):
    """{"median", "min", "max", "n"} of a list of rates or times."""
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


def cpu_seconds():
    """CPU time of this process, all its threads."""
    t = os.times()
    return t.user + t.system


def thread_cpu():
    """{thread id: CPU seconds} of this process's threads (Linux /proc), {} elsewhere."""
    out = {}
    hz = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    try:
        for tid in os.listdir("/proc/self/task"):
            with open(f"/proc/self/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            out[tid] = (int(fields[11]) + int(fields[12])) / hz  # utime + stime
    except (OSError, ValueError, IndexError):
        return {}
    return out


def busy_threads(before, after, wall):
    """How many threads each used more than 20% of the wall time between two thread_cpu()
    samples: the number of threads a peer really ran on (None without /proc)."""
    if not before and not after:
        return None
    return sum(1 for tid, t in after.items() if t - before.get(tid, 0.0) > 0.2 * wall)


def measure_training(run, n_samples, seconds, repeats, warm_seconds):
    """run(k) trains k epochs and returns the epochs it did. Warms up (at least one epoch and
    warm_seconds), calibrates epochs per repeat to ~seconds, then times repeats (at most 3
    when one epoch takes longer than 2 x seconds).
    Returns summary(samples/s) plus "epochs" per repeat, "cpu_per_wall" (cores busy on
    average) and "busy_threads" (threads that ran > 20% of the time: a check that the thread
    limit took effect) and "per_cpu_second" (summary of samples per CPU-second of the
    process: with one thread, a figure that other processes on the machine barely move)."""
    t0 = perf()
    run(1)
    while perf() - t0 < warm_seconds:
        run(1)
    t0 = perf()
    done = run(1)
    per_epoch = (perf() - t0) / max(done, 1)
    k = int(min(1000, max(1, round(seconds / max(per_epoch, 1e-9)))))
    if per_epoch > 2 * seconds:  # a slow peer (or a busy machine): bound the time spent
        repeats = min(repeats, 3)
    rates, cpu_rates = [], []
    c0, w0, th0 = cpu_seconds(), perf(), thread_cpu()
    for _ in range(repeats):
        t0, tc = perf(), cpu_seconds()
        done = run(k)
        rates.append(done * n_samples / (perf() - t0))
        cpu_rates.append(done * n_samples / max(cpu_seconds() - tc, 1e-3))
    out = summary(rates)
    wall = perf() - w0
    out.update(
        epochs=k,
        cpu_per_wall=(cpu_seconds() - c0) / wall,
        busy_threads=busy_threads(th0, thread_cpu(), wall),
        per_cpu_second=summary(cpu_rates),
    )
    return out


def measure_calls(fn, seconds, repeats, warm_seconds=0.05, max_calls=100000, clock=perf):
    """Seconds per call of fn(): warm-up, calibration of calls per repeat (each repeat lasts
    ~seconds), then summary() over the repeats of the mean time per call, plus "calls" per
    repeat, "cpu_per_wall" (threads busy on average) and "cpu_seconds" (summary of the
    process's CPU seconds per call: with one thread, robust to other load; os.times has a
    10 ms tick, so it needs repeats of ~0.1 s or more). clock=time.process_time times
    single-threaded work in CPU time, which other processes barely move."""
    t0 = perf()
    fn()
    while perf() - t0 < warm_seconds:
        fn()
    t0 = perf()
    fn()
    one = max(perf() - t0, 1e-7)
    calls = int(min(max_calls, max(1, seconds / one)))
    times, cpu_times = [], []
    c0, w0 = cpu_seconds(), perf()
    for _ in range(repeats):
        t0, tc = clock(), cpu_seconds()
        for _ in range(calls):
            fn()
        times.append((clock() - t0) / calls)
        cpu_times.append((cpu_seconds() - tc) / calls)
    out = summary(times)
    out.update(
        calls=calls,
        cpu_per_wall=(cpu_seconds() - c0) / (perf() - w0),
        cpu_seconds=summary(cpu_times),
    )
    return out


def gflops(m, k, n, seconds_per_call):
    return 2.0 * m * k * n / seconds_per_call / 1e9 if seconds_per_call > 0 else math.nan
