"""Threads on the small nets: mlpcore's training rate at 1 and 2 threads, alternating in one
process, on the machine as found and with a busy loop on the other core; the share of the
machine's 2-thread sgemm rate that the necessary work reaches; PyTorch eager alongside in the
same run; the scikit-learn drop-in's digits cross-validation at 1 and 2 threads.

    PYTHONPATH=python python bench/bench_threads.py              # minutes; torch at 2 threads
                                                                 # on a busy machine: far more
    PYTHONPATH=python python bench/bench_threads.py --configs de --rounds 7 --no-torch

Each round times every (threads, peer) pair once, in turn, so a change in the machine's load
shifts all of them alike; the tables give medians over the rounds and the range of the
ratio 2 threads / 1 thread over the rounds. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are dropped
(the process re-executes itself without them) unless --keep-openblas-env: they hold the
bundled OpenBLAS to older kernels (bench/README.md, finding 1).
"""

import argparse
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from common import BY_KEY, LR, flops_per_sample, make_data


def cpu_description():
    model, flags = "unknown CPU", set()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and model == "unknown CPU":
                    model = line.split(":", 1)[1].strip()
                elif line.startswith("flags") and not flags:
                    flags = set(line.split(":", 1)[1].split())
    except OSError:
        pass
    isa = [
        name
        for name, flag in [
            ("AVX2", "avx2"),
            ("AVX-512", "avx512f"),
            ("AVX512-VNNI", "avx512_vnni"),
            ("AVX-VNNI", "avx_vnni"),
            ("AVX512_BF16", "avx512_bf16"),
            ("AMX", "amx_tile"),
        ]
        if flag in flags
    ]
    return f"{model}, {os.cpu_count()} CPUs, {', '.join(isa) or 'no AVX2'}"


def busy_loop(core):
    """A process spinning on one core (the 'other core is busy' case)."""
    code = f"import os; os.sched_setaffinity(0, {{{core}}})\nwhile True: pass"
    return subprocess.Popen([sys.executable, "-c", code])


def mlpcore_runner(cfg, X, y):
    import mlpcore as mc

    layers = []
    for i, (a, b) in enumerate(zip(cfg.widths[:-1], cfg.widths[1:])):
        layers.append(mc.Dense(a, b))
        if i < len(cfg.widths) - 2:
            layers.append(mc.ReLU())
    net = mc.Sequential(layers, loss="softmax_cross_entropy", dtype="float32", seed=0)

    def run(threads, k):
        mc.set_num_threads(threads)
        net.fit(X, y, epochs=k, batch_size=cfg.batch, lr=LR, shuffle=True)

    return run


def torch_runner(cfg, X, y):
    import torch
    from peers import torch_eager

    inner = torch_eager.trainer(cfg, X, y)

    def run(threads, k):
        torch.set_num_threads(threads)
        inner(k)

    return run


def rates(runners, n, rounds, seconds):
    """{(peer, threads): [samples/s per round]}: every pair once per round, in turn."""
    calib = {}
    for key, run in runners.items():  # warm up, then epochs per timing for ~seconds
        run(key[1], 1)
        t = time.perf_counter()
        run(key[1], 1)
        calib[key] = max(1, round(seconds / max(time.perf_counter() - t, 1e-6)))
    out = {key: [] for key in runners}
    for _ in range(rounds):
        for key, run in runners.items():
            t = time.perf_counter()
            run(key[1], calib[key])
            out[key].append(calib[key] * n / (time.perf_counter() - t))
    return out


def sgemm_rate(threads, size=1024, repeats=7):
    import numpy as np

    import mlpcore as mc
    from mlpcore._core import testing

    mc.set_num_threads(threads)
    a = np.random.default_rng(0).standard_normal((size, size)).astype(np.float32)
    testing.gemm(a, a)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        testing.gemm(a, a)
        times.append(time.perf_counter() - t)
    return 2.0 * size**3 / min(times) / 1e9  # best: the rate the machine allows


def exchange_bound(widths, one_rate, batch, lines_cost):
    """What data movement allows a 2-thread step: each thread reads the half of the other's
    gradient and of the updated weights it did not make (one parameter set of lines read
    from the other core's cache) and writes its half of both, lines the other core read (one
    set written): step >= step_1 / 2 + lines * (read + write ns). Returns (us of exchange,
    the 2 thr / 1 thr bound)."""
    n_params = sum(a * b + b for a, b in zip(widths[:-1], widths[1:]))
    lines = n_params * 4 / 64
    per_line = (
        lines_cost["read_lines_the_other_core_wrote_ns"]
        + lines_cost["write_lines_the_other_core_read_ns"]
    )
    exchange = lines * per_line / 1e3
    step = batch / one_rate * 1e6
    return exchange, step / (step / 2 + exchange)


