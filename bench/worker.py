#!/usr/bin/env python
"""One thread setting of the benchmark, run by bench_mlp.py in its own process so that the
thread environment (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS, MKL_NUM_THREADS, XLA_FLAGS) is
in place before any library loads. Prints progress, writes every figure to --json.

    python bench/worker.py --threads 2 --json out.json [--quick] [--seconds S] ...
"""

import argparse
import json
import os
import platform
import sys
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import blas  # noqa: E402
import numpy as np  # noqa: E402
import peers  # noqa: E402
from common import (
    BY_KEY,
    SEED,
    SERVE_ROWS,
    make_data,
    measure_calls,  # noqa: E402
    measure_training,
)
from load import OtherLoad  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser()
    p.add_argument("--threads", type=int, required=True)
    p.add_argument("--json", required=True)
    p.add_argument("--quick", action="store_true")
    p.add_argument("--seconds", type=float, required=True)
    p.add_argument("--repeats", type=int, required=True)
    p.add_argument("--configs", default="".join(BY_KEY))
    p.add_argument("--peers", default=None, help="comma-separated peer modules (default all)")
    p.add_argument("--backend", default="native")
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--pinned", default=None, help="the CPUs the driver pinned this process to")
    p.add_argument(
        "--compile-configs",
        default=None,
        help="run torch.compile on these configs only (default all)",
    )
    return p.parse_args(argv)


def say(*args):
    print(*args, flush=True)


def set_threads(t):
    """Sets t threads in every library that has a pool; returns what was set, by whom."""
    how = []
    try:
        from mlpcore import _core

        setter = getattr(_core, "set_num_threads", None) or getattr(
            getattr(_core, "testing", None), "set_num_threads", None
        )
        if setter is not None:
            setter(t)
            how.append(f"{setter.__module__}.set_num_threads")
    except ImportError:
        pass
    limiter = None
    try:
        import threadpoolctl

        limiter = threadpoolctl.threadpool_limits(limits=t)
        how.append("threadpoolctl")
    except ImportError:
        pass
    try:
        import torch

        torch.set_num_threads(t)
        how.append("torch.set_num_threads")
    except ImportError:
        pass
    how.append(
        "env "
        + " ".join(
            f"{v}={os.environ.get(v)}"
            for v in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "XLA_FLAGS")
            if os.environ.get(v)
        )
    )
    return how, limiter


def load_peers(names, result):
    mods = {}
    for name in names:
        mod = peers.load(name)
        if name == "mlpcore_peer":
            mod.BACKEND = result["backend"]
        reason = mod.unavailable()
        if reason:
            result["skipped"][mod.NAME] = reason
            say(f"  {mod.NAME}: skipped - {reason}")
        else:
            mods[name] = mod
    return mods


def train_all(args, cfgs, mods, result):
    warm = 0.01 if args.quick else 0.3
    for cfg in cfgs:
        n = cfg.samples(args.quick)
        X, y = make_data(n, cfg.widths[0], cfg.widths[-1], SEED + 1)
        say(f"\n[{args.threads} thr] train {cfg.title}, {n} samples")
        row = result["train"][cfg.key] = {}
        for name in peers.TRAINING:
            mod = mods.get(name)
            if mod is None:
                continue
            na = getattr(mod, "not_applicable", lambda c: None)(cfg)
            if na:
                row[mod.NAME] = {"na": na}
                say(f"  {mod.NAME:<14} n/a: {na}")
                continue
            if name == "torch_compile" and (
                args.no_compile
                or (args.compile_configs is not None and cfg.key not in args.compile_configs)
            ):
                why = (
                    "--no-compile"
                    if args.no_compile
                    else f"--quick compiles config {args.compile_configs} only"
                )
                row[mod.NAME] = {"skipped": why}
                say(f"  {mod.NAME:<14} skipped: {why}")
                continue
            try:
                run = mod.trainer(cfg, X, y)
                r = measure_training(run, n, args.seconds, args.repeats, warm)
            except Exception as exc:  # a peer that fails is reported, never fatal
                msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
                row[mod.NAME] = {"error": msg}
                say(f"  {mod.NAME:<14} FAILED: {msg}")
                continue
            r["compile_seconds"] = getattr(run, "compile_seconds", None)
            r["note"] = getattr(run, "note", "")
            row[mod.NAME] = r
            extra = f", compile {r['compile_seconds']:.1f} s" if r["compile_seconds"] else ""
            say(
                f"  {mod.NAME:<14} {r['median']:>10.0f} samples/s  [{r['min']:.0f}..{r['max']:.0f}]"
                f"  x{r['n']} of {r['epochs']} epochs, cpu/wall {r['cpu_per_wall']:.2f}, "
                f"{r['busy_threads']} busy threads{extra}"
                f"  {r['note']}"
            )


