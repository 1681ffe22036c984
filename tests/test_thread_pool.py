"""The C++ engine's thread pool (cpp/src/parallel.cpp) and the products it splits into panels
(cpp/src/blas.cpp): every task runs exactly once whatever the thread count, a task's
exception reaches Python and leaves the pool working, nested and concurrent calls run, a forked
child gets a working pool, and split products are within rounding of the exact ones and
bitwise the same at every thread count."""

import multiprocessing
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import Dense, ReLU, Sequential

core = pytest.importorskip("mlpcore._core", reason="the C++ engine mlpcore._core is not built")
testing = core.testing


@pytest.fixture
def threads():
    """Sets the engine's thread count for one test, then restores it."""
    before = mc.get_num_threads()
    yield mc.set_num_threads
    mc.set_num_threads(before)


@pytest.mark.parametrize("n_threads", [1, 2, 3, 8])
@pytest.mark.parametrize("n", [0, 1, 2, 3, 7, 64, 1000])
def test_every_task_runs_once(threads, n_threads, n):
    threads(n_threads)
    for _ in range(3):
        counts, used, error = testing.parallel_counts(n)
        assert counts.tolist() == [1] * n and error is None
        assert 1 <= used <= max(1, min(n, n_threads)) or n == 0
    print(f"{n} tasks at {n_threads} threads: {used} thread(s) ran them")


def test_nested_calls_run_on_their_thread(threads):
    threads(4)
    counts, _, _ = testing.parallel_counts(16, inner=5)
    assert counts.tolist() == [6] * 16  # the task's own count + 5 inner tasks


@pytest.mark.parametrize("n_threads", [1, 2, 4])
def test_task_exception_reaches_the_caller_after_every_other_task(threads, n_threads):
    """The failing task's exception is rethrown once every other task ran, on one thread or
    several; then the pool works as before."""
    threads(n_threads)
    for _ in range(5):
        counts, _, error = testing.parallel_counts(40, fail_at=5)
        assert error == "task 5 failed"
        assert counts.tolist() == [1] * 5 + [0] + [1] * 34  # task 5 threw before counting
    counts, _, error = testing.parallel_counts(40)
    assert counts.tolist() == [1] * 40 and error is None


def test_concurrent_callers(threads):
    """Python threads predicting at once share the pool (one runs parallel, the others run
    serially on their own thread): every result equals the one-thread result."""
    threads(1)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2048, 300)).astype(np.float32)
    net = Sequential(
        [Dense(300, 256), ReLU(), Dense(256, 3)],
        loss="softmax_cross_entropy",
        dtype="float32",
        seed=1,
    )
    expected = net.predict(X)
    threads(3)
    results, errors = [None] * 6, []

    def work(i):
        try:
            for _ in range(5):
                results[i] = net.predict(X)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    workers = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert not errors and all(not w.is_alive() for w in workers)
    diff = max(float(np.max(np.abs(r - expected))) for r in results)
    print(f"6 concurrent callers at 3 threads vs 1 thread: max difference {diff:.3g}")
    assert diff <= 1e-6


def _child_predict(conn):
    mc.set_num_threads(2)
    X = np.random.default_rng(1).standard_normal((1024, 400)).astype(np.float32)
    net = Sequential([Dense(400, 400), ReLU(), Dense(400, 2)], loss="mse", dtype="float32", seed=3)
    conn.send((net.predict(X), testing.parallel_counts(50)[0].tolist()))


