"""SGD (momentum, Nesterov), Adam, AdamW and RMSprop: against torch.optim step for step,
between the two engines, and their state across fit calls, save/load and pickling."""

import pickle

import numpy as np
import pytest

import mlpcore
from mlpcore import BatchNorm, Dense, Dropout, ReLU, Tanh

from conftest import (
    TOLERANCES,
    assert_all_close,
    assert_all_equal,
    assert_unchanged,
    make,
    snapshot,
    torch_cross_entropy_steps,
)

OPTIMIZERS = [
    {"optimizer": "sgd"},
    {"optimizer": "sgd", "momentum": 0.9},
    {"optimizer": "sgd", "momentum": 0.5, "nesterov": True},
    {"optimizer": "adam"},
    {"optimizer": "adam", "betas": (0.8, 0.99), "adam_eps": 1e-6},
    {"optimizer": "adamw"},
    {"optimizer": "rmsprop"},
    {"optimizer": "rmsprop", "momentum": 0.5, "adam_eps": 1e-6},
]


def _ids(kw):
    return "-".join(f"{k}={v}" for k, v in kw.items())


@pytest.mark.parametrize("kw", OPTIMIZERS, ids=_ids)
@pytest.mark.parametrize("weight_decay", [0.0, 0.01])
def test_matches_torch_optim(kw, weight_decay, backend, rng):
    torch = pytest.importorskip("torch")
    X, y = rng.normal(size=(24, 4)), rng.integers(0, 3, 24)
    model = make([Dense(4, 6), Tanh(), Dense(6, 3)], backend, loss="softmax_cross_entropy", seed=0)
    w0 = model.get_weights()
    lr, epochs, batch = 0.05, 3, 8
    model.fit(
        X, y, epochs=epochs, batch_size=batch, lr=lr, shuffle=False, weight_decay=weight_decay, **kw
    )

    lin1, lin2 = torch.nn.Linear(4, 6).double(), torch.nn.Linear(6, 3).double()
    with torch.no_grad():
        for lin, W, b in ((lin1, w0[0], w0[1]), (lin2, w0[2], w0[3])):
            lin.weight.copy_(torch.from_numpy(W.T))
            lin.bias.copy_(torch.from_numpy(b))
    net = torch.nn.Sequential(lin1, torch.nn.Tanh(), lin2)
    groups = [
        {"params": [lin1.weight, lin2.weight], "weight_decay": weight_decay},
        {"params": [lin1.bias, lin2.bias], "weight_decay": 0.0},
    ]
    if kw["optimizer"] == "sgd":
        opt = torch.optim.SGD(
            groups, lr=lr, momentum=kw.get("momentum", 0.0), nesterov=kw.get("nesterov", False)
        )
    elif kw["optimizer"] == "rmsprop":
        opt = torch.optim.RMSprop(
            groups, lr=lr, momentum=kw.get("momentum", 0.0), eps=kw.get("adam_eps", 1e-8)
        )
    elif kw["optimizer"] == "adamw":
        opt = torch.optim.AdamW(groups, lr=lr)
    else:
        opt = torch.optim.Adam(
            groups, lr=lr, betas=kw.get("betas", (0.9, 0.999)), eps=kw.get("adam_eps", 1e-8)
        )
    torch_cross_entropy_steps(torch, net, opt, X, y, epochs, batch)
    expected = [
        lin1.weight.detach().numpy().T,
        lin1.bias.detach().numpy(),
        lin2.weight.detach().numpy().T,
        lin2.bias.detach().numpy(),
    ]
    assert_all_close(
        model.get_weights(),
        expected,
        rtol=1e-9,
        atol=1e-12,
        what=f"weights after {epochs} epochs vs torch.optim",
    )


@pytest.mark.parametrize("kw", OPTIMIZERS[1:], ids=_ids)
def test_backends_agree(kw, dtype, rng, native):
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
    # BatchNorm after the activation: a bias right before BatchNorm has a gradient that is
    # zero up to rounding, which Adam's normalisation would turn into unit-size steps
    layers = [Dense(6, 16), ReLU(), BatchNorm(16), Dropout(0.25), Dense(16, 3)]
    models = [
        make(layers, b, loss="softmax_cross_entropy", dtype=dtype, seed=9)
        for b in ("numpy", "native")
    ]
    hist = [m.fit(X, y, epochs=3, batch_size=16, lr=0.01, weight_decay=1e-3, **kw) for m in models]
    tol = TOLERANCES[dtype]
    assert_all_close([hist[1]], [hist[0]], **tol, what="losses")
    assert_all_close(models[1].get_weights(), models[0].get_weights(), **tol, what="weights")
    if kw["optimizer"] == "rmsprop" and dtype == "float32":
        # RMSprop's momentum buffer sums g / (sqrt(v) + eps), about +-1 wherever the gradient
        # is tiny whatever its rounding: float32 rounding differences of tiny gradients show
        # up there at O(1e-4) (the weights above agree at the usual tolerance)
        tol = {"rtol": 1e-3, "atol": 1e-4}
    for a, b in zip(models[1].get_optimizer_state(), models[0].get_optimizer_state()):
        assert_all_close(a, b, **tol, what="moments")


