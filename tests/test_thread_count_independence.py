"""The C++ engine gives bitwise the same results at any thread count: every cut of the work
(the panels of a product, the row blocks of predict, the two pieces of a training step cut by
neurons) depends only on the shapes, and partial results are summed in a fixed order, so 1, 2, 3 and 4 threads train to the same weights and
predict the same outputs, in float32 and float64, with batch norm and dropout.

OpenBLAS rounds an element differently depending on where a cut puts it in its kernels' tiles,
and how much depends on the kernels it picked for the CPU. The check therefore also runs in a
child process held to the AVX2 ("Haswell") kernels, where a cut that followed the thread count
changed float32 weights by up to 3e-8 after one epoch (and outputs by 3e-7)."""

import os
import subprocess
import sys

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import BatchNorm, Dense, Dropout, ReLU, Sequential, Tanh

pytest.importorskip("mlpcore._core", reason="the C++ engine mlpcore._core is not built")

THREADS = (1, 2, 3, 4)


def _layers(case):
    if case == "784-256-128-10":  # products above the 4 MFLOP split threshold; cut by neurons
        return [Dense(784, 256), ReLU(), Dense(256, 128), ReLU(), Dense(128, 10)], 128, "sgd"
    if case == "500-128-10 cut weighted clipped":  # cut by neurons, nothing after layer 2
        return [Dense(500, 128), ReLU(), Dense(128, 10)], 100, "adam"
    if case == "200-64-256-10 cut sgd decay":  # the fused SGD step with weight decay
        return [Dense(200, 64), ReLU(), Dense(64, 256), ReLU(), Dense(256, 10)], 64, "sgd"
    if case == "300-256-64-10 cut, bn dropout after":
        return (
            [
                Dense(300, 256),
                Tanh(),
                Dense(256, 64),
                BatchNorm(64),
                ReLU(),
                Dropout(0.2),
                Dense(64, 10),
            ],
            64,
            "sgd",
        )
    if case == "300-512-10 bn dropout":
        return (
            [Dense(300, 512), BatchNorm(512), ReLU(), Dropout(0.2), Dense(512, 10)],
            128,
            "adam",
        )
    if case == "64-128-10":  # small: no product reaches the split threshold, nor the cut
        return [Dense(64, 128), ReLU(), Dense(128, 10)], 64, "sgd"
    if case == "32-64-64-2 weighted clipped":
        return [Dense(32, 64), Tanh(), Dense(64, 64), ReLU(), Dense(64, 2)], 32, "adam"
    if case == "32-64-64-2 dropout":
        return [Dense(32, 64), Tanh(), Dropout(0.1), Dense(64, 64), ReLU(), Dense(64, 2)], 32, "sgd"
    if case == "784-1024-10 one row":  # one-row products: the split gemv (802K weights)
        return [Dense(784, 1024), ReLU(), Dense(1024, 10)], 1, "sgd"
    raise AssertionError(case)


CASES = [
    "784-256-128-10",
    "500-128-10 cut weighted clipped",
    "200-64-256-10 cut sgd decay",
    "300-256-64-10 cut, bn dropout after",
    "300-512-10 bn dropout",
    "64-128-10",
    "32-64-64-2 weighted clipped",
    "32-64-64-2 dropout",
    "784-1024-10 one row",
]


def results(case, dtype, threads):
    """Everything a fit and the passes after it produce, as one dict of arrays."""
    mc.set_num_threads(threads)
    layers, batch, optimizer = _layers(case)
    net = Sequential(layers, loss="softmax_cross_entropy", dtype=dtype, seed=7)
    assert net._engine.cuts_by_neurons(batch) == ("cut" in case or case == "784-256-128-10")
    rng = np.random.default_rng(3)
    n = 24 if batch == 1 else 4 * batch + 7  # a ragged last batch
    X = rng.standard_normal((n, layers[0].n_in)).astype(dtype)
    y = rng.integers(0, layers[-1].n_out, n)
    options = {"momentum": 0.5} if optimizer == "sgd" and "dropout" in case else {}
    if "decay" in case:
        options["weight_decay"] = 0.01
    if "weighted" in case:
        options.update(sample_weight=rng.uniform(0.5, 2.0, n), clip_norm=0.5)
    history = net.fit(X, y, epochs=2, batch_size=batch, optimizer=optimizer, **options)
    out = {f"w{i}": w for i, w in enumerate(net.get_weights())}
    out.update({f"s{i}": s for i, s in enumerate(net.get_state())})
    out["history"] = np.array(list(history))
    out["predict"] = net.predict(X)
    out["predict one row"] = net.predict(X[:1])
    out["predict training"] = net.predict(X, training=True, step=5)
    out["loss"] = np.array(net.loss(X, y))
    for i, g in enumerate(net.gradients(X, y, training=True, step=5)[1]):
        out[f"gradient {i}"] = g
    return out


def differences(case, dtype):
    """{threads: largest difference from 1 thread over every array} for THREADS[1:]."""
    before = mc.get_num_threads()
    try:
        one = results(case, dtype, 1)
        worst = {}
        for t in THREADS[1:]:
            other = results(case, dtype, t)
            assert other.keys() == one.keys()
            worst[t] = max(
                float(
                    np.max(
                        np.abs(np.asarray(other[k], np.float64) - np.asarray(one[k], np.float64)),
                        initial=0,
                    )
                )
                for k in one
            )
        return worst
    finally:
        mc.set_num_threads(before)


@pytest.mark.parametrize("case", CASES)
def test_same_bits_at_every_thread_count(case, dtype):
    worst = differences(case, dtype)
    print(f"{case} {dtype}: largest difference from 1 thread at {THREADS[1:]} threads: {worst}")
    assert all(v == 0 for v in worst.values()), worst


def _has_avx2():
    try:
        with open("/proc/cpuinfo") as f:
            return " avx2" in f.read()
    except OSError:
        return False


@pytest.mark.skipif(not _has_avx2(), reason="the Haswell kernels need AVX2")
def test_same_bits_on_the_avx2_kernels():
    """The same check with OpenBLAS held to its Haswell kernels, which round cut products
    differently from whole ones (float32 here: the case where cuts showed)."""
    env = dict(os.environ, OPENBLAS_CORETYPE="Haswell")
    run = subprocess.run(
        [sys.executable, __file__],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    print(run.stdout, run.stderr[-2000:])
    assert run.returncode == 0, run.stderr[-2000:]
    lines = [line for line in run.stdout.splitlines() if line.startswith("case ")]
    assert len(lines) == len(CASES), run.stdout
    assert all(line.endswith(" 0") for line in lines), run.stdout


if __name__ == "__main__":  # the child of test_same_bits_on_the_avx2_kernels
    for c in CASES:
        w = differences(c, "float32")
        print(f"case {c}: {w} largest {max(w.values()):.3g}")
