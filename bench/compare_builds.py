#!/usr/bin/env python
"""Two builds of mlpcore, one training step each, under many process layouts: us per step of
Sequential.fit (the bench's mlpcore trainer) at 1 thread, pinned to one CPU (or, with
--threads 2, on two threads and every CPU the process may use), for each build and each
layout in turn, then the medians, ranges and the ratio per layout.

    python bench/compare_builds.py SITE_A SITE_B [--configs de] [--layouts 16] [--seconds 1.2]
                                   [--threads 1]

SITE_A and SITE_B are directories that hold an installed mlpcore (pip install --target DIR .).
A layout is an environment variable of 0-120 bytes (or none): it moves the process's stack,
and with it where some buffers fall. On a Sapphire Rapids class Xeon one build's
64-128-10 b64 step moved between 28.3 and 32.1 us with nothing else changed, more than the
change being measured, so one layout alone can rank two builds either way
(bench/README.md, finding 15).
"""

import argparse
import os
import statistics
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))

CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[1])
from common import BY_KEY, make_data
from peers import mlpcore_peer
cfg = BY_KEY[sys.argv[2]]
seconds = float(sys.argv[3])
X, y = make_data(cfg.n, cfg.widths[0], cfg.widths[-1], 0)
run = mlpcore_peer.trainer(cfg, X, y)
run(1)
t0, epochs = time.perf_counter(), 0
while time.perf_counter() - t0 < seconds:
    epochs += run(5)
steps = epochs * cfg.n // cfg.batch
print((time.perf_counter() - t0) / steps * 1e6)
"""


def step_us(site, key, seconds, pad, cpus, threads):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env.update(PYTHONPATH=site, MLPCORE_NUM_THREADS=str(threads))
    if pad is not None:
        env["MLPCORE_BENCH_LAYOUT"] = "a" * pad
    out = subprocess.run(
        [sys.executable, "-c", CHILD, HERE, key, str(seconds)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        preexec_fn=lambda: os.sched_setaffinity(0, cpus),
    )
    return float(out.stdout.split()[-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("site_a")
    ap.add_argument("site_b")
    ap.add_argument("--configs", default="de", help="config keys of bench/common.py")
    ap.add_argument("--layouts", type=int, default=16, help="none, then pads of 0, 8, 16, ...")
    ap.add_argument("--seconds", type=float, default=1.2, help="per timing")
    ap.add_argument("--cpu", type=int, default=max(os.sched_getaffinity(0)), help="at 1 thread")
    ap.add_argument("--threads", type=int, default=1, help="> 1: every CPU, not pinned")
    args = ap.parse_args()
    cpus = {args.cpu} if args.threads == 1 else os.sched_getaffinity(0)
    pads = [None] + [8 * i for i in range(args.layouts - 1)]
    sys.path.insert(0, HERE)
    from bench_threads import cpu_description
    from common import BY_KEY

    where = f"1 thread on CPU {args.cpu}" if args.threads == 1 else f"{args.threads} threads"
    print(f"# compare_builds: {cpu_description()}; {where}")
    print(f"# A = {args.site_a}\n# B = {args.site_b}")
    print(
        "\n| config | A us/step (median, range) | B us/step (median, range) | A / B median | A / B per layout |"
    )
    print("|---|---|---|---|---|")
    for key in args.configs:
        a, b = [], []
        for pad in pads:
            a.append(step_us(args.site_a, key, args.seconds, pad, cpus, args.threads))
            b.append(step_us(args.site_b, key, args.seconds, pad, cpus, args.threads))
        per = [x / y for x, y in zip(a, b)]
        name = BY_KEY[key].title
        ma, mb = statistics.median(a), statistics.median(b)
        print(
            f"| {name} | {ma:.2f} ({min(a):.2f}-{max(a):.2f}) | {mb:.2f} ({min(b):.2f}-{max(b):.2f}) "
            f"| {ma / mb:.3f} | {min(per):.2f}-{max(per):.2f} |"
        )


if __name__ == "__main__":
    main()
