#!/usr/bin/env python
"""mlpcore's drop-in MLPClassifier/MLPRegressor next to scikit-learn's, on scikit-learn's
bundled data sets, with default parameters: make_pipeline(StandardScaler(), est), 5-fold
cross-validation (the same folds and random_state=0 for both). Prints the mean test score of
each (accuracy; R^2 for diabetes) and the total fit time, then the ratios last.

    PYTHONPATH=python python bench/bench_sklearn.py                 # all five, ~1-2 min
    PYTHONPATH=python python bench/bench_sklearn.py --quick         # iris and wine, 2 folds
    PYTHONPATH=python python bench/bench_sklearn.py --threads 1     # BLAS threads (both)
    PYTHONPATH=python python bench/bench_sklearn.py --dtype float32 # mlpcore's dtype option

Both train in float64 by default (scikit-learn follows X's dtype; so does mlpcore unless
dtype= is given) with the same initial weights, shuffles and update rules, so their scores
agree closely. The data sets are small (142 to 1437 training rows per fold), so per-epoch
overhead weighs as much as the arithmetic. Timings on a shared 2-core machine are noisy:
each fit is repeated --repeat times and the best total is kept.
"""

import argparse
import time
import warnings

import numpy as np

DATASETS = ["digits", "breast_cancer", "wine", "iris", "diabetes"]


def load(name):
    from sklearn import datasets

    return getattr(datasets, f"load_{name}")(return_X_y=True)


def run(est, X, y, folds):
    from sklearn.model_selection import cross_validate
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning at max_iter, as scikit-learn's
        res = cross_validate(make_pipeline(StandardScaler(), est), X, y, cv=folds)
    return float(np.mean(res["test_score"])), float(np.sum(res["fit_time"]))


def larger(args, ours_cls, ref_cls):
    """A larger synthetic problem, where the arithmetic outweighs the per-epoch overhead:
    20000 x 100, 10 classes, hidden (256, 128), 10 epochs of default Adam (train score)."""
    from sklearn.datasets import make_classification

    X, y = make_classification(
        n_samples=20000, n_features=100, n_informative=60, n_classes=10, random_state=0
    )
    X = X.astype(args.dtype or np.float64)
    kw = dict(hidden_layer_sizes=(256, 128), max_iter=10, random_state=0)
    out = []
    for who, est in (("mlpcore", ours_cls(dtype=args.dtype, **kw)), ("sklearn", ref_cls(**kw))):
        best = np.inf
        for _ in range(1 if args.quick else args.repeat):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                est.fit(X, y)
                best = min(best, time.perf_counter() - t)
        out.append((est.score(X, y), best))
    (s1, t1), (s2, t2) = out
    name = "synthetic-20k"
    print(
        f"{name:14s} {s1:9.4f} {s2:9.4f} {s1 - s2:+8.4f}   {t1:13.3f} {t2:13.3f}   "
        "(one fit on all rows, train accuracy; X in the dtype mlpcore trains in)",
        flush=True,
    )
    return [(name, s1, s2, t1, t2)]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="iris and wine, 2 folds, 1 repeat")
    p.add_argument("--threads", type=int, default=None, help="BLAS threads for both peers")
    p.add_argument("--dtype", default=None, help="mlpcore's dtype option (default: X's)")
    p.add_argument("--repeat", type=int, default=2, help="repeats per fit; best total kept")
    p.add_argument("--datasets", nargs="*", default=None)
    args = p.parse_args()

    from sklearn.neural_network import MLPClassifier as SkC
    from sklearn.neural_network import MLPRegressor as SkR
    from threadpoolctl import threadpool_info, threadpool_limits

    from mlpcore import MLPClassifier, MLPRegressor

    try:  # load the engine's OpenBLAS now, so that threadpoolctl's limit reaches it
        import mlpcore._core  # noqa: F401
    except ImportError:
        pass

    names = args.datasets or (["iris", "wine"] if args.quick else DATASETS)
    folds = 2 if args.quick else 5
    repeat = 1 if args.quick else args.repeat
    limits = threadpool_limits(limits=args.threads, user_api="blas") if args.threads else None
    print(f"BLAS pools: {[(i['internal_api'], i['num_threads']) for i in threadpool_info()]}")
    print(f"{folds}-fold CV, default parameters, random_state=0, mlpcore dtype={args.dtype}")
    print(
        f"{'data set':14s} {'mlpcore':>9s} {'sklearn':>9s} {'diff':>8s}   "
        f"{'fit s mlpcore':>13s} {'fit s sklearn':>13s}"
    )
    rows = []
    for name in names:
        X, y = load(name)
        regression = name == "diabetes"
        ours_cls, ref_cls = (MLPRegressor, SkR) if regression else (MLPClassifier, SkC)
        results = {}
        for who, make in (
            ("mlpcore", lambda: ours_cls(random_state=0, dtype=args.dtype)),
            ("sklearn", lambda: ref_cls(random_state=0)),
        ):
            best = None
            for _ in range(repeat):
                score, seconds = run(make(), X, y, folds)
                best = (score, seconds) if best is None or seconds < best[1] else best
            results[who] = best
        (s1, t1), (s2, t2) = results["mlpcore"], results["sklearn"]
        rows.append((name, s1, s2, t1, t2))
        print(f"{name:14s} {s1:9.4f} {s2:9.4f} {s1 - s2:+8.4f}   {t1:13.3f} {t2:13.3f}", flush=True)
    if not args.quick:
        rows += larger(args, MLPClassifier, SkC)
    print("\nfit-time ratio scikit-learn / mlpcore (> 1: mlpcore faster), score difference:")
    for name, s1, s2, t1, t2 in rows:
        metric = {"diabetes": "R^2", "synthetic-20k": "train accuracy"}.get(name, "accuracy")
        print(f"  {name:14s} {t2 / t1:6.2f}x   {metric} {s1 - s2:+.4f}")
    if limits is not None:
        limits.restore_original_limits()


if __name__ == "__main__":
    t0 = time.perf_counter()
    main()
    print(f"(total {time.perf_counter() - t0:.0f} s)")
