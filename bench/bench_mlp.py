#!/usr/bin/env python
"""Training throughput of mlpcore next to PyTorch (CPU, eager) and scikit-learn's
MLPClassifier, in one run, plus the fraction of the machine's sgemm rate mlpcore reaches.

    PYTHONPATH=python python bench/bench_mlp.py              # full run, < ~3 min on 2 cores
    PYTHONPATH=python python bench/bench_mlp.py --quick      # smoke test, < 20 s
    PYTHONPATH=python python bench/bench_mlp.py --backend numpy --threads 1

Networks (float32, plain minibatch SGD, softmax cross-entropy, synthetic data with labels
from a random linear teacher; this is a speed benchmark, accuracy is not reported):
    (a) 784-256-128-10 relu, batch 128, 8192 samples
    (b) 32-64-64-2 relu, batch 32, 16384 samples
    (c) 784-256-128-10 with Dense-BatchNorm-ReLU-Dropout(0.2) blocks, batch 128, 8192
        samples (scikit-learn has no batch norm or dropout: skipped)
and the latency of predicting one row with net (a), mlpcore against torch.

Method: every peer shuffles each epoch and visits every sample once. One epoch warms up,
one more calibrates how many epochs make a repeat of about --seconds; the rate reported is
the best repeat (the median is printed next to it). The peers run one after the other in
this process with the same thread count (torch.set_num_threads, threadpoolctl for NumPy's
BLAS, mlpcore._core.set_num_threads). The PyTorch loop is the lean idiomatic one
(zero_grad, forward, CrossEntropyLoss, backward, SGD.step) and reads no loss back;
mlpcore and scikit-learn also compute the epoch's mean loss. scikit-learn decides its own
compute dtype (it keeps float32 input in float32; the dtype used is printed) and, for two
classes, uses one logistic output instead of two softmax outputs.

A training step costs 2 x n_weights x batch floating-point operations forward and 4 x
backward (the input gradient and the weight gradient), less the input gradient of the first
layer, which no one needs (2 x its weights; mlpcore and PyTorch both skip it). So the
necessary work per sample is 6 x n_weights - 2 x n_weights(first layer), and the achieved
rate is that times samples_per_s / 1e9 GFLOP/s; it is compared with sgemm measured through
mlpcore._core.gemm (the bundled OpenBLAS) at 1024^3 and at the first layer's shape
128x784x256, or through numpy.matmul when the extension is not built (said in the output).
The ratios are printed last.
"""
import argparse
import math
import os
import platform
import statistics
import sys
import time
import warnings

perf = time.perf_counter

# Filled by _imports() after the thread environment is set.
np = mc = core = torch = nn = MLPClassifier = threadpoolctl = None
SKIPPED = {}  # peer -> reason


NETS = {
    # key: (title, widths, batch norm + dropout blocks, batch size, samples, quick samples)
    "a": ("784-256-128-10 relu", (784, 256, 128, 10), False, 128, 8192, 512),
    "b": ("32-64-64-2 relu", (32, 64, 64, 2), False, 32, 16384, 1024),
    "c": ("784-256-128-10 BN+ReLU+Drop(0.2)", (784, 256, 128, 10), True, 128, 8192, 512),
}
LR = 0.01
SEED = 0
DROPOUT = 0.2


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true",
                   help="tiny sizes and short repeats: a smoke test (< 20 s)")
    p.add_argument("--backend", choices=("native", "numpy"), default="native",
                   help="mlpcore engine (default: native)")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every peer (default: mlpcore's own thread count, "
                        "else the number of usable cores)")
    p.add_argument("--repeats", type=int, default=None, help="timed repeats (default 3, quick 2)")
    p.add_argument("--seconds", type=float, default=None,
                   help="target duration of one timed repeat (default 1.0, quick 0.05)")
    p.add_argument("--nets", default="abc", help="which networks to run, e.g. 'ab' (default abc)")
    args = p.parse_args(argv)
    if args.threads is not None and args.threads < 1:
        p.error("--threads must be >= 1")
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.seconds is not None and args.seconds <= 0:
        p.error("--seconds must be > 0")
    unknown = set(args.nets) - set(NETS)
    if unknown or not args.nets:
        p.error(f"--nets takes letters from {''.join(NETS)}, got {args.nets!r}")
    args.nets = [k for k in NETS if k in args.nets]
    if args.repeats is None:
        args.repeats = 2 if args.quick else 3
    if args.seconds is None:
        args.seconds = 0.05 if args.quick else 1.0
    return args