def test_thread_count_changed_during_calls(threads):
    """Another thread changing the thread count while predict and loss run (both release the
    GIL) changes neither their results (the cut depends on the shapes alone, and the number
    of workspaces of a call is fixed when it starts) nor memory safety."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((5000, 32)).astype(np.float32)
    Y = rng.standard_normal((5000, 2)).astype(np.float32)
    net = Sequential([Dense(32, 64), ReLU(), Dense(64, 2)], loss="mse", dtype="float32", seed=1)
    threads(1)
    p1, l1 = net.predict(X), net.loss(X, Y)
    stop = threading.Event()

    def toggle():
        k = 0
        while not stop.is_set():
            mc.set_num_threads(1 + k % 3)
            k += 1

    toggler = threading.Thread(target=toggle)
    toggler.start()
    worst = 0.0
    try:
        for _ in range(200):
            worst = max(
                worst,
                float(np.max(np.abs(net.predict(X) - p1))),
                abs(net.loss(X, Y) - l1) / abs(l1),
            )
    finally:
        stop.set()
        toggler.join()
    print(f"predict/loss while the thread count changes: max difference {worst:.3g}")
    assert worst == 0


def test_forked_child_has_a_working_pool(threads):
    """The parent's workers do not exist in a forked child: the child starts its own."""
    threads(2)
    testing.parallel_counts(100)  # the parent's workers exist now
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe()
    proc = ctx.Process(target=_child_predict, args=(child,))
    proc.start()
    assert parent.poll(120), "the forked child hung"
    got, counts = parent.recv()
    proc.join(30)
    assert proc.exitcode == 0 and counts == [1] * 50
    X = np.random.default_rng(1).standard_normal((1024, 400)).astype(np.float32)
    net = Sequential([Dense(400, 400), ReLU(), Dense(400, 2)], loss="mse", dtype="float32", seed=3)
    assert np.array_equal(got, net.predict(X))


# Shapes around the split threshold (4e6 flops) that cut rows (N <= M) or columns, with
# panel edges off the 16-row grid.
GEMM_SHAPES = [(300, 200, 100), (100, 300, 200), (1000, 33, 70), (40, 700, 513), (517, 64, 129)]


def assert_within_rounding(got, a, b, what):
    """|got - a b| <= K eps (|a| |b|) elementwise, in float64: the classic bound on the
    rounding of a length-K dot product (Higham, Accuracy and Stability, 3.5)."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    bound = a.shape[-1] * np.finfo(a.dtype).eps * (np.abs(a64) @ np.abs(b64))
    ratio = float(np.max(np.abs(got - a64 @ b64) / bound))
    assert ratio <= 1.0, f"{what}: error reaches {ratio:.3g} of the rounding bound"
    return ratio


@pytest.mark.parametrize("M,K,N", GEMM_SHAPES)
def test_split_gemm_within_rounding(threads, M, K, N, dtype, rng):
    a = rng.standard_normal((M, K)).astype(dtype)
    b = rng.standard_normal((K, N)).astype(dtype)
    one, worst = None, 0.0
    for n_threads in (1, 2, 3, 5):
        threads(n_threads)
        for ta in (False, True):
            for tb in (False, True):
                A = np.ascontiguousarray(a.T) if ta else a
                B = np.ascontiguousarray(b.T) if tb else b
                got = testing.gemm(A, B, trans_a=ta, trans_b=tb)
                worst = max(
                    worst,
                    assert_within_rounding(got, a, b, f"gemm {n_threads} thr ta={ta} tb={tb}"),
                )
                if n_threads == 1 and not ta and not tb:
                    one = got
        same = testing.gemm(a, b)
        print(
            f"{M}x{K}x{N} {np.dtype(dtype).name}: {n_threads} threads vs 1, max difference "
            f"{float(np.max(np.abs(same - one))):.3g}"
        )
        assert np.array_equal(same, one), f"{n_threads} threads gave other bits than 1"
    print(f"largest error: {worst:.3g} of the rounding bound")


@pytest.mark.parametrize("M,N", [(1024, 1024), (300, 2000), (2000, 300), (517, 999)])
def test_split_gemv_within_rounding(threads, M, N, dtype, rng):
    a = rng.standard_normal((M, N)).astype(dtype)
    x, xt = rng.standard_normal(N).astype(dtype), rng.standard_normal(M).astype(dtype)
    worst, one = 0.0, None
    for n_threads in (1, 2, 3):
        threads(n_threads)
        got = testing.gemv(a, x), testing.gemv(a, xt, trans=True)
        worst = max(
            worst,
            assert_within_rounding(got[0], a, x, f"a x, {n_threads} thr"),
            assert_within_rounding(got[1], a.T, xt, f"a^T x, {n_threads} thr"),
        )
        one = one or got
        assert np.array_equal(got[0], one[0]) and np.array_equal(got[1], one[1]), (
            f"{n_threads} threads gave other bits than 1"
        )
    print(f"largest error: {worst:.3g} of the rounding bound")
    with pytest.raises(ValueError, match=rf"x must have shape \({N},\)"):
        testing.gemv(a, np.ones(N + 1, dtype), trans=False)


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="needs Linux's /proc")
def test_workers_leave_ctrl_c_to_the_other_threads(threads):
    """The pool's workers (named mlpcore-pool) block SIGINT, so Ctrl-C reaches Python's main
    thread, but not SIGSEGV, so faulthandler and sanitizers still see faults."""
    threads(3)
    testing.parallel_counts(300)  # the workers exist now

    def status(task):
        with open(f"/proc/self/task/{task}/status") as f:
            return dict(line.split(":", 1) for line in f if ":" in line)

    workers = [
        status(t)
        for t in os.listdir("/proc/self/task")
        if status(t)["Name"].strip() == "mlpcore-pool"
    ]
    sigint, sigsegv = 1 << (signal.SIGINT - 1), 1 << (signal.SIGSEGV - 1)
    masks = [int(w["SigBlk"].strip(), 16) for w in workers]
    print(f"{len(workers)} pool workers, signal masks {[hex(m) for m in masks]}")
    assert len(workers) >= 2  # a 3-thread pool has two
    assert all(m & sigint and not m & sigsegv for m in masks)
    assert not int(status(os.getpid())["SigBlk"].strip(), 16) & sigint  # the main thread


READ_WHILE_FITTING = """
import threading, time
import numpy as np
from mlpcore import _core
from mlpcore._engine import EpochOptions
net = _core.Network32([("dense", 64, 256), ("relu", 256, 256), ("dense", 256, 10)],
                      "softmax_cross_entropy", 0)
