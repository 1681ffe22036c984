"""The second link of the chain of trust: the C++ engine (backend="native") against the NumPy
twin (backend="numpy"), through the public Sequential API. Skipped until mlpcore._core is built.
"""

import numpy as np
import pytest

from mlpcore import (
    GELU,
    BatchNorm,
    Dense,
    Dropout,
    Identity,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Sign,
    Step,
    Tanh,
)

from conftest import (
    TOLERANCES,
    assert_all_close,
    assert_all_equal,
    assert_close,
    random_weights,
    targets,
)

pytestmark = pytest.mark.usefixtures("native")

ACTIVATIONS = {
    "identity": Identity,
    "sigmoid": Sigmoid,
    "tanh": Tanh,
    "relu": ReLU,
    "leaky_relu": lambda: LeakyReLU(0.1),
    "gelu": GELU,
}
LOSSES = ["softmax_cross_entropy", "binary_cross_entropy", "mse", "hinge", "squared_hinge"]


def pair(layers, **kw):
    """The same model on both engines: (native, numpy)."""
    return (Sequential(layers, backend="native", **kw), Sequential(layers, backend="numpy", **kw))


def bn_dropout_layers(n_in=6, n_out=3):
    return [
        Dense(n_in, 8),
        BatchNorm(8),
        ReLU(),
        Dropout(0.3),
        Dense(8, 5),
        BatchNorm(5, momentum=0.2),
        Tanh(),
        Dropout(0.1),
        Dense(5, n_out),
    ]


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [Dense(5, 7), ReLU(), Dense(7, 3)],
        lambda: [Dense(4, 4), Tanh(), Dense(4, 2), Sigmoid(), Dense(2, 1)],
        lambda: bn_dropout_layers(),
        lambda: [
            Dense(5, 6),
            BatchNorm(6),
            LeakyReLU(),
            Dense(6, 4),
            Dropout(0.2),
            GELU(),
            Dense(4, 2),
        ],
    ],
    ids=["relu", "tanh-sigmoid", "bn-dropout", "leaky-gelu"],
)
def test_initial_weights_and_state_identical(layers, dtype):
    native, numpy_ = pair(layers(), loss="mse", dtype=dtype, seed=2024)
    assert_all_equal(native.get_weights(), numpy_.get_weights(), "initial weights")
    assert_all_equal(native.get_state(), numpy_.get_state(), "initial state")
    assert native.get_weights()[0].dtype == np.dtype(dtype)


@pytest.mark.parametrize("act", list(ACTIVATIONS))
@pytest.mark.parametrize("loss", LOSSES)
def test_predict_loss_gradients_agree(act, loss, dtype, rng):
    tol = TOLERANCES[dtype]
    layers = [Dense(5, 7), ACTIVATIONS[act](), Dense(7, 4), ACTIVATIONS[act](), Dense(4, 3)]
    native, numpy_ = pair(layers, loss=loss, dtype=dtype, seed=int(rng.integers(1 << 31)))
    w = random_weights(numpy_, rng, scale=0.8)
    native.set_weights(w)
    numpy_.set_weights(w)
    X = rng.normal(size=(11, 5))
    y = targets(loss, 11, 3, rng)

    p_nat, p_np = native.predict(X), numpy_.predict(X)
    assert p_nat.dtype == np.dtype(dtype) and p_nat.shape == (11, 3)
    assert_close(p_nat, p_np, **tol, what="predict")
    assert_close(native.loss(X, y), numpy_.loss(X, y), **tol, what="loss")
    assert_all_close(native.gradients(X, y), numpy_.gradients(X, y), **tol, what="gradients")


@pytest.mark.parametrize("act", [Step, Sign])
def test_step_and_sign_predict_agree(act, dtype, rng):
    native, numpy_ = pair([Dense(3, 6), act(), Dense(6, 2)], loss="mse", dtype=dtype, seed=5)
    X = rng.normal(size=(20, 3))
    np.testing.assert_array_equal(native.predict(X), numpy_.predict(X))


