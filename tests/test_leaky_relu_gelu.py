"""LeakyReLU and GELU, the first layer kinds added through the descriptors, along the whole
chain of trust: finite differences check the twin (the activation functions themselves are
checked in test_reference_gradients.py, here whole Sequential models), the twin checks C++,
and both are checked against torch.nn.LeakyReLU / torch.nn.GELU when torch is installed.
Every comparison prints its max difference (pytest -s shows them)."""

import numpy as np
import pytest

from mlpcore import GELU, BatchNorm, Dense, Dropout, LeakyReLU, ReLU, Sequential, Tanh
from mlpcore.reference import activations

from conftest import (
    TOLERANCES,
    assert_all_close,
    assert_all_equal,
    assert_close,
    make,
    numerical_gradient,
    random_weights,
    targets,
    torch_sgd_mse_losses,
)

FD = {"rtol": 1e-6, "atol": 1e-8}  # as in test_reference_gradients.py


def _report(what, a, b):
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = np.max(np.abs(a - b))
    print(
        f"{what}: max |diff| {diff:.3e}, relative to max |ref| "
        f"{diff / max(np.max(np.abs(b)), 1e-300):.3e}"
    )


NETS = {
    "leaky": lambda: [Dense(4, 6), LeakyReLU(), Dense(6, 3)],
    "leaky-steep-negative": lambda: [
        Dense(4, 5),
        LeakyReLU(-0.4),
        Dense(5, 5),
        LeakyReLU(2.5),
        Dense(5, 3),
    ],
    "gelu": lambda: [Dense(4, 6), GELU(), Dense(6, 5), GELU(), Dense(5, 3)],
    "gelu-bn-dropout": lambda: [
        Dense(4, 6),
        BatchNorm(6),
        GELU(),
        Dropout(0.3),
        Dense(6, 5),
        LeakyReLU(0.2),
        Dense(5, 3),
    ],
}


# ---- finite differences check the twin through the whole Sequential --------------------------
@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("training,step", [(False, 0), (True, 3)])
def test_sequential_gradients_match_finite_differences(name, training, step, rng):
    model = make(NETS[name](), "numpy", loss="softmax_cross_entropy", seed=1)
    weights = random_weights(model, rng, scale=0.7)
    model.set_weights(weights)
    X, y = rng.normal(size=(7, 4)), rng.integers(0, 3, 7)
    grads = model.gradients(X, y, training=training, step=step)
    for i, w in enumerate(weights):
        w = np.array(w, dtype=np.float64)

        def loss():
            model.set_weights(weights[:i] + [w] + weights[i + 1 :])
            return model.loss(X, y, training=training, step=step)

        num = numerical_gradient(loss, w)
        _report(f"{name} weights[{i}] vs finite differences", grads[i], num)
        assert_close(grads[i], num, **FD, what=f"{name} weights[{i}]")


# ---- the twin checks C++ -------------------------------------------------------------------
@pytest.mark.parametrize("name", list(NETS))
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse"])
def test_engines_agree(name, loss, dtype, native, rng):
    tol = TOLERANCES[dtype]
    models = [make(NETS[name](), b, loss=loss, dtype=dtype, seed=5) for b in ("native", "numpy")]
    assert_all_equal(models[0].get_weights(), models[1].get_weights(), "initial weights")
    w = random_weights(models[1], rng, scale=0.8)
    for m in models:
        m.set_weights(w)
    X, y = rng.normal(size=(13, 4)), targets(loss, 13, 3, rng)
    for training in (False, True):
        p = [m.predict(X, training=training, step=2) for m in models]
        _report(f"{name} {dtype} predict(training={training}) C++ vs twin", *p)
        assert_close(*p, **tol, what="predict")
        g = [m.gradients(X, y, training=training, step=2) for m in models]
        for a, b in zip(*g):
            _report(f"{name} {dtype} gradients C++ vs twin", a, b)
        assert_all_close(*g, **tol, what="gradients")
    h = [m.fit(X, y, epochs=3, batch_size=4, lr=0.01) for m in models]
    assert_close(*h, **tol, what="loss history")
    assert_all_close(models[0].get_weights(), models[1].get_weights(), **tol, what="weights")


# ---- against PyTorch -----------------------------------------------------------------------
@pytest.mark.parametrize(
    "name,param", [("leaky_relu", 0.01), ("leaky_relu", -0.3), ("leaky_relu", 3.0), ("gelu", 0.0)]
)
def test_twin_activations_match_torch(name, param, rng):
    torch = pytest.importorskip("torch")
    module = torch.nn.LeakyReLU(param) if name == "leaky_relu" else torch.nn.GELU()
    z = np.concatenate([rng.normal(0, 3, 500), np.linspace(-12, 12, 241), [0.0]]).reshape(-1, 1)
    dh = rng.normal(size=z.shape)
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    ht = module(zt)
    ht.backward(torch.from_numpy(dh))
    h = activations.activation_forward(name, z, param)
    dz = activations.activation_backward(name, dh, z, h, param)
    _report(f"twin {name}({param}) forward vs torch", h, ht.detach().numpy())
    _report(f"twin {name}({param}) backward vs torch", dz, zt.grad.numpy())
    tight = {"rtol": 1e-12, "atol": 1e-15}
    assert_close(h, ht.detach().numpy(), **tight, what=f"{name} forward")
    assert_close(dz, zt.grad.numpy(), **tight, what=f"{name} backward")