net.set_params(np.random.default_rng(0).standard_normal(net.n_params).astype(np.float32) * 0.05)
X = np.random.default_rng(1).standard_normal((400000, 64)).astype(np.float32)
Y = np.eye(10, dtype=np.float32)[np.random.default_rng(2).integers(0, 10, 400000)]
started = threading.Event()
def fit():
    started.set()
    net.train_epoch(X, Y, EpochOptions(batch_size=32, optimizer={"name": "sgd"}, lr=0.01,
                                       check_interrupts=True), 0, 0, 0)
fitter = threading.Thread(target=fit)
fitter.start()
started.wait()
time.sleep(0.05)  # inside the epoch (about 0.4 s on 2 idle cores)
t = time.time()
net.get_params()
waited = time.time() - t
fitter.join()
print("waited", round(waited, 3), "alive", fitter.is_alive(), flush=True)
"""


def test_reading_parameters_while_another_thread_trains():
    """The engine's get_params on one thread while train_epoch runs on another (Sequential
    serialises its own public methods with a lock of its own; the engine must stand alone):
    the read waits for the epoch without the GIL. It used to wait with it, while the epoch
    polled for Ctrl-C needing the GIL: both threads hung."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    try:
        out = subprocess.run(
            [sys.executable, "-c", READ_WHILE_FITTING],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
    except subprocess.TimeoutExpired:
        pytest.fail("reading parameters while training deadlocked (no exit within 120 s)")
    print(out.stdout.strip(), out.stderr[-300:])
    assert out.returncode == 0 and out.stdout.split()[-1] == "False"


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs two CPUs")
def test_cross_core_lines_measures_positive_times():
    got = testing.cross_core_lines(8, rounds=50)
    assert got["lines"] == 8 * 1024 // 64
    assert len(set(got["cpus"])) == 2
    keys = [
        "write_lines_the_other_core_read_ns",
        "read_lines_the_other_core_wrote_ns",
        "read_own_lines_ns",
    ]
    for key in keys:
        assert 0 < got[key] < 1e6, (key, got[key])
    print({key: round(got[key], 2) for key in keys})


@pytest.mark.parametrize("kb, rounds", [(0, 10), (65537, 10), (8, 0)])
def test_cross_core_lines_rejects_bad_sizes(kb, rounds):
    with pytest.raises(ValueError, match="kb must be in"):
        testing.cross_core_lines(kb, rounds=rounds)