def digits_cv(rounds):
    """Seconds of a 5-fold cross_val_score of the drop-in MLPClassifier on digits, per thread
    count (alternating), and with the folds fitted two at a time (n_jobs=2, threads: the
    engine releases the GIL; 1 engine thread each), and whether the scores were identical."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    import mlpcore as mc
    from mlpcore import MLPClassifier

    X, y = load_digits(return_X_y=True)
    import joblib

    times, scores = {1: [], 2: [], "n_jobs=2": []}, {}
    for _ in range(rounds):
        for t in times:
            mc.set_num_threads(t if t != "n_jobs=2" else 1)
            clf = make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
            t0 = time.perf_counter()
            # (a parallel_backend block alone would default n_jobs to every core)
            jobs = 2 if t == "n_jobs=2" else 1
            with joblib.parallel_backend("threading", n_jobs=jobs):
                s = cross_val_score(clf, X, y, cv=5, n_jobs=jobs)
            times[t].append(time.perf_counter() - t0)
            scores[t] = s
    same = all((scores[t] == scores[1]).all() for t in scores)
    return times, same, float(scores[1].mean())


def ratio_range(a, b):
    r = sorted(x / y for x, y in zip(a, b))
    return f"{statistics.median(r):.2f}x ({r[0]:.2f}-{r[-1]:.2f})"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--configs", default="de", help="config keys of bench/common.py")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seconds", type=float, default=0.4, help="per timing")
    ap.add_argument("--no-torch", action="store_true")
    ap.add_argument("--no-busy", action="store_true")
    ap.add_argument("--no-digits", action="store_true")
    ap.add_argument("--keep-openblas-env", action="store_true")
    args = ap.parse_args()
    dropped = [v for v in ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE") if v in os.environ]
    if dropped and not args.keep_openblas_env:
        env = {k: v for k, v in os.environ.items() if k not in dropped}
        env["MLPCORE_BENCH_DROPPED"] = ",".join(f"{v}={os.environ[v]}" for v in dropped)
        os.execve(sys.executable, [sys.executable] + sys.argv, env)
    import numpy as np

    import mlpcore as mc

    print(f"# bench_threads: {cpu_description()}")
    print(
        f"# mlpcore {mc.__version__ if hasattr(mc, '__version__') else ''} "
        f"numpy {np.__version__}; OpenBLAS env dropped: "
        f"{os.environ.get('MLPCORE_BENCH_DROPPED', 'none set')}"
        + (
            f"; kept: OPENBLAS_CORETYPE={os.environ.get('OPENBLAS_CORETYPE')}"
            if args.keep_openblas_env and "OPENBLAS_CORETYPE" in os.environ
            else ""
        )
    )
    peers = {"mlpcore": mlpcore_runner}
    if not args.no_torch:
        try:
            import torch

            peers["torch"] = torch_runner
            print(f"# torch {torch.__version__} (eager, the bench's lean loop)")
        except ImportError:
            print("# torch not installed: skipped")
    sg = {t: sgemm_rate(t) for t in (1, 2)}
    print(
        f"# sgemm 1024^3 (mlpcore's gemm, bundled OpenBLAS): 1 thread {sg[1]:.1f}, "
        f"2 threads {sg[2]:.1f} GFLOP/s (best of 7)"
    )
    from mlpcore._core import testing

    lines_cost = testing.cross_core_lines(38)
    print(
        "# cache lines between the two cores (38 KiB, 2000 rounds, medians): reading a line "
        f"the other core wrote {lines_cost['read_lines_the_other_core_wrote_ns']:.1f} ns, "
        f"writing a line it read {lines_cost['write_lines_the_other_core_read_ns']:.1f} ns, "
        f"reading a line in this core's cache {lines_cost['read_own_lines_ns']:.2f} ns"
    )
    bounds = []
    cases = [("as found", None)] + ([] if args.no_busy else [("busy loop on the other core", 1)])
    print()
    print(
        "| config | machine | peer | 1 thread | 2 threads | 2 thr / 1 thr (median, range) "
        "| 2 thr: of 2-thread sgemm |"
    )
    print("|---|---|---|---|---|---|---|")
    for key in args.configs:
        cfg = BY_KEY[key]
        X, y = make_data(cfg.n, cfg.widths[0], cfg.widths[-1], 0)
        runners = {}
        for name, make in peers.items():
            for t in (1, 2):
                runners[(name, t)] = make(cfg, X, y) if t == 1 else runners[(name, 1)]
        for case, core in cases:
            loop = busy_loop(core) if core is not None else None
            try:
                time.sleep(0.2 if loop else 0)
                r = rates(runners, cfg.n, args.rounds, args.seconds)
            finally:
                if loop:
                    loop.kill()
                    loop.wait()
            if case == "as found":
                ex, bound = exchange_bound(
                    cfg.widths, statistics.median(r[("mlpcore", 1)]), cfg.batch, lines_cost
                )
                bounds.append(
                    f"{cfg.title}: a 2-thread step moves >= {ex:.1f} us of cache lines; "
                    f"2 thr / 1 thr <= {bound:.2f}x where that does not overlap the arithmetic"
                )
            for name in peers:
                one, two = r[(name, 1)], r[(name, 2)]
                share = statistics.median(two) * flops_per_sample(cfg.widths) / 1e9 / sg[2]
                print(
                    f"| {cfg.title} | {case} | {name} | {statistics.median(one) / 1e3:.0f}k/s "
                    f"| {statistics.median(two) / 1e3:.0f}k/s | {ratio_range(two, one)} "
                    f"| {share:.0%} |",
                    flush=True,
                )
    print()
    print("What data movement allows one fit on 2 threads (exchange_bound):")
    for line in bounds:
        print(f"- {line}")
    if not args.no_digits:
        try:
            times, same, score = digits_cv(max(3, args.rounds // 2))
            print()
            print(
                f"digits, 5-fold cross_val_score of make_pipeline(StandardScaler(), "
                f"mlpcore.MLPClassifier(random_state=0)) (float64, adam, batch 200): "
                f"1 thread {statistics.median(times[1]):.2f} s, 2 threads "
                f"{statistics.median(times[2]):.2f} s ({ratio_range(times[1], times[2])} "
                f"faster), n_jobs=2 on 1 thread each {statistics.median(times['n_jobs=2']):.2f} s "
                f"({ratio_range(times[1], times['n_jobs=2'])} faster); mean score {score:.4f}; "
                f"scores identical in all three: {same}"
            )
        except ImportError as exc:
            print(f"digits: skipped ({exc})")


if __name__ == "__main__":
    main()