def test_derivative_at_zero_matches_torch():
    # the convention at the kink: leaky_relu'(0) = negative_slope (torch: z > 0 ? 1 : slope)
    torch = pytest.importorskip("torch")
    zt = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    torch.nn.LeakyReLU(0.2)(zt).backward(torch.ones(1, 1, dtype=torch.float64))
    z = np.zeros((1, 1))
    ours = activations.activation_backward("leaky_relu", np.ones_like(z), z, z, 0.2)
    assert float(ours[0, 0]) == float(zt.grad[0, 0]) == 0.2


def _torch_layers(torch, layers):
    """The torch.nn twin of each layer, looked up by its kind."""
    twins = {
        "dense": lambda l: torch.nn.Linear(l.n_in, l.n_out, dtype=torch.float64),
        "leaky_relu": lambda l: torch.nn.LeakyReLU(l.negative_slope),
        "gelu": lambda l: torch.nn.GELU(),
        "tanh": lambda l: torch.nn.Tanh(),
    }
    return torch.nn.Sequential(*(twins[layer.kind](layer) for layer in layers))


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [Dense(3, 8), GELU(), Dense(8, 6), LeakyReLU(0.05), Dense(6, 2)],
        lambda: [Dense(3, 5), LeakyReLU(-0.5), Dense(5, 5), Tanh(), Dense(5, 2)],
    ],
    ids=["gelu-leaky", "negative-slope"],
)
def test_sequential_fit_matches_torch(layers, backend, rng):
    # a whole fit with plain SGD, replayed in PyTorch on the same batches
    torch = pytest.importorskip("torch")
    n, bs, seed, lr = 23, 5, 4, 0.1
    model = make(layers(), backend, loss="mse", seed=seed)
    X, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    net = _torch_layers(torch, model.layers)
    with torch.no_grad():
        linears = [m for m in net if isinstance(m, torch.nn.Linear)]
        for lin, (W, b) in zip(linears, zip(*[iter(model.get_weights())] * 2)):
            lin.weight.copy_(torch.from_numpy(W.T))
            lin.bias.copy_(torch.from_numpy(b))
    history = model.fit(X, y, epochs=2, batch_size=bs, lr=lr)
    losses = torch_sgd_mse_losses(torch, net, X, y, seed, 2, bs, lr, fold_single=False)
    tight = {"rtol": 1e-10, "atol": 1e-12}
    _report(f"{backend} loss history vs torch", history, losses)
    assert_close(history, losses, **tight, what="loss history")
    ours = model.get_weights()
    theirs = [
        a for lin in linears for a in (lin.weight.detach().numpy().T, lin.bias.detach().numpy())
    ]
    for a, b in zip(ours, theirs):
        _report(f"{backend} weights after fit vs torch", a, b)
    assert_all_close(ours, theirs, **tight, what="weights after fit")


# ---- the layers themselves -----------------------------------------------------------------
def test_he_initialisation_before_leaky_relu_and_gelu():
    # He-uniform (bound sqrt(6 / n_in)) before ReLU-like layers, looking past BatchNorm and
    # Dropout; Glorot-uniform (sqrt(6 / (n_in + n_out))) before anything else
    for act, he in ((ReLU(), True), (LeakyReLU(0.3), True), (GELU(), True), (Tanh(), False)):
        model = Sequential(
            [Dense(50, 400), BatchNorm(400), Dropout(0.1), act, Dense(400, 1)],
            loss="mse",
            seed=0,
            backend="numpy",
        )
        W = model.get_weights()[0]
        bound = np.sqrt(6 / 50) if he else np.sqrt(6 / 450)
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound, (
            f"{act!r}: max |W| {np.abs(W).max():.4f}, expected just below {bound:.4f}"
        )


@pytest.mark.parametrize("slope", [float("nan"), float("inf"), "0.1", True, None])
def test_leaky_relu_refuses_a_bad_slope(slope):
    with pytest.raises(ValueError, match="LeakyReLU: negative_slope must be a finite real"):
        LeakyReLU(slope)


def test_reprs_and_specs():
    assert repr(LeakyReLU()) == "LeakyReLU(negative_slope=0.01)"
    assert repr(GELU()) == "GELU()"
    assert LeakyReLU(-2).spec(7) == ("leaky_relu", 7, 7, -2.0)
    assert GELU().spec(3) == ("gelu", 3, 3)