@pytest.mark.parametrize("kw", OPTIMIZERS[1:], ids=_ids)
def test_state_carries_over_fit_calls_save_and_pickle(kw, backend, rng, tmp_path):
    X, y = rng.normal(size=(30, 4)), rng.normal(size=(30, 2))
    layers = [Dense(4, 8), Tanh(), Dense(8, 2)]
    whole = make(layers, backend, loss="mse", seed=1)
    whole.fit(X, y, epochs=4, batch_size=7, lr=0.02, **kw)
    split = make(layers, backend, loss="mse", seed=1)
    split.fit(X, y, epochs=2, batch_size=7, lr=0.02, **kw)
    mlpcore.save(split, tmp_path / "m.npz")
    for resumed in (split, pickle.loads(pickle.dumps(split)), mlpcore.load(tmp_path / "m.npz")):
        resumed.fit(X, y, epochs=2, batch_size=7, lr=0.02, **kw)
        assert resumed.opt_steps_ == whole.opt_steps_ == 4 * 5
        assert_all_equal(resumed.get_weights(), whole.get_weights(), "weights")


def test_changing_the_optimizer_restarts_its_moments(backend, rng):
    X, y = rng.normal(size=(20, 3)), rng.normal(size=20)
    a = make([Dense(3, 4), Tanh(), Dense(4, 1)], backend, seed=2)
    a.fit(X, y, epochs=2, batch_size=5, lr=0.01, optimizer="adam")
    b = make([Dense(3, 4), Tanh(), Dense(4, 1)], backend, seed=2)
    b.set_weights(a.get_weights())
    for m in (a, b):
        m.fit(
            X, y, epochs=2, batch_size=5, lr=0.01, optimizer="sgd", momentum=0.9, shuffle=False
        )  # unshuffled: a has trained more epochs than b
    assert a.opt_steps_ == b.opt_steps_ == 8
    assert_all_equal(a.get_weights(), b.get_weights(), "weights")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"optimizer": "adagrad"}, "known optimizers: sgd, adam, adamw, rmsprop"),
        ({"momentum": 1.0}, "momentum"),
        ({"momentum": -0.1}, "momentum"),
        ({"nesterov": True}, "nesterov"),
        ({"optimizer": "adam", "momentum": 0.9}, "momentum"),
        ({"optimizer": "adam", "betas": (0.9,)}, "betas"),
        ({"optimizer": "adam", "betas": (0.9, 1.0)}, "betas"),
        ({"optimizer": "adam", "adam_eps": 0.0}, "adam_eps"),
    ],
)
def test_bad_optimizer_settings(kwargs, match, backend, rng):
    model = make([Dense(3, 1)], backend, seed=0)
    model.fit(rng.normal(size=(4, 3)), rng.normal(size=4), optimizer="adam")
    snap = snapshot(model)
    moments = model.get_optimizer_state()
    with pytest.raises(ValueError, match=match):
        model.fit(rng.normal(size=(4, 3)), rng.normal(size=4), **kwargs)
    assert_unchanged(model, snap)
    assert model.optimizer_["name"] == "adam" and model.opt_steps_ == 1
    assert_all_equal(model.get_optimizer_state()[0], moments[0], "m")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_divergence_restores_the_moments(backend, rng):
    model = make([Dense(4, 8), Tanh(), Dense(8, 2)], backend, loss="mse", seed=5)
    X, y = rng.normal(0, 10, size=(32, 4)), rng.normal(size=(32, 2))
    with pytest.raises(FloatingPointError):
        for _ in range(200):
            moments = model.get_optimizer_state()
            model.fit(X, y, epochs=1, batch_size=8, lr=50.0, optimizer="sgd", momentum=0.9)
    for a, b in zip(model.get_optimizer_state(), moments):
        assert_all_equal(a, b, "moments after the failed epoch")


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_failed_first_epoch_keeps_the_previous_optimizer(backend, rng):
    model = make([Dense(4, 8), Tanh(), Dense(8, 2)], backend, loss="mse", seed=5)
    X, y = rng.normal(0, 10, size=(32, 4)), rng.normal(size=(32, 2))
    model.fit(X, y, epochs=2, batch_size=8, lr=1e-3, optimizer="adam")
    snap, moments = snapshot(model), model.get_optimizer_state()
    with pytest.raises(FloatingPointError):
        model.fit(X, y, epochs=1, batch_size=8, lr=1e200, optimizer="sgd", momentum=0.9)
    assert_unchanged(model, snap)
    assert model.optimizer_["name"] == "adam" and model.opt_steps_ == 8
    for a, b in zip(model.get_optimizer_state(), moments):
        assert_all_equal(a, b, "moments")