def _imports(threads):
    """Imports everything after the thread environment is set (BLAS libraries read it once,
    when they load). A missing peer is recorded in SKIPPED, never fatal."""
    global np, mc, core, torch, nn, MLPClassifier, threadpoolctl
    if threads is not None:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(threads)
    import numpy
    np = numpy
    import mlpcore
    mc = mlpcore
    try:
        from mlpcore import _core
        core = _core
    except ImportError as exc:
        core = None
        SKIPPED["_core"] = str(exc)
    try:
        import torch as _torch
        import torch.nn as _nn
        torch, nn = _torch, _nn
    except ImportError as exc:
        SKIPPED["torch"] = f"PyTorch is not installed ({exc})"
    try:
        from sklearn.neural_network import MLPClassifier as _MLP
        MLPClassifier = _MLP
    except ImportError as exc:
        SKIPPED["sklearn"] = f"scikit-learn is not installed ({exc})"
    try:
        import threadpoolctl as _tpc
        threadpoolctl = _tpc
    except ImportError:
        threadpoolctl = None


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def set_threads(threads):
    """Sets one thread count for every engine; returns (count, how, keep-alive handle)."""
    how = []
    if core is not None and hasattr(core, "set_num_threads"):
        if threads is None:
            threads = int(core.get_num_threads())
        core.set_num_threads(threads)
        how.append("mlpcore._core.set_num_threads")
    if threads is None:
        threads = usable_cores()
    limiter = None
    if threadpoolctl is not None:
        # NumPy's BLAS (used by backend="numpy" and by scikit-learn) and any other pool.
        limiter = threadpoolctl.threadpool_limits(limits=threads)
        how.append("threadpoolctl")
    elif "OPENBLAS_NUM_THREADS" in os.environ:
        how.append("OPENBLAS_NUM_THREADS")
    if torch is not None:
        torch.set_num_threads(threads)
        how.append("torch.set_num_threads")
    return threads, how, limiter


class OtherLoad:
    """How busy other processes keep the CPU: the machine's busy time from /proc/stat minus
    this process's own CPU time, as a fraction of all cores, since start() or the last
    reset. Reports None where /proc/stat does not exist."""

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
        return idle, total, t.user + t.system

    def fraction(self):
        now = self._sample()
        if now is None or self.start is None or now[1] <= self.start[1]:
            return None
        total = (now[1] - self.start[1]) / self.hz
        busy = total - (now[0] - self.start[0]) / self.hz
        own = now[2] - self.start[2]
        return min(1.0, max(0.0, (busy - own) / total))


# ---- data ----------------------------------------------------------------------------
def make_data(n, n_in, n_classes, seed):
    """Standard-normal float32 inputs, labels = argmax of a random linear teacher."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_in), dtype=np.float32)
    teacher = rng.standard_normal((n_in, n_classes)).astype(np.float32)
    y = np.argmax(X @ teacher, axis=1).astype(np.int64)
    return X, y


def n_weights(widths):
    return sum(a * b for a, b in zip(widths[:-1], widths[1:]))


def flops_per_sample(widths):
    """Necessary floating-point work of one training sample: 6 per weight, less the first
    layer's input gradient (2 per first-layer weight)."""
    return 6 * n_weights(widths) - 2 * widths[0] * widths[1]


# ---- timing --------------------------------------------------------------------------
def measure_training(run, n_samples, seconds, repeats, warm_seconds):
    """run(k) trains k epochs and returns the number of epochs it did. Returns
    (best samples/s, median samples/s, epochs per repeat)."""
    t0 = perf()
    run(1)                                   # warm-up: allocation, caches, thread start,
    while perf() - t0 < warm_seconds:        # clock ramp-up
        run(1)
    t0 = perf()
    done = run(1)                            # calibration
    per_epoch = (perf() - t0) / max(done, 1)
    k = int(min(1000, max(1, round(seconds / max(per_epoch, 1e-9)))))
    rates = []
    for _ in range(repeats):
        t0 = perf()
        done = run(k)
        rates.append(done * n_samples / (perf() - t0))
    return max(rates), statistics.median(rates), k


