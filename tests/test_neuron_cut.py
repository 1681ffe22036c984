"""The training step cut by neurons (cpp/src/neuron_cut.cpp): where the rule applies it, and
that a fit through it agrees with the NumPy twin, which always runs the whole step, for every
path through the cut (plain SGD fused into the products, with and without weight decay;
gradients then an optimizer; sample weights; clipping; each activation; a network that ends
at the second dense layer; batch norm and dropout after it). Adam and RMSprop run at a small
rate: at 0.05 they turn rounding differences into visible ones (the whole step's too: a
float32 Adam fit of a batch-norm net at 0.05 ends 0.24 away from the twin either way); RMSprop
runs in float64 only (see RMSPROP). Bitwise sameness at every
thread count is in test_thread_count_independence.py."""

import numpy as np
import pytest

from mlpcore import (
    ELU,
    GELU,
    BatchNorm,
    Dense,
    Dropout,
    LayerNorm,
    LeakyReLU,
    ReLU,
    Sequential,
    Sigmoid,
    Step,
    Tanh,
)

from conftest import TOLERANCES, assert_close, max_rel_diff

pytestmark = pytest.mark.usefixtures("native")


def engine(layers, dtype="float32"):
    return Sequential(layers, loss="softmax_cross_entropy", dtype=dtype, seed=0)._engine


def test_the_rule_reads_the_first_three_layers_and_the_batch():
    cut = [Dense(784, 256), ReLU(), Dense(256, 128), ReLU(), Dense(128, 10)]
    assert engine(cut).cuts_by_neurons(128)
    assert engine(cut, "float64").cuts_by_neurons(128)
    # 2 B (2 I H0 + 3 H0 H1) floating-point operations of cut products >= 4e6
    assert engine(cut).cuts_by_neurons(10)  # 10.0 MFLOP
    assert not engine(cut).cuts_by_neurons(1)  # one row: not a pair of pieces
    small = [Dense(64, 128), ReLU(), Dense(128, 10)]  # 2.6 MFLOP at 64 rows
    assert not engine(small).cuts_by_neurons(64)
    assert engine(small).cuts_by_neurons(128)
    # where the whole step cuts one of those products into more than two panels (a dimension
    # of 1536 or more), more threads share it than two pieces would
    assert not engine([Dense(784, 2048), ReLU(), Dense(2048, 10)]).cuts_by_neurons(256)
    assert engine([Dense(784, 1024), ReLU(), Dense(1024, 10)]).cuts_by_neurons(256)
    assert not engine(cut).cuts_by_neurons(2048)
    # the first hidden width must halve into multiples of 16: a multiple of 32
    assert not engine([Dense(784, 240), ReLU(), Dense(240, 10)]).cuts_by_neurons(128)
    # dense, a differentiable activation, dense: nothing else in between
    for middle in (BatchNorm(256), Dropout(0.1), LayerNorm(256)):
        assert not engine([Dense(784, 256), middle, Dense(256, 10)]).cuts_by_neurons(128)
    assert not engine([Dense(784, 256), ReLU(), ReLU(), Dense(256, 10)]).cuts_by_neurons(128)
    assert not engine([Dense(784, 256), Dense(256, 10)]).cuts_by_neurons(128)
    assert not engine([ReLU(), Dense(784, 256), ReLU(), Dense(256, 10)]).cuts_by_neurons(128)
    # a step layer first in line is cut away from training anyway (no gradient passes)
    assert not engine([Dense(784, 256), Step(), Dense(256, 10)]).cuts_by_neurons(128)


CASES = {
    # name: (layers, batch size, fit options)
    "relu sgd": ([Dense(300, 256), ReLU(), Dense(256, 64), ReLU(), Dense(64, 10)], 64, {}),
    "tanh sgd weight decay": (
        [Dense(300, 128), Tanh(), Dense(128, 10)],
        64,
        {"weight_decay": 0.01, "momentum": 0.0},
    ),
    "gelu sgd momentum": (
        [Dense(300, 128), GELU(), Dense(128, 32), Tanh(), Dense(32, 10)],
        64,
        {"momentum": 0.9},
    ),
    "leaky_relu adam weighted clipped": (
        [Dense(300, 128), LeakyReLU(0.1), Dense(128, 10)],
        64,
        {"optimizer": "adam", "lr": 0.001, "weighted": True, "clip_norm": 0.5},
    ),
    "relu, wider second layer": (
        [Dense(300, 64), ReLU(), Dense(64, 256), ReLU(), Dense(256, 10)],
        64,
        {},
    ),
    "sigmoid, batch norm and dropout after": (
        [
            Dense(300, 128),
            Sigmoid(),
            Dense(128, 64),
            BatchNorm(64),
            ReLU(),
            Dropout(0.2),
            Dense(64, 10),
        ],
        64,
        {"momentum": 0.5},
    ),
}


# RMSprop in float64 only: its first steps divide by the square root of tiny second moments,
# so each step moves a weight by about lr * sign(gradient), and float32 rounding of a gradient
# near zero shows (after 3 float32 epochs the uncut step too ended up to 2.2e-5 from the twin,
# over six seeds; in float64 the cut one ends 8e-15 away).
RMSPROP = ([Dense(300, 96), ELU(0.5), Dense(96, 10)], 80, {"optimizer": "rmsprop", "lr": 0.001})


@pytest.mark.parametrize("case", list(CASES))
def test_a_cut_fit_agrees_with_the_twin(case, dtype, rng):
    check_against_twin(case, *CASES[case], dtype, rng)


def test_a_cut_rmsprop_fit_agrees_with_the_twin_in_float64(rng):
    check_against_twin("elu rmsprop", *RMSPROP, "float64", rng)


def check_against_twin(case, layers, batch, options, dtype, rng):
    options = dict(options)
    lr = options.pop("lr", 0.05)
    epochs = 3
    native = Sequential(layers, loss="softmax_cross_entropy", dtype=dtype, seed=5)
    assert native._engine.cuts_by_neurons(batch), case
    twin = Sequential(layers, loss="softmax_cross_entropy", dtype=dtype, seed=5, backend="numpy")
    n = 3 * batch + 40  # a ragged last batch, cut too
    assert native._engine.cuts_by_neurons(40), case
    X = rng.standard_normal((n, layers[0].n_in)).astype(dtype)
    y = rng.integers(0, 10, n)
    if options.pop("weighted", False):
        options["sample_weight"] = rng.uniform(0.5, 2.0, n)
    histories = [
        m.fit(X, y, epochs=epochs, batch_size=batch, lr=lr, **options) for m in (native, twin)
    ]
    tol = TOLERANCES[dtype]
    worst = max(max_rel_diff(a, b, **tol) for a, b in zip(native.get_weights(), twin.get_weights()))
    largest = max(
        float(np.max(np.abs(np.float64(a) - np.float64(b))))
        for a, b in zip(native.get_weights(), twin.get_weights())
    )
    print(
        f"{case} {dtype}: after {epochs} epochs max |C++ - twin| over the weights {largest:.3e} "
        f"({worst:.3f} of the tolerance)"
    )
    for i, (a, b) in enumerate(zip(native.get_weights(), twin.get_weights())):
        assert_close(a, b, **tol, what=f"{case}: weights[{i}]")
    assert_close(list(histories[0]), list(histories[1]), **tol, what=f"{case}: epoch losses")
    assert_close(native.predict(X), twin.predict(X), **tol, what=f"{case}: predictions")