@pytest.mark.parametrize("loss", LOSSES)
def test_multi_epoch_fit_agrees(loss, dtype, rng):
    tol = TOLERANCES[dtype]
    layers = [Dense(4, 6), Tanh(), Dense(6, 5), ReLU(), Dense(5, 3)]
    native, numpy_ = pair(layers, loss=loss, dtype=dtype, seed=int(rng.integers(1 << 31)))
    X = rng.normal(size=(37, 4))  # 37 = 4 * 8 + 5: a partial final batch
    y = targets(loss, 37, 3, rng)
    h_nat = native.fit(X, y, epochs=4, batch_size=8, lr=0.1, shuffle=True)
    h_np = numpy_.fit(X, y, epochs=4, batch_size=8, lr=0.1, shuffle=True)
    assert (native.epoch_, native.step_) == (numpy_.epoch_, numpy_.step_) == (4, 20)
    assert_close(h_nat, h_np, **tol, what="loss history")
    assert native.history_["loss"] == h_nat
    assert_all_close(native.get_weights(), numpy_.get_weights(), **tol, what="weights")
    assert h_np[-1] < h_np[0], "training should reduce the loss"


@pytest.mark.parametrize("batch_size", [30, 1000])
def test_full_batch_gradient_descent_agrees(batch_size, dtype, rng):
    tol = TOLERANCES[dtype]
    native, numpy_ = pair(
        [Dense(3, 4), Sigmoid(), Dense(4, 2)], loss="binary_cross_entropy", dtype=dtype, seed=77
    )
    X, y = rng.normal(size=(30, 3)), targets("binary_cross_entropy", 30, 2, rng)
    h_nat = native.fit(X, y, epochs=5, batch_size=batch_size, lr=0.5)
    h_np = numpy_.fit(X, y, epochs=5, batch_size=batch_size, lr=0.5)
    assert native.step_ == numpy_.step_ == 5  # one step per epoch
    assert_close(h_nat, h_np, **tol, what="loss history")
    assert_all_close(native.get_weights(), numpy_.get_weights(), **tol, what="weights")


def test_unshuffled_fit_agrees(dtype, rng):
    tol = TOLERANCES[dtype]
    native, numpy_ = pair(
        [Dense(3, 5), ReLU(), Dense(5, 3)], loss="softmax_cross_entropy", dtype=dtype, seed=3
    )
    X, y = rng.normal(size=(25, 3)), targets("softmax_cross_entropy", 25, 3, rng)
    native.fit(X, y, epochs=3, batch_size=7, lr=0.2, shuffle=False)
    numpy_.fit(X, y, epochs=3, batch_size=7, lr=0.2, shuffle=False)
    assert_all_close(native.get_weights(), numpy_.get_weights(), **tol, what="weights")


# ---- batch norm and dropout ----------------------------------------------------------------
def test_batchnorm_dropout_training_agrees(dtype, rng):
    tol = TOLERANCES[dtype]
    native, numpy_ = pair(bn_dropout_layers(), loss="softmax_cross_entropy", dtype=dtype, seed=11)
    X = rng.normal(1, 2, size=(41, 6))  # 41 = 5 * 8 + 1: a one-sample batch to fold
    y = targets("softmax_cross_entropy", 41, 3, rng)
    h_nat = native.fit(X, y, epochs=4, batch_size=8, lr=0.05)
    h_np = numpy_.fit(X, y, epochs=4, batch_size=8, lr=0.05)
    assert native.step_ == numpy_.step_ == 4 * 5
    assert_close(h_nat, h_np, **tol, what="loss history")
    assert_all_close(native.get_weights(), numpy_.get_weights(), **tol, what="weights")
    assert_all_close(native.get_state(), numpy_.get_state(), **tol, what="running stats")
    # evaluation mode uses the running statistics, training mode the batch's
    assert_close(native.predict(X), numpy_.predict(X), **tol, what="predict (eval)")
    assert_close(
        native.predict(X, training=True, step=3),
        numpy_.predict(X, training=True, step=3),
        **tol,
        what="predict (training)",
    )