def serve_all(args, cfgs, mods, result):
    warm = 0.01 if args.quick else 0.05
    mc = mods.get("mlpcore_peer")
    if mc is None:
        say("\nserving skipped: mlpcore is the reference model and is not available")
        return
    for cfg in cfgs:
        n = cfg.samples(args.quick)
        X, y = make_data(n, cfg.widths[0], cfg.widths[-1], SEED + 1)
        net = mc.reference(cfg, X, y)
        model = {"net": net, "layers": mc.export_layers(net, cfg)}
        Xs, _ = make_data(max(SERVE_ROWS), cfg.widths[0], cfg.widths[-1], SEED + 3)
        expected = net.predict(Xs)
        say(f"\n[{args.threads} thr] serve {cfg.title}")
        row = result["serve"][cfg.key] = {}
        for name in peers.SERVING:
            mod = mods.get(name)
            if mod is None:
                continue
            try:
                predict = mod.predictor(cfg, model, args.threads)
                diff = float(np.max(np.abs(np.asarray(predict(Xs)) - expected)))
                r = {"max_abs_diff": diff}
                for rows in SERVE_ROWS:
                    x = np.ascontiguousarray(Xs[:rows])
                    r[str(rows)] = measure_calls(
                        lambda: predict(x), args.seconds / 2, args.repeats, warm_seconds=warm
                    )
            except Exception as exc:
                msg = f"{type(exc).__name__}: {exc}".strip().splitlines()[0][:300]
                row[mod.NAME] = {"error": msg}
                say(f"  {mod.NAME:<14} FAILED: {msg}")
                continue
            row[mod.NAME] = r
            big, one = r[str(SERVE_ROWS[0])], r[str(SERVE_ROWS[1])]
            say(
                f"  {mod.NAME:<14} {SERVE_ROWS[0]} rows {big['median'] * 1e3:8.3f} ms "
                f"({SERVE_ROWS[0] / big['median'] / 1e6:.2f}M rows/s)   1 row "
                f"{one['median'] * 1e6:8.1f} us   max |p - p_mlpcore| {diff:.1e}"
            )


def main(argv=None):
    args = parse_args(argv)
    load = OtherLoad()
    result = {
        "threads": args.threads,
        "backend": args.backend,
        "skipped": {},
        "train": {},
        "serve": {},
        "sgemm": {},
        "one_row": {},
        "python": platform.python_version(),
        "numpy": np.__version__,
    }
    how, _limiter = set_threads(args.threads)
    if args.pinned:
        how.append(f"pinned to CPU {args.pinned}")
    result["thread_setting"] = how
    say(f"[{args.threads} thr] threads set by: {'; '.join(how)}")
    cfgs = [BY_KEY[k] for k in args.configs]
    names = (
        args.peers.split(",") if args.peers else list(dict.fromkeys(peers.TRAINING + peers.SERVING))
    )
    mods = load_peers(names, result)
    result["blas"] = {k: v[0] for k, v in blas.blas_products().items()}
    for k, desc in result["blas"].items():
        say(f"  BLAS {k}: {desc}")
    try:
        import mlpcore

        result["mlpcore"] = mlpcore.__version__
    except ImportError:
        pass
    for lib in ("torch", "jax", "sklearn", "onnxruntime"):
        try:
            result[lib] = __import__(lib).__version__
        except ImportError:
            pass

    shapes = [(1024, 1024, 1024)] + sorted({(c.batch, c.widths[0], c.widths[1]) for c in cfgs})
    if args.quick:
        shapes = shapes[:2]
    gsec, grep = (0.02, 1) if args.quick else (0.15, 3)
    sgemm = blas.sgemm_rates(shapes, gsec, grep)
    try:
        train_all(args, cfgs, mods, result)
        serve_all(args, cfgs, mods, result)
    except Exception:
        traceback.print_exc()
        result["crashed"] = traceback.format_exc()
    # sgemm again after the peers: the best of both measurements is the machine's rate
    again = sgemm if args.quick else blas.sgemm_rates(shapes, gsec, grep)
    for b in sgemm:
        for s in sgemm[b]:
            if again[b][s]["median"] > sgemm[b][s]["median"]:
                sgemm[b][s] = again[b][s]
    result["sgemm"] = sgemm
    say(f"\n[{args.threads} thr] sgemm GFLOP/s (median, best of start and end of the run)")
    for b, rates in sgemm.items():
        say(
            f"  {b:<9} "
            + "  ".join(
                f"{s} {r['median']:.1f} (cpu/wall {r['cpu_per_wall']:.1f})"
                for s, r in rates.items()
            )
        )
    one_shapes = [(784, 256), (784, 1024), (1024, 1024), (64, 128), (32, 64)]
    result["one_row"] = blas.one_row(one_shapes, 0.02 if args.quick else 0.1, args.repeats)
    say(f"[{args.threads} thr] one row x (1, K) @ W (K, N), us (median)")
    for shape, row in result["one_row"].items():
        say(f"  {shape:<10} " + "  ".join(f"{k} {v:.1f}" for k, v in row.items()))
    result["other_load"] = load.fraction()
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
