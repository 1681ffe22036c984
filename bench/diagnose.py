#!/usr/bin/env python
"""Where mlpcore's time goes (a diagnostic, not part of the benchmark tables): for each
config, the GEMMs of one training step timed alone through the bundled OpenBLAS (same
shapes, transposes and beta as cpp/src/layers.cpp) against the measured step time of
Sequential.fit, at 1 and 2 threads; the cost layers of predict on one row; predict on 4096
rows against its GEMMs.

    PYTHONPATH=python python bench/diagnose.py [--configs abcde] [--seconds 0.3]

Everything else in a step (gather, bias broadcast, activations, softmax, the zeroing of the
gradient buffer, the SGD update, Python's per-epoch checks) is the step time minus the GEMM
time. A ctypes call costs about a microsecond: it is measured and subtracted.
"""

import argparse
import ctypes
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import blas  # noqa: E402
import numpy as np  # noqa: E402
from common import BY_KEY, LR, SEED, make_data, measure_calls, perf  # noqa: E402
from peers import mlpcore_peer  # noqa: E402

ROW, NT, TR = 101, 111, 112  # CblasRowMajor, CblasNoTrans, CblasTrans
EVAL_BLOCK = 256  # rows per block of an evaluation pass (EVAL_BLOCK in cpp/src/network.cpp)


def step_gemms(cfg):
    """(name, trans_a, trans_b, M, N, K, beta) of one training step, as layers.cpp calls them:
    forward z += x (B,I) @ w (I,O) (beta 1 after the bias broadcast); backward
    dw += x^T dz (beta 1, the gradient buffer is zeroed first), dx = dz w^T (not for the first
    layer)."""
    out, B = [], cfg.batch
    pairs = list(zip(cfg.widths[:-1], cfg.widths[1:]))
    for i, (I, O) in enumerate(pairs):
        out.append((f"fwd {I}x{O}", NT, NT, B, O, I, 1.0))
    for i, (I, O) in reversed(list(enumerate(pairs))):
        out.append((f"dW {I}x{O}", TR, NT, I, O, B, 1.0))
        if i > 0:
            out.append((f"dx {I}x{O}", NT, TR, B, I, O, 0.0))
    return out


def gemm_call(lib, ta, tb, M, N, K, beta):
    rng = np.random.default_rng(0)
    a = rng.standard_normal((K, M) if ta == TR else (M, K), dtype=np.float32)
    b = rng.standard_normal((N, K) if tb == TR else (K, N), dtype=np.float32)
    c = np.zeros((M, N), np.float32)
    lda, ldb = a.shape[1], b.shape[1]
    pa, pb, pc = (x.ctypes.data_as(ctypes.c_void_p) for x in (a, b, c))
    one, bet = ctypes.c_float(1.0), ctypes.c_float(beta)
    f = lib.scipy_cblas_sgemm
    keep = (a, b, c)

    def call(keep=keep):
        f(ROW, ta, tb, M, N, K, one, pa, lda, pb, ldb, bet, pc, N)

    return call