def test_zero_epochs_keep_the_previous_optimizer(backend, rng):
    model = make([Dense(3, 4), Tanh(), Dense(4, 1)], backend, seed=0)
    X, y = rng.normal(size=(12, 3)), rng.normal(size=12)
    model.fit(X, y, epochs=1, batch_size=4, optimizer="adam", lr=1e-3)
    moments = model.get_optimizer_state()
    assert model.fit(X, y, epochs=0, optimizer="sgd", momentum=0.9) == []
    assert model.optimizer_["name"] == "adam" and model.opt_steps_ == 3
    for a, b in zip(model.get_optimizer_state(), moments):
        assert_all_equal(a, b, "moments")


class Interrupt(Exception):
    pass


class InterruptedEngine:
    """Wraps an engine: its train_epoch runs the epoch to the end, then raises, as a Ctrl-C
    arriving right after the C++ call returns would."""

    def __init__(self, engine):
        self._engine = engine

    def __getattr__(self, name):
        return getattr(self._engine, name)

    def train_epoch(self, *args, **options):
        self._engine.train_epoch(*args, **options)
        raise Interrupt


def test_an_interrupted_epoch_changes_nothing(backend, rng):
    X, y = rng.normal(size=(40, 3)), rng.normal(size=40)
    model = make([Dense(3, 8), BatchNorm(8), Tanh(), Dense(8, 1)], backend, seed=0)
    model.fit(X, y, epochs=1, batch_size=8, optimizer="adam", lr=1e-3)
    snap, moments = snapshot(model), model.get_optimizer_state()
    model._engine = InterruptedEngine(model._engine)
    with pytest.raises(Interrupt):
        model.fit(X, y, epochs=3, batch_size=8, optimizer="sgd", momentum=0.9)
    assert_unchanged(model, snap)
    assert model.optimizer_["name"] == "adam" and model.opt_steps_ == 5
    for a, b in zip(model.get_optimizer_state(), moments):
        assert_all_equal(a, b, "moments")


def test_set_optimizer_state_checks_its_arguments(backend):
    model = make([Dense(2, 1)], backend, seed=0)
    m, v = model.get_optimizer_state()
    with pytest.raises(ValueError, match="second moments"):
        model.set_optimizer_state([m, [-np.ones_like(a) for a in v]])
    with pytest.raises(ValueError, match="optimizer must be a dict"):
        model.set_optimizer_state([m, v], optimizer="adam")


def test_fit_refuses_counters_it_would_carry_past_64_bits(backend, rng):
    """The engine counts steps in 64-bit unsigned integers: a fit whose steps would carry
    opt_steps_ past 2**64 - 1 is refused before its first epoch, the model unchanged; with
    another optimizer the count restarts from 0 and the fit runs."""
    X = rng.standard_normal((16, 3))
    y = rng.standard_normal((16, 1))
    model = make([Dense(3, 4), Tanh(), Dense(4, 1)], backend, seed=0)
    model.fit(X, y, epochs=1, batch_size=8, optimizer="sgd", momentum=0.9, lr=1e-2)
    top = (1 << 64) - 1
    model.set_optimizer_state(model.get_optimizer_state(), model.optimizer_, top - 3)
    snap, moments = snapshot(model), model.get_optimizer_state()
    with pytest.raises(ValueError, match=r"opt_steps_ \(18446744073709551612\) past 2\*\*64 - 1"):
        model.fit(X, y, epochs=2, batch_size=8, optimizer="sgd", momentum=0.9, lr=1e-2)
    assert_unchanged(model, snap)
    assert model.opt_steps_ == top - 3
    for a, b in zip(model.get_optimizer_state(), moments):
        assert_all_equal(a, b, "moments")
    model.fit(X, y, epochs=1, batch_size=8, optimizer="sgd", momentum=0.9, lr=1e-2)  # 2 steps
    assert model.opt_steps_ == top - 1
    model.fit(X, y, epochs=2, batch_size=8, optimizer="adam", lr=1e-3)  # moments restart
    assert model.optimizer_["name"] == "adam" and model.opt_steps_ == 4


@pytest.mark.parametrize("counter", ["step_", "epoch_"])
def test_fit_refuses_step_and_epoch_counts_past_64_bits(backend, rng, counter):
    """step_ and epoch_ (which a loaded file or a pickle can carry that high) are checked
    the same way: refused before the first epoch, the model unchanged; with room for one
    more epoch, a one-epoch fit runs and ends at 2**64 - 1."""
    X = rng.standard_normal((16, 3))
    y = rng.standard_normal((16, 1))
    model = make([Dense(3, 4), Tanh(), Dense(4, 1)], backend, seed=0)
    per_fit = 2 if counter == "step_" else 1  # one epoch of batch 8 over 16 rows: 2 steps
    start = (1 << 64) - 1 - per_fit  # room for exactly one more epoch
    setattr(model, counter, start)
    snap = snapshot(model)
    with pytest.raises(ValueError, match=rf"{counter} \({start}\) past 2\*\*64 - 1"):
        model.fit(X, y, epochs=2, batch_size=8, lr=1e-2)
    assert_unchanged(model, snap)
    model.fit(X, y, epochs=1, batch_size=8, lr=1e-2)
    assert getattr(model, counter) == (1 << 64) - 1
