"""The C++ engine flushes subnormal numbers to zero while it computes (mlpcore._denormals),
on the calling thread and on the pool's workers alike, and gives the caller's floating-point
mode back afterwards; set_flush_denormals(False) keeps IEEE gradual underflow, and then the
engine agrees with the NumPy twin on subnormal results too."""

import threading

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import Dense, ReLU, Sequential

pytest.importorskip("mlpcore._core", reason="the C++ engine mlpcore._core is not built")


@pytest.fixture(autouse=True)
def _restore_settings():
    flush, threads = mc.get_flush_denormals(), mc.get_num_threads()
    yield
    mc.set_flush_denormals(flush)
    mc.set_num_threads(threads)


def _subnormal_net(dtype, backend="native"):
    """A linear net whose outputs are 4 * (tiny / 16): subnormal, from subnormal inputs."""
    net = Sequential([Dense(4, 3)], loss="mse", dtype=dtype, seed=0, backend=backend)
    net.set_weights([np.ones((4, 3), dtype), np.zeros(3, dtype)])
    X = np.full((4096, 4), np.finfo(dtype).tiny / 16, dtype)  # 16 row blocks of predict
    return net, X


def test_flushing_is_on_by_default_and_the_setting_is_checked():
    assert mc.get_flush_denormals() is True
    with pytest.raises(ValueError, match="on must be True or False"):
        mc.set_flush_denormals("no")
    assert mc.get_flush_denormals() is True


def test_subnormals_flush_to_zero_on_every_thread_and_only_when_asked(dtype):
    net, X = _subnormal_net(dtype)
    twin = _subnormal_net(dtype, backend="numpy")[0].predict(X)
    assert np.all(twin == np.finfo(dtype).tiny / 4) and np.all(twin > 0)
    # switching back and forth: a worker that kept the mode of an earlier call would leave
    # some row blocks flushed (or not) against the setting
    for flush in (True, False, True, False):
        mc.set_flush_denormals(flush)
        for threads in (1, 2, 4):
            mc.set_num_threads(threads)
            out = net.predict(X)
            if flush:
                print(f"{dtype} {threads} threads, flushing: {np.count_nonzero(out)} nonzero")
                assert np.count_nonzero(out) == 0
            else:
                diff = float(np.max(np.abs(out.astype(np.float64) - twin)))
                print(f"{dtype} {threads} threads, IEEE: largest difference from the twin {diff}")
                assert np.array_equal(out, twin)


def _numpy_keeps_subnormals(dtype):
    tiny = np.asarray(np.finfo(dtype).tiny, dtype)
    return bool(tiny * np.asarray(0.25, dtype) > 0)


def test_the_callers_floating_point_mode_comes_back(dtype):
    assert _numpy_keeps_subnormals(dtype)
    net, X = _subnormal_net(dtype)
    y = np.zeros((len(X), 3), dtype)
    mc.set_num_threads(2)
    net.predict(X)
    assert _numpy_keeps_subnormals(dtype), "predict left the thread flushing subnormals"
    net.fit(X[:256], y[:256], epochs=1, batch_size=64, verbose=0)
    assert _numpy_keeps_subnormals(dtype), "fit left the thread flushing subnormals"
    seen = []

    def in_a_thread():
        net.predict(X[:8])
        seen.append(_numpy_keeps_subnormals(dtype))

    t = threading.Thread(target=in_a_thread)
    t.start()
    t.join()
    assert seen == [True]


def test_flushing_leaves_a_trained_classifier_as_it_would_be(dtype):
    """Training long enough that the softmax rules classes out (subnormal probabilities and
    deltas): with and without flushing the weights agree to rounding."""
    rng = np.random.default_rng(0)
    X = rng.standard_normal((512, 8)).astype(dtype) * 6
    y = (X[:, 0] + X[:, 1] > 0).astype(np.int64)
    weights = {}
    for flush in (True, False):
        mc.set_flush_denormals(flush)
        net = Sequential(
            [Dense(8, 32), ReLU(), Dense(32, 2)], loss="softmax_cross_entropy", dtype=dtype, seed=1
        )
        net.fit(X, y, epochs=30, batch_size=32, lr=0.2, verbose=0)
        weights[flush] = net.get_weights()
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(weights[True], weights[False]))
    print(f"{dtype}: largest weight difference, flushing vs IEEE, after 30 epochs: {diff}")
    assert diff <= (1e-5 if dtype == "float32" else 1e-12)