def fit_step_seconds(cfg, seconds, repeats, clock):
    n = cfg.n
    X, y = make_data(n, cfg.widths[0], cfg.widths[-1], SEED + 1)
    net = mlpcore_peer.build(cfg)
    net.fit(X, y, epochs=1, batch_size=cfg.batch, lr=LR)
    t = measure_calls(
        lambda: net.fit(X, y, epochs=1, batch_size=cfg.batch, lr=LR),
        seconds,
        repeats,
        warm_seconds=0.1,
        clock=clock,
    )
    return t["median"] / (n // cfg.batch)


def main(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--configs", default="".join(BY_KEY))
    p.add_argument("--seconds", type=float, default=0.3)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", default="1,2")
    args = p.parse_args(argv)
    from mlpcore import _core

    set_threads = getattr(_core, "set_num_threads", None) or _core.testing.set_num_threads
    lib = blas.bundled_cblas()
    if lib is None:
        print("the bundled OpenBLAS is not next to the extension: nothing to diagnose")
        return 1

    def nop():  # an empty sgemm: the ctypes call overhead
        lib.scipy_cblas_sgemm(
            ROW,
            NT,
            NT,
            0,
            0,
            0,
            ctypes.c_float(1.0),
            None,
            1,
            None,
            1,
            ctypes.c_float(0.0),
            None,
            1,
        )

    for t in [int(x) for x in args.threads.split(",")]:
        set_threads(t)
        # One thread: CPU time of the process, which other processes on a shared machine
        # barely move; more threads: wall time (CPU time would count the spinning).
        clock = time.process_time if t == 1 else perf
        overhead = measure_calls(nop, 0.05, 3, clock=clock)["median"]
        print(
            f"\n== {t} thread(s), {'CPU' if t == 1 else 'wall'} time; ctypes call overhead "
            f"{overhead * 1e6:.2f} us (subtracted)"
        )
        for key in args.configs:
            cfg = BY_KEY[key]
            step = fit_step_seconds(cfg, args.seconds, args.repeats, clock)
            rows, total, flops = [], 0.0, 0.0
            for name, ta, tb, M, N, K, beta in step_gemms(cfg):
                s = max(
                    measure_calls(
                        gemm_call(lib, ta, tb, M, N, K, beta),
                        args.seconds / 3,
                        args.repeats,
                        clock=clock,
                    )["median"]
                    - overhead,
                    1e-9,
                )
                total += s
                flops += 2.0 * M * N * K
                rows.append(f"{name} {s * 1e6:.1f}")
            print(
                f"{cfg.title}: step {step * 1e6:.1f} us; GEMMs alone {total * 1e6:.1f} us "
                f"= {total / step:.0%} of the step ({flops / total / 1e9:.0f} GFLOP/s on the "
                f"step's shapes); rest {(step - total) * 1e6:.1f} us\n    " + ", ".join(rows)
            )
    # predict on one row: where the microseconds go
    set_threads(1)
    print("\n== predict on one row, 1 thread (median CPU us)")
    clock = time.process_time
    for key in args.configs:
        cfg = BY_KEY[key]
        net = mlpcore_peer.build(cfg)
        x = np.ascontiguousarray(make_data(1, cfg.widths[0], cfg.widths[-1], 5)[0])
        full = measure_calls(lambda: net.predict(x), 0.1, args.repeats, clock=clock)["median"]
        engine = measure_calls(
            lambda: net._engine.predict(x, False, 0),
            0.1,  # private API
            args.repeats,
            clock=clock,
        )["median"]
        g = 0.0
        for I, O in zip(cfg.widths[:-1], cfg.widths[1:]):
            g += max(
                measure_calls(
                    gemm_call(lib, NT, NT, 1, O, I, 1.0), 0.05, args.repeats, clock=clock
                )["median"]
                - overhead,
                0,
            )
        print(
            f"{cfg.title}: predict {full * 1e6:.1f}, engine.predict {engine * 1e6:.1f} "
            f"(Python checks {(full - engine) * 1e6:.1f}), its M=1 sgemms alone "
            f"{g * 1e6:.1f}"
        )
    # predict on 4096 rows: the engine runs blocks of EVAL_BLOCK rows (network.cpp)
    print("\n== predict on 4096 rows, 1 thread (median CPU ms)")
    for key in args.configs:
        cfg = BY_KEY[key]
        net = mlpcore_peer.build(cfg)
        x = make_data(4096, cfg.widths[0], cfg.widths[-1], 6)[0]
        full = measure_calls(lambda: net.predict(x), 0.3, args.repeats, clock=clock)["median"]
        g = 0.0
        for I, O in zip(cfg.widths[:-1], cfg.widths[1:]):
            g += (4096 // EVAL_BLOCK) * max(
                measure_calls(
                    gemm_call(lib, NT, NT, EVAL_BLOCK, O, I, 1.0), 0.1, args.repeats, clock=clock
                )["median"]
                - overhead,
                0,
            )
        print(
            f"{cfg.title}: predict {full * 1e3:.2f}, its GEMMs ({4096 // EVAL_BLOCK} blocks of "
            f"{EVAL_BLOCK} rows) alone "
            f"{g * 1e3:.2f} ({g / full:.0%}); rest {(full - g) * 1e3:.2f}"
        )
    return 0


if __name__ == "__main__":
    t0 = perf()
    rc = main()
    print(f"({perf() - t0:.0f} s)")
    sys.exit(rc)
