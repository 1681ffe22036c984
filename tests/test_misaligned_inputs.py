"""Misaligned arrays (e.g. np.frombuffer(buf, offset=1)) must never reach an
engine. Every public call given misaligned (and misaligned non-contiguous) views must give
bitwise the results of the aligned copies, and the engine itself must only ever see
C-contiguous, aligned arrays of the model's dtype. (Under .ci/sanitize.sh, UBSan aborts on a
misaligned load in the C++ loops, so these tests also guard the native code itself.)"""

import numpy as np
import pytest

import mlpcore as mc

from conftest import assert_all_equal, targets


def misaligned(a, dtype=None, strided=False):
    """A copy of a as a view at byte offset 1 of a bytearray (so never aligned for float32/64);
    strided=True gives a non-contiguous view (every other row) as well."""
    a = np.asarray(a, dtype=dtype or np.asarray(a).dtype)
    if strided:
        a = np.repeat(a, 2, axis=0) if a.ndim else a
    buf = bytearray(a.nbytes + 1)
    view = np.frombuffer(buf, dtype=a.dtype, count=a.size, offset=1).reshape(a.shape)
    view[...] = a
    if strided and a.ndim:
        view = view[::2]
    assert a.itemsize == 1 or not view.flags.aligned, "the test view is accidentally aligned"
    return view


def model(backend, dtype):
    layers = [mc.Dense(5, 8), mc.BatchNorm(8), mc.ReLU(), mc.Dropout(0.25), mc.Dense(8, 3)]
    return mc.Sequential(layers, loss="softmax_cross_entropy", dtype=dtype, seed=7, backend=backend)


def data(rng, n=23):
    X = rng.normal(size=(n, 5))
    y = targets("softmax_cross_entropy", n, 3, rng)
    P = rng.dirichlet(np.ones(3), size=n)  # probability-row targets
    return X, y, P


@pytest.fixture(params=["float32", "float64"])
def in_dtype(request):
    """The dtype of the misaligned inputs (converted or not to the model's dtype)."""
    return request.param


@pytest.mark.parametrize("strided", [False, True])
def test_evaluation_calls(backend, dtype, in_dtype, strided, rng):
    X, _, P = data(rng)
    net = model(backend, dtype)
    for training in (False, True):
        a = net.predict(X.astype(in_dtype), training=training, step=3)
        b = net.predict(misaligned(X, in_dtype, strided), training=training, step=3)
        assert_all_equal([b], [a], f"predict(training={training})")
        a = net.loss(X.astype(in_dtype), P.astype(in_dtype), training=training, step=3)
        b = net.loss(
            misaligned(X, in_dtype, strided),
            misaligned(P, in_dtype, strided),
            training=training,
            step=3,
        )
        assert a == b or (np.isnan(a) and np.isnan(b)), f"loss: {b!r} vs {a!r}"
        a = net.gradients(X.astype(in_dtype), P.astype(in_dtype), training=training, step=3)
        b = net.gradients(
            misaligned(X, in_dtype, strided),
            misaligned(P, in_dtype, strided),
            training=training,
            step=3,
        )
        assert_all_equal(b, a, f"gradients(training={training})")


@pytest.mark.parametrize("strided", [False, True])
def test_fit_with_validation_data(backend, dtype, in_dtype, strided, rng):
    X, y, P = data(rng)
    Xv, yv, _ = data(rng, 11)
    nets = [model(backend, dtype) for _ in range(2)]
    kw = dict(epochs=2, batch_size=4, lr=0.05, optimizer="adam")
    ha = nets[0].fit(
        X.astype(in_dtype), P.astype(in_dtype), validation_data=(Xv.astype(in_dtype), yv), **kw
    )
    hb = nets[1].fit(
        misaligned(X, in_dtype, strided),
        misaligned(P, in_dtype, strided),
        validation_data=(misaligned(Xv, in_dtype, strided), yv),
        **kw,
    )
    assert ha == hb
    untimed = [{k: v for k, v in n.history_.items() if k != "time"} for n in nets]
    assert untimed[0] == untimed[1]
    assert_all_equal(nets[1].get_weights(), nets[0].get_weights(), "weights after fit")
    assert_all_equal(nets[1].get_state(), nets[0].get_state(), "state after fit")


