#!/usr/bin/env python
"""mlpcore against every peer, side by side, one thread and two: training throughput and
serving latency, with the sgemm rate of each BLAS present. Ratios are printed last.

    PYTHONPATH=python python bench/bench_mlp.py              # full run, 1 and 2 threads
    PYTHONPATH=python python bench/bench_mlp.py --quick      # smoke test (CI)
    PYTHONPATH=python python bench/bench_mlp.py --threads 2 --configs ab --seconds 1

Training configs (float32, SGD lr 0.01, softmax cross-entropy, every sample once per epoch,
shuffled; synthetic data with labels from a random linear teacher; speed only):
    a 784-256-128-10 batch 128    b 784-1024-1024-10 batch 256
    c 784-256-128-10 with Dense-BatchNorm-ReLU-Dropout(0.2) blocks, batch 128
    d 64-128-10 batch 64          e 32-64-64-2 batch 32
Training peers: mlpcore (fit, whole epochs in C++), PyTorch eager, torch.compile (inductor;
compile time reported apart), JAX with jax.jit on the step, JAX with jax.lax.scan over the
minibatches of an epoch (one call per epoch), scikit-learn's MLPClassifier.
Serving: predict on 4096 rows and on 1 row, same trained weights everywhere: mlpcore,
PyTorch (inference_mode, eval), onnxruntime (a graph built with onnx.helper).
Peers that are not installed are skipped with a line saying why.

Method: each thread count runs in its own process (bench/worker.py) with
OPENBLAS_NUM_THREADS / OMP_NUM_THREADS / MKL_NUM_THREADS / XLA_FLAGS set before any library
loads, plus torch.set_num_threads, threadpoolctl and mlpcore._core.set_num_threads inside;
a process with fewer threads than usable cores is pinned to that many (the idlest) cores,
the only limit JAX obeys.
Each measurement warms up, calibrates the epochs (or calls) of one repeat to ~--seconds,
and reports the median of --repeats repeats with their spread, the CPU time per wall time,
and how many threads were busy (a check of the thread limit). sgemm is measured at 1024^3
and at each config's first layer, at the start and at the end of each process (the better
median is kept); the share of sgemm is the training rate's necessary work (6 flops per
weight per sample, less the first layer's input gradient) over the best BLAS's rate.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import BY_KEY  # noqa: E402
from load import OtherLoad  # noqa: E402

# In --quick mode torch.compile runs on the smallest config only: a cold inductor compile
# takes 5-20 s per network on 2 cores.
QUICK_COMPILE = "e"


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--quick", action="store_true", help="tiny sizes, short repeats (CI)")
    p.add_argument(
        "--keep-openblas-env",
        action="store_true",
        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE in the workers (by default "
        "a full run drops them: see OPENBLAS_ENV)",
    )
    p.add_argument("--threads", default="1,2", help="thread counts, e.g. 1,2 (default)")
    p.add_argument(
        "--seconds",
        type=float,
        default=None,
        help="duration of one timed repeat (default 0.4, quick 0.02)",
    )
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 5, quick 2)")
    p.add_argument(
        "--configs", default="".join(BY_KEY), help="configs to run, letters from " + "".join(BY_KEY)
    )
    p.add_argument(
        "--peers", default=None, help="comma-separated peer modules of bench/peers (default: all)"
    )
    p.add_argument(
        "--backend",
        choices=("native", "numpy"),
        default="native",
        help="mlpcore engine (default native)",
    )
    p.add_argument("--no-compile", action="store_true", help="skip torch.compile")
    p.add_argument("--json", default=None, help="also write all results to this file")
    args = p.parse_args(argv)
    try:
        args.threads = sorted({int(t) for t in args.threads.split(",")})
    except ValueError:
        p.error(f"--threads takes comma-separated integers, got {args.threads!r}")
    if not args.threads or min(args.threads) < 1:
        p.error("--threads must be >= 1")
    if set(args.configs) - set(BY_KEY) or not args.configs:
        p.error(f"--configs takes letters from {''.join(BY_KEY)}, got {args.configs!r}")
    if args.repeats is None:
        args.repeats = 2 if args.quick else 5
    if args.seconds is None:
        args.seconds = 0.02 if args.quick else 0.4
    if args.repeats < 1 or args.seconds <= 0:
        p.error("--repeats must be >= 1 and --seconds > 0")
    return args


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def idlest_cpus(t, sample=0.2):
    """The t usable CPUs that were idlest over `sample` seconds (per-CPU lines of /proc/stat),
    or simply the first t."""
    cpus = sorted(os.sched_getaffinity(0))

    def idle():
        try:
            with open("/proc/stat") as f:
                return {
                    int(line.split()[0][3:]): int(line.split()[4])
                    for line in f
                    if line.startswith("cpu") and line[3].isdigit()
                }
        except (OSError, ValueError, IndexError):
            return {}

    a = idle()
    time.sleep(sample)
    b = idle()
    if a and b:
        cpus.sort(key=lambda c: -(b.get(c, 0) - a.get(c, 0)))
    return sorted(cpus[:t])


# Some environments set these for older OpenBLAS builds that misdetect or crash on their CPU;
# they force the bundled OpenBLAS (and NumPy's) onto e.g. the AVX2 "Haswell" kernels of an
# AVX-512 machine. The full benchmark drops both in its workers (this command alone), so
# OpenBLAS picks the kernels of the CPU as it would on a machine without them; torch, JAX and
# onnxruntime do not read them. --keep-openblas-env keeps them (and --quick, the CI smoke run).
OPENBLAS_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")


def thread_env(t, keep_openblas_env=True):
    """The environment of the worker that runs t threads."""
    env = dict(os.environ)
    if not keep_openblas_env:
        for var in OPENBLAS_ENV:
            env.pop(var, None)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(t)
    flags = env.get("XLA_FLAGS", "")
    if t == 1:  # XLA's CPU client: one thread for Eigen and for the intra-op pool
        flags += " --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
    env["XLA_FLAGS"] = flags.strip()
    if not env["XLA_FLAGS"]:
        del env["XLA_FLAGS"]
    return env


def run_worker(args, t, configs, out):
    cmd = [
        sys.executable,
        os.path.join(HERE, "worker.py"),
        "--threads",
        str(t),
        "--json",
        out,
        "--seconds",
        str(args.seconds),
        "--repeats",
        str(args.repeats),
        "--configs",
        configs,
        "--backend",
        args.backend,
    ]
    if args.quick:
        cmd += ["--quick", "--compile-configs", QUICK_COMPILE]
    if args.peers:
        cmd += ["--peers", args.peers]
    if args.no_compile:
        cmd.append("--no-compile")
    pin = None
    if hasattr(os, "sched_setaffinity") and t < usable_cores():
        # Pinning is the one limit every library obeys (XLA sizes its pools from the CPUs it
        # may run on; XLA_FLAGS alone left JAX with several busy threads).
        pin = idlest_cpus(t)
        cmd += ["--pinned", ",".join(map(str, pin))]
    return subprocess.run(
        cmd,
        env=thread_env(t, args.quick or args.keep_openblas_env),
        preexec_fn=(lambda: os.sched_setaffinity(0, pin)) if pin else None,
    ).returncode


def main(argv=None):
    args = parse_args(argv)
    t0 = time.perf_counter()
    load = OtherLoad()
    print(
        "mlpcore benchmark"
        + (" (--quick: tiny sizes, the numbers mean nothing)" if args.quick else ""),
        flush=True,
    )
    print(
        f"  usable cores {usable_cores()}; threads {args.threads}; median of {args.repeats} "
        f"repeats of ~{args.seconds:g} s; backend {args.backend}",
        flush=True,
    )
    dropped = [v for v in OPENBLAS_ENV if v in os.environ]
    if dropped and not (args.quick or args.keep_openblas_env):
        print(
            f"  {' and '.join(dropped)} set here: dropped in the workers, so OpenBLAS uses the "
            "kernels of this CPU (--keep-openblas-env keeps them)",
            flush=True,
        )
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for t in args.threads:
            if t > usable_cores():
                print(f"\nnote: {t} threads > {usable_cores()} usable cores", flush=True)
            out = os.path.join(tmp, f"t{t}.json")
            rc = run_worker(args, t, args.configs, out)
            if rc != 0 or not os.path.exists(out):
                print(
                    f"\nthe {t}-thread worker failed (exit code {rc}); its results are missing",
                    flush=True,
                )
                continue
            with open(out) as f:
                results[t] = json.load(f)
    if not results:
        print("no results", file=sys.stderr)
        return 1
    import report

    report.print_report(results)
    first = results[min(results)]
    versions = ", ".join(
        f"{k} {first[k]}"
        for k in ("mlpcore", "numpy", "torch", "jax", "sklearn", "onnxruntime")
        if k in first
    )
    print(f"\n{versions}; python {first['python']}")
    for name, why in first["skipped"].items():
        print(f"skipped {name}: {why}")
    busy = load.fraction()
    loads = ", ".join(
        f"{t} thr {r['other_load']:.0%}"
        for t, r in results.items()
        if r.get("other_load") is not None
    )
    print(
        f"total {time.perf_counter() - t0:.0f} s; other processes kept the CPU busy: {loads}"
        + (
            "  WARNING: a busy machine; rerun for reliable numbers"
            if busy is not None and busy > 0.15
            else ""
        )
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump({str(t): r for t, r in results.items()}, f, indent=1)
    return 0 if len(results) == len(args.threads) else 1


if __name__ == "__main__":
    sys.exit(main())
