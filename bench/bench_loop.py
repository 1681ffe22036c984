#!/usr/bin/env python
"""What the training loop's conveniences cost, in one run: samples/s of Sequential.fit with
verbose=0 and verbose=1 (the progress bar's drawing thread) and with the per-layer gradient
norms (grad_norms=True), next to the engine's bare train_epoch (no Python loop at all).

    PYTHONPATH=python python bench/bench_loop.py            # about 1 min on 2 cores
    PYTHONPATH=python python bench/bench_loop.py --quick    # smoke test

Networks (float32, plain SGD, softmax cross-entropy, random data): (a) 784-256-128-10 relu,
batch 128, 8192 samples; (b) 32-64-64-2 relu, batch 32, 16384 samples. The variants run
interleaved, repeat after repeat, so that the machine's drift hits them alike; the best
repeat is reported with the median next to it, and the ratios to verbose=0 last. verbose=1
writes its bar to /dev/null.
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

import mlpcore as mc
from mlpcore._engine import EpochOptions

NETS = {"a": ((784, 256, 128, 10), 128, 8192), "b": ((32, 64, 64, 2), 32, 16384)}


def build(widths, seed=0):
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(mc.Dense(a, b))
        if i < len(widths) - 2:
            layers.append(mc.ReLU())
    return mc.Sequential(layers, loss="softmax_cross_entropy", dtype="float32", seed=seed)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true")
    p.add_argument("--repeats", type=int, default=None)
    p.add_argument("--epochs", type=int, default=None, help="epochs per timed repeat")
    args = p.parse_args(argv)
    repeats = args.repeats or (2 if args.quick else 7)
    epochs = args.epochs or (1 if args.quick else 3)
    devnull = open(os.devnull, "w")
    rows = []
    for key, (widths, batch, n) in NETS.items():
        n = n // 8 if args.quick else n
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, widths[0])).astype(np.float32)
        y = rng.integers(0, widths[-1], n)
        Y = np.eye(widths[-1], dtype=np.float32)[y]
        net = build(widths)

        def fit(**kw):
            net.fit(X, y, epochs=epochs, batch_size=batch, lr=0.01, **kw)

        options = EpochOptions(batch_size=batch, optimizer={"name": "sgd"}, lr=0.01)

        def bare():
            for e in range(epochs):
                net._engine.train_epoch(X, Y, options, 0, e, 0)

        def verbose1():
            stdout, sys.stdout = sys.stdout, devnull
            try:
                fit(verbose=1)
            finally:
                sys.stdout = stdout

        variants = {
            "engine train_epoch only": bare,
            "fit verbose=0": lambda: fit(),
            "fit verbose=1": verbose1,
            "fit verbose=0 grad_norms=True": lambda: fit(grad_norms=True),
        }
        times = {k: [] for k in variants}
        for f in variants.values():
            f()  # warm-up
        for _ in range(repeats):
            for name, f in variants.items():
                t = time.perf_counter()
                f()
                times[name].append(time.perf_counter() - t)
        title = "-".join(map(str, widths)) + f" batch {batch}, {n} samples"
        print(f"\n{title}")
        base = n * epochs / min(times["fit verbose=0"])
        for name, ts in times.items():
            best, med = n * epochs / min(ts), n * epochs / statistics.median(ts)
            print(f"  {name:34s} {best:12,.0f} samples/s (median {med:,.0f})")
            rows.append((key, name, best / base))
    print("\nratios to 'fit verbose=0' (best repeats; > 1 is faster):")
    for key, name, r in rows:
        print(f"  ({key}) {name:34s} {r:.3f}")


if __name__ == "__main__":
    main()