@pytest.mark.parametrize("strided", [False, True])
def test_setters(backend, dtype, in_dtype, strided, rng):
    ref, net = model(backend, dtype), model(backend, dtype)
    weights = [rng.normal(size=w.shape) for w in ref.get_weights()]
    state = [rng.normal(size=s.shape) ** 2 for s in ref.get_state()]
    moments = [
        [rng.normal(size=w.shape) for w in weights],
        [rng.normal(size=w.shape) ** 2 for w in weights],
    ]
    ref.set_weights([w.astype(in_dtype) for w in weights])
    net.set_weights([misaligned(w, in_dtype, strided) for w in weights])
    ref.set_state([s.astype(in_dtype) for s in state])
    net.set_state([misaligned(s, in_dtype, strided) for s in state])
    opt = {"name": "adam", "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    ref.set_optimizer_state([[m.astype(in_dtype) for m in ms] for ms in moments], opt, 3)
    net.set_optimizer_state(
        [[misaligned(m, in_dtype, strided) for m in ms] for ms in moments], opt, 3
    )
    assert_all_equal(net.get_weights(), ref.get_weights(), "weights")
    assert_all_equal(net.get_state(), ref.get_state(), "state")
    for which in range(2):
        assert_all_equal(
            net.get_optimizer_state()[which], ref.get_optimizer_state()[which], f"moments[{which}]"
        )


class _Spy:
    """Stands in for a model's engine and records every array argument it is given."""

    def __init__(self, engine, seen):
        self._engine, self._seen = engine, seen

    def __getattr__(self, name):
        target = getattr(self._engine, name)
        if not callable(target):
            return target

        def call(*args, **kwargs):
            for a in list(args) + list(kwargs.values()):
                if isinstance(a, np.ndarray):
                    self._seen.append((name, a))
            return target(*args, **kwargs)

        return call


def test_the_engine_only_sees_aligned_contiguous_arrays(backend, dtype, rng):
    X, y, P = data(rng)
    net = model(backend, dtype)
    if not hasattr(net, "_engine"):
        pytest.fail("Sequential no longer keeps its engine in _engine: update this test")
    seen = []
    net._engine = _Spy(net._engine, seen)
    w = net.get_weights()
    for in_dtype in ("float32", "float64"):
        Xm, Pm = misaligned(X, in_dtype, True), misaligned(P, in_dtype)
        net.predict(Xm)
        net.loss(Xm, Pm)
        net.gradients(Xm, Pm, training=True)
        net.fit(Xm, Pm, epochs=1, batch_size=8, validation_data=(Xm, y))
        net.set_weights([misaligned(a, in_dtype) for a in w])
        net.set_state([misaligned(s, in_dtype) for s in net.get_state()])
    assert seen, "the spy saw no array: the test does not test anything"
    # the one exception: a float32 C++ engine reads a float64 X in train_epoch as it is (it
    # converts each batch: no float32 copy of X)
    wide_ok = (
        {("train_epoch", np.dtype("float64"))}
        if (backend, dtype) == ("native", "float32")
        else set()
    )
    bad = [
        (name, a.dtype, a.flags.aligned, a.flags.c_contiguous)
        for name, a in seen
        if not (
            a.flags.aligned
            and a.flags.c_contiguous
            and (a.dtype == np.dtype(dtype) or (name, a.dtype) in wide_ok)
        )
    ]
    assert not bad, f"arrays that reached the engine unaligned/non-contiguous/wrong dtype: {bad}"


def test_aligned_contiguous_inputs_are_not_copied(dtype):
    """The alignment check must not cost a copy of arrays that are already fine."""
    from mlpcore import _checks

    X = np.zeros((6, 5), dtype=dtype)
    assert _checks.check_X(X, 5, np.dtype(dtype)) is X
