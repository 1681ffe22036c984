"""Data-parallel training on a dask.distributed LocalCluster of 1 and 2 single-threaded worker
processes (mlpcore/_dask.py, docs/distributed.md), same data and epochs: seconds per epoch,
the training traffic per epoch (the bytes of the scattered model buffers times the workers
that fetch them, plus the results sent back: what _dask.Partitions counts) and the held-out
accuracy; the single-machine fit (one process, 1 thread) alongside.

    PYTHONPATH=python python bench/bench_dask.py            # about 2 minutes
    PYTHONPATH=python python bench/bench_dask.py --quick    # a smoke run

Modes: "full batch" (Adam on the whole batch: one round per epoch) and "minibatch" (local
SGD, batch_size the global batch, averaged once per epoch). The data: a synthetic
3-class task (make_classification), 784-256-128-3 float32 (235,139 parameters).
"""

import argparse
import os
import statistics
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)


def cpu_description():
    model, flags = "unknown CPU", set()
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name") and model == "unknown CPU":
                model = line.split(":", 1)[1].strip()
            elif line.startswith("flags") and not flags:
                flags = set(line.split(":", 1)[1].split())
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile") if f in flags]
    return f"{model} ({', '.join(isa) or 'no AVX2'})"


def _one_thread():
    import threadpoolctl

    import mlpcore as mc

    threadpoolctl.threadpool_limits(1)
    mc.set_num_threads(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import dask.array as da
    import distributed
    from sklearn.datasets import make_classification
    from sklearn.model_selection import train_test_split

    import mlpcore as mc

    n = 4000 if args.quick else 24000
    epochs = {"full batch": 3 if args.quick else 20, "minibatch": 2 if args.quick else 5}
    X, y = make_classification(n + 6000, 784, n_informative=40, n_classes=3, random_state=0)
    X = X.astype(np.float32)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=6000, random_state=0, stratify=y)

    def make():
        return mc.Sequential(
            [mc.Dense(784, 256), mc.ReLU(), mc.Dense(256, 128), mc.ReLU(), mc.Dense(128, 3)],
            loss="softmax_cross_entropy",
            seed=0,
        )

    settings = {
        "full batch": dict(batch_size=len(Xtr), optimizer="adam", lr=3e-3),
        "minibatch": dict(batch_size=128, optimizer="adam", lr=1e-3),
    }
    print(f"CPU: {cpu_description()}; {os.cpu_count()} cores")
    print(
        f"data: {len(Xtr)} x 784 train, {len(Xte)} test; 784-256-128-3 float32 "
        f"({sum(w.size for w in make().get_weights())} parameters)"
    )
    rows = []
    _one_thread()
    for mode, kw in settings.items():
        times, acc = [], None
        for _ in range(args.repeats):
            net = make()
            t0 = time.perf_counter()
            net.fit(Xtr, ytr, epochs=epochs[mode], **kw)
            times.append((time.perf_counter() - t0) / epochs[mode])
            acc = net.evaluate(Xte, yte)["accuracy"]
        rows.append((mode, "1 process", statistics.median(times), 0, acc))
    for workers in (1, 2):
        with (
            distributed.LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            ) as cluster,
            distributed.Client(cluster) as client,
        ):
            client.run(_one_thread)
            # the data lives on the workers, two blocks per worker
            chunk = -(-len(Xtr) // (2 * workers))
            Xd = da.from_array(Xtr, chunks=(chunk, 784)).persist()
            yd = da.from_array(ytr, chunks=chunk).persist()
            distributed.wait([Xd, yd])
            for mode, kw in settings.items():
                times, moved, acc = [], [], None
                for _ in range(args.repeats):
                    net = make()
                    per_epoch = []
                    traffic = []
                    from mlpcore import _dask

                    real = _dask.Partitions.train_epoch

                    def counted(self, *a, **k):
                        before = self.bytes_moved
                        t0 = time.perf_counter()
                        out = real(self, *a, **k)
                        per_epoch.append(time.perf_counter() - t0)
                        traffic.append(self.bytes_moved - before)
                        return out

                    _dask.Partitions.train_epoch = counted
                    try:
                        net.fit(Xd, yd, epochs=epochs[mode], **kw)
                    finally:
                        _dask.Partitions.train_epoch = real
                    times.append(statistics.median(per_epoch))
                    moved.append(statistics.median(traffic))
                    acc = net.evaluate(Xte, yte)["accuracy"]
                rows.append(
                    (
                        mode,
                        f"{workers} worker{'s' if workers > 1 else ''}",
                        statistics.median(times),
                        statistics.median(moved),
                        acc,
                    )
                )
    print(f"\n{'mode':<11} {'where':<10} {'s/epoch':>8} {'MB/epoch':>9} {'accuracy':>9}")
    for mode, where, t, b, a in rows:
        print(f"{mode:<11} {where:<10} {t:8.3f} {b / 1e6:9.2f} {a:9.4f}")
    for mode in settings:
        t = {w: s for m, w, s, _, _ in rows if m == mode}
        print(
            f"{mode}: 1 worker / 2 workers time per epoch = "
            f"{t['1 worker'] / t['2 workers']:.2f}x; 1 process / 2 workers = "
            f"{t['1 process'] / t['2 workers']:.2f}x"
        )


if __name__ == "__main__":
    main()