def measure_latency(fn, calls, warm=50):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(calls):
        t0 = perf()
        fn()
        times.append(perf() - t0)
    return statistics.median(times)


def sgemm_rate(m, k, n, seconds, repeats):
    """GFLOP/s of C = A @ B with A (m, k), B (k, n), float32, best of repeats.
    Returns (rate, label of the routine used)."""
    rng = np.random.default_rng(1)
    A = rng.standard_normal((m, k), dtype=np.float32)
    B = rng.standard_normal((k, n), dtype=np.float32)
    if core is not None and hasattr(core, "gemm"):
        gemm, label = core.gemm, "mlpcore._core.gemm (bundled OpenBLAS)"
    else:
        gemm, label = np.matmul, "numpy.matmul (mlpcore._core.gemm unavailable; NumPy's BLAS)"
    t0 = perf()
    while perf() - t0 < min(0.2, seconds):  # warm-up: thread start, clock ramp-up
        gemm(A, B)
    t0 = perf()
    gemm(A, B)
    one = max(perf() - t0, 1e-7)
    calls = int(min(10000, max(1, seconds / one)))
    best = math.inf
    for _ in range(max(3, repeats)):
        t0 = perf()
        for _ in range(calls):
            gemm(A, B)
        best = min(best, (perf() - t0) / calls)
    return 2.0 * m * n * k / best / 1e9, label


# ---- the three peers -----------------------------------------------------------------
def mlpcore_layers(widths, blocks):
    layers = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        layers.append(mc.Dense(a, b))
        if i < len(widths) - 2:
            if blocks:
                layers += [mc.BatchNorm(b), mc.ReLU(), mc.Dropout(DROPOUT)]
            else:
                layers.append(mc.ReLU())
    return layers


def mlpcore_net(widths, blocks, backend):
    return mc.Sequential(mlpcore_layers(widths, blocks), loss="softmax_cross_entropy",
                         dtype="float32", seed=SEED, backend=backend)


def mlpcore_trainer(widths, blocks, X, y, batch, backend):
    net = mlpcore_net(widths, blocks, backend)

    def run(k):
        net.fit(X, y, epochs=k, batch_size=batch, lr=LR, shuffle=True)
        return k
    return run