@pytest.mark.parametrize("step", [0, 1, 17])
def test_batchnorm_dropout_gradients_agree(step, dtype, rng):
    tol = TOLERANCES[dtype]
    native, numpy_ = pair(bn_dropout_layers(), loss="mse", dtype=dtype, seed=12)
    w = random_weights(numpy_, rng)
    native.set_weights(w)
    numpy_.set_weights(w)
    X, y = rng.normal(size=(9, 6)), targets("mse", 9, 3, rng)
    for training in (True, False):
        assert_all_close(
            native.gradients(X, y, training=training, step=step),
            numpy_.gradients(X, y, training=training, step=step),
            **tol,
            what=f"gradients(training={training}, step={step})",
        )
        assert_close(
            native.loss(X, y, training=training, step=step),
            numpy_.loss(X, y, training=training, step=step),
            **tol,
            what="loss",
        )
    # gradients and loss update nothing, running statistics included
    assert_all_equal(native.get_state(), numpy_.get_state(), "state")
    assert native.step_ == 0


@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_dropout_masks_identical(p, dtype):
    # Dense with W = I and b = 0 passes ones through unchanged, so the output is the mask:
    # 1/(1-p) where kept, 0 where dropped.
    F = 13
    native, numpy_ = pair([Dense(F, F), Dropout(p), Dense(F, F)], loss="mse", dtype=dtype, seed=8)
    eye = [np.eye(F), np.zeros(F)] * 2
    native.set_weights(eye)
    numpy_.set_weights(eye)
    X = np.ones((17, F))
    for step in (0, 1, 1000):
        m_nat = native.predict(X, training=True, step=step)
        m_np = numpy_.predict(X, training=True, step=step)
        np.testing.assert_array_equal(m_nat, m_np, err_msg=f"dropout mask at step {step}")
        kept = np.dtype(dtype).type(1 / (1 - p))
        assert np.isin(m_np, [0, kept]).all() and (m_np == 0).any() and (m_np == kept).any()


def test_thread_count_reproducibility(dtype, tol, rng):
    """What holds for threads (README, "Threads"): the same thread count gives bitwise the same
    training; another thread count gives the same training up to rounding. The bundled
    OpenBLAS splits a product differently for 1 and 2 threads (and its kernels round an
    element differently depending on where the split falls), so float32 weights after two
    epochs can differ by a few ulps; the difference is reported."""
    threadpoolctl = pytest.importorskip("threadpoolctl")
    # big enough for OpenBLAS to split the gemms over threads
    layers = [Dense(64, 256), BatchNorm(256), ReLU(), Dropout(0.25), Dense(256, 10)]
    X = rng.normal(size=(600, 64))
    y = targets("softmax_cross_entropy", 600, 10, rng)

    def run(limit):
        m = Sequential(layers, loss="softmax_cross_entropy", dtype=dtype, seed=4, backend="native")
        with threadpoolctl.threadpool_limits(limit):
            hist = m.fit(X, y, epochs=2, batch_size=200, lr=0.05)
        return list(hist), m.get_weights() + m.get_state()

    runs = {limit: [run(limit), run(limit)] for limit in (1, 2)}
    for limit, ((hist_a, params_a), (hist_b, params_b)) in runs.items():
        assert hist_a == hist_b, f"two runs with {limit} thread(s) must give identical losses"
        assert_all_equal(params_a, params_b, f"weights of two runs with {limit} thread(s)")
    (hist_1, params_1), (hist_2, params_2) = runs[1][0], runs[2][0]
    diffs = [float(np.max(np.abs(a.astype(np.float64) - b))) for a, b in zip(params_1, params_2)]
    print(f"{dtype}: 1 vs 2 threads, max abs difference of weights and state {max(diffs):.3g}")
    assert_all_close(params_1, params_2, **tol, what="weights and state, 1 vs 2 threads")
    assert_close(hist_1, hist_2, **tol, what="epoch losses, 1 vs 2 threads")