def torch_model(widths, blocks):
    torch.manual_seed(SEED)
    mods = []
    for i, (a, b) in enumerate(zip(widths[:-1], widths[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(widths) - 2:
            if blocks:
                mods += [nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(DROPOUT)]
            else:
                mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def torch_trainer(widths, blocks, X, y, batch):
    model = torch_model(widths, blocks).train()
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    crit = nn.CrossEntropyLoss()
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    n = X.shape[0]

    def run(k):
        for _ in range(k):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, batch):
                idx = perm[s:s + batch]
                opt.zero_grad(set_to_none=True)
                loss = crit(model(Xt[idx]), yt[idx])
                loss.backward()
                opt.step()
        return k
    return run


def sklearn_trainer(widths, X, y, batch):
    clf = MLPClassifier(hidden_layer_sizes=tuple(widths[1:-1]), activation="relu",
                        solver="sgd", learning_rate="constant", learning_rate_init=LR,
                        momentum=0.0, nesterovs_momentum=False, alpha=0.0, batch_size=batch,
                        shuffle=True, random_state=SEED, early_stopping=False, tol=0.0,
                        n_iter_no_change=sys.maxsize, warm_start=True, max_iter=1)

    def run(k):
        before = len(getattr(clf, "loss_curve_", []))
        clf.set_params(max_iter=k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after every call
            clf.fit(X, y)
        return len(clf.loss_curve_) - before  # epochs done (loss_curve_ survives warm starts)
    return run, clf


# ---- report --------------------------------------------------------------------------
def fmt_rate(x):
    if x is None:
        return "-"
    return f"{x / 1e6:.2f}M" if x >= 1e6 else f"{x / 1e3:.1f}k"


def fmt_ratio(a, b):
    return f"{a / b:.2f}x" if a and b else "skipped"


def fmt_time(s):
    return f"{s * 1e6:.1f} us" if s < 1e-3 else f"{s * 1e3:.2f} ms"


def main(argv=None):
    args = parse_args(argv)
    t_start = perf()
    _imports(args.threads)
    if args.backend == "native" and core is None:
        print("mlpcore's C++ extension (mlpcore._core) is not built or failed to load:\n  "
              f"{SKIPPED['_core']}\nBuild it ('pip install .') or run with --backend numpy.",
              file=sys.stderr)
        return 2
    threads, how, _limiter = set_threads(args.threads)

    print("mlpcore benchmark" + (" (--quick: tiny sizes, numbers are not meaningful)"
                                 if args.quick else ""))
    print(f"  python {platform.python_version()}, numpy {np.__version__}, "
          f"mlpcore {mc.__version__} backend={args.backend}"
          + (" (the NumPy reference twin, not the fast engine)" if args.backend == "numpy" else ""))
    print(f"  torch: {torch.__version__ if torch else 'skipped - ' + SKIPPED['torch']}")
    if MLPClassifier is not None:
        import sklearn
        print(f"  scikit-learn: {sklearn.__version__}")
    else:
        print(f"  scikit-learn: skipped - {SKIPPED['sklearn']}")
    print(f"  threads: {threads} for every peer (set by {', '.join(how) or 'nothing'}); "
          f"usable cores: {usable_cores()}")
    if threadpoolctl is None:
        print("  note: threadpoolctl missing, NumPy's BLAS thread count is only set by "
              "--threads (environment variables)")
    load = OtherLoad()
    time.sleep(0.3)
    busy = load.fraction()
    if busy is not None:
        print(f"  other processes kept {busy:.0%} of the CPU busy just before the run"
              + ("  WARNING: the numbers below are unreliable" if busy > 0.15 else ""))
    load = OtherLoad()
    print(f"  float32, SGD lr={LR}, seed={SEED}; best of {args.repeats} repeats of "
          f"~{args.seconds:g} s (median in brackets)")

    # sgemm: the physical limit of a training step.
    print("\nsgemm (float32, C = A @ B, best of repeats)")
    gemm_seconds = 0.05 if args.quick else 0.3
    g1024, label = sgemm_rate(1024, 1024, 1024, gemm_seconds, args.repeats)
    glayer, _ = sgemm_rate(128, 784, 256, gemm_seconds, args.repeats)
    print(f"  via {label}")
    print(f"  1024x1024x1024: {g1024:7.1f} GFLOP/s")
    print(f"  128x784x256   : {glayer:7.1f} GFLOP/s   (net (a)'s first layer, batch 128)")

    warm = 0.05 if args.quick else 0.3  # seconds of warm-up epochs before each measurement
    results = {}  # net key -> {"mlpcore": rate, "torch": rate, "sklearn": rate}
    for key in args.nets:
        title, widths, blocks, batch, n_full, n_quick = NETS[key]
        n = n_quick if args.quick else n_full
        X, y = make_data(n, widths[0], widths[-1], seed=SEED + 1)
        nw = n_weights(widths)
        print(f"\n({key}) {title}, batch {batch}, {n} samples, {nw} weights "
              f"({flops_per_sample(widths) * batch / 1e6:.1f} MFLOP per step)")
        row = results[key] = {}

        def report(peer, best, med, k, note=""):
            gf = flops_per_sample(widths) * best / 1e9
            print(f"  {peer:<8} {fmt_rate(best):>7} samples/s  [{fmt_rate(med)}]  "
                  f"{gf:6.1f} GFLOP/s = {gf / g1024:5.1%} of sgemm@1024, "
                  f"{gf / glayer:5.1%} of sgemm@layer  ({k} epochs/repeat){note}")

        best, med, k = measure_training(mlpcore_trainer(widths, blocks, X, y, batch, args.backend),
                                        n, args.seconds, args.repeats, warm)
        row["mlpcore"] = best
        report("mlpcore", best, med, k)

        if torch is not None:
            best, med, k = measure_training(torch_trainer(widths, blocks, X, y, batch),
                                            n, args.seconds, args.repeats, warm)
            row["torch"] = best
            report("torch", best, med, k)
        else:
            print("  torch    skipped: " + SKIPPED["torch"])

        if blocks:
            print("  sklearn  skipped: MLPClassifier has no batch norm or dropout")
            row["sklearn"] = "n/a"
        elif MLPClassifier is not None:
            run, clf = sklearn_trainer(widths, X, y, batch)
            best, med, k = measure_training(run, n, args.seconds, args.repeats, warm)
            row["sklearn"] = best
            note = f"  computes in {clf.coefs_[0].dtype}"
            if widths[-1] == 2:
                note += ", 1 logistic output"
            report("sklearn", best, med, k, note)
        else:
            print("  sklearn  skipped: " + SKIPPED["sklearn"])

    # single-sample predict latency, net (a)
    print("\npredict one row, net (a) 784-256-128-10 (median of many calls)")
    calls = 200 if args.quick else 3000
    widths = NETS["a"][1]
    X, _ = make_data(16, widths[0], widths[-1], seed=SEED + 2)
    x1 = np.ascontiguousarray(X[:1])
    net = mlpcore_net(widths, False, args.backend)
    lat_mc = measure_latency(lambda: net.predict(x1), calls)
    print(f"  mlpcore  {fmt_time(lat_mc):>10}   net.predict(x) (numpy in, probabilities out, "
          "with input checks)")
    lat_torch = None
    if torch is not None:
        model = torch_model(widths, False).eval()
        with torch.inference_mode():
            lat_torch = measure_latency(
                lambda: torch.softmax(model(torch.from_numpy(x1)), dim=1).numpy(), calls)
            xt = torch.from_numpy(x1)
            lat_raw = measure_latency(lambda: model(xt), calls)
        print(f"  torch    {fmt_time(lat_torch):>10}   inference_mode, numpy in, softmax, "
              "numpy out (same contract)")
        print(f"  torch    {fmt_time(lat_raw):>10}   inference_mode, model(tensor) -> logits "
              "(its bare minimum)")
    else:
        print("  torch    skipped: " + SKIPPED["torch"])

    # sgemm once more: on a shared machine one measurement can catch a slow moment, and the
    # fraction of the sgemm rate is only meaningful against the best rate the BLAS reaches.
    g1024_end, _ = sgemm_rate(1024, 1024, 1024, gemm_seconds, args.repeats)
    glayer_end, _ = sgemm_rate(128, 784, 256, gemm_seconds, args.repeats)
    print(f"\nsgemm re-measured after the runs: 1024^3 {g1024_end:.1f}, 128x784x256 "
          f"{glayer_end:.1f} GFLOP/s; the table below uses the best of both measurements")
    g1024, glayer = max(g1024, g1024_end), max(glayer, glayer_end)

    # ratios last
    print(f"\nratios (mlpcore / peer; > 1 means mlpcore is faster), backend={args.backend}, "
          f"threads={threads}")
    head = f"  {'':<42}{'vs torch':>10}{'vs sklearn':>12}{'sgemm@1024':>12}{'sgemm@layer':>13}"
    print(head)
    for key, row in results.items():
        title, widths, _, batch = NETS[key][:4]
        gf = flops_per_sample(widths) * row["mlpcore"] / 1e9
        sk = row.get("sklearn")
        sk_txt = "n/a" if sk == "n/a" else fmt_ratio(row["mlpcore"], sk)
        print(f"  {'(' + key + ') ' + title + ' b' + str(batch):<42}"
              f"{fmt_ratio(row['mlpcore'], row.get('torch')):>10}{sk_txt:>12}"
              f"{gf / g1024:>12.1%}{gf / glayer:>13.1%}")
    lat_txt = f"{lat_torch / lat_mc:.2f}x" if lat_torch else "skipped"
    print(f"  {'predict 1 row (a), torch time / ours':<42}{lat_txt:>10}{'-':>12}")
    busy = load.fraction()
    print(f"  (total run time {perf() - t_start:.1f} s"
          + (f"; other processes kept {busy:.0%} of the CPU busy meanwhile" if busy is not None
             else "") + ")")
    if busy is not None and busy > 0.1:
        print("  WARNING: other processes competed for the CPU during the run; the numbers "
              "above are unreliable, run it again on an idle machine")
    return 0


if __name__ == "__main__":
    sys.exit(main())
