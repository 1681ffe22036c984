"""LayerNorm, SiLU, ELU and Softplus along the whole chain of trust, as test_leaky_relu_gelu.py
does for the two kinds before them: finite differences check the twin through whole Sequential
models (the kernels themselves: test_reference_gradients.py), the twin checks C++ (kernels:
test_native_kernels.py; here whole models), and torch.nn.LayerNorm / SiLU / ELU / Softplus
check both when torch is installed. Every comparison prints its max difference (pytest -s)."""

import numpy as np
import pytest

from mlpcore import (
    ELU,
    BatchNorm,
    Dense,
    Dropout,
    LayerNorm,
    ReLU,
    Sequential,
    SiLU,
    Softplus,
    Tanh,
)
from mlpcore.reference import activations, layers

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
    "layernorm": lambda: [Dense(4, 6), LayerNorm(6), Tanh(), Dense(6, 3)],
    "layernorm-eps": lambda: [
        LayerNorm(4, eps=0.3),
        Dense(4, 5),
        LayerNorm(5, eps=1e-3),
        Dense(5, 3),
    ],
    "silu": lambda: [Dense(4, 6), SiLU(), Dense(6, 5), SiLU(), Dense(5, 3)],
    "elu": lambda: [Dense(4, 6), ELU(), Dense(6, 5), ELU(alpha=0.3), Dense(5, 3)],
    "softplus": lambda: [Dense(4, 6), Softplus(), Dense(6, 3)],
    "all-new-bn-dropout": lambda: [
        Dense(4, 6),
        BatchNorm(6),
        SiLU(),
        Dropout(0.3),
        Dense(6, 5),
        LayerNorm(5),
        ELU(1.5),
        Dense(5, 5),
        Softplus(),
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


def test_layernorm_trains_on_one_sample_batches(backend, rng):
    # no batch statistics: a batch of one row is fine (BatchNorm refuses it)
    model = make([Dense(3, 4), LayerNorm(4), Dense(4, 2)], backend, loss="mse", seed=0)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    history = model.fit(X, y, epochs=2, batch_size=1, lr=0.05)
    assert len(history) == 2 and np.all(np.isfinite(history))
    # and evaluation equals training mode: the same function (no running statistics)
    assert_all_equal([model.predict(X, training=True)], [model.predict(X)], "train vs eval")


# ---- against PyTorch -----------------------------------------------------------------------
ACTIVATIONS = [("silu", 0.0), ("elu", 1.0), ("elu", 0.25), ("elu", -1.5), ("softplus", 0.0)]


def _torch_activation(torch, name, param):
    return {
        "silu": lambda: torch.nn.SiLU(),
        "elu": lambda: torch.nn.ELU(param),
        "softplus": lambda: torch.nn.Softplus(),
    }[name]()


@pytest.mark.parametrize("name,param", ACTIVATIONS)
def test_twin_activations_match_torch(name, param, rng):
    torch = pytest.importorskip("torch")
    # the tails, both sides of softplus' threshold 20, and the kinks at 0
    z = np.concatenate(
        [
            rng.normal(0, 3, 500),
            np.linspace(-40, 40, 801),
            [0.0, 20.0, np.nextafter(20.0, 21), 1e-9, -1e-9],
        ]
    ).reshape(-1, 1)
    dh = rng.normal(size=z.shape)
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    ht = _torch_activation(torch, name, param)(zt)
    ht.backward(torch.from_numpy(dh))
    h = activations.activation_forward(name, z, param)
    dz = activations.activation_backward(name, dh, z, h, param)
    _report(f"twin {name}({param}) forward vs torch", h, ht.detach().numpy())
    _report(f"twin {name}({param}) backward vs torch", dz, zt.grad.numpy())
    tight = {"rtol": 1e-12, "atol": 1e-15}
    assert_close(h, ht.detach().numpy(), **tight, what=f"{name} forward")
    assert_close(dz, zt.grad.numpy(), **tight, what=f"{name} backward")


@pytest.mark.parametrize("name,param", ACTIVATIONS)
def test_native_float32_activations_match_torch(name, param, native, rng):
    # torch computes float32 in float32, as the C++ engine does
    torch = pytest.importorskip("torch")
    from mlpcore import _core

    z = np.concatenate([rng.normal(0, 3, 500), np.linspace(-30, 30, 601)]).astype(np.float32)
    z = z.reshape(-1, 1)
    dh = rng.normal(size=z.shape).astype(np.float32)
    zt = torch.from_numpy(z.copy()).requires_grad_(True)
    ht = _torch_activation(torch, name, param)(zt)
    ht.backward(torch.from_numpy(dh))
    h = _core.testing.activation_forward(name, z, param)
    dz = _core.testing.activation_backward(name, dh, z, h, param)
    _report(f"C++ float32 {name}({param}) forward vs torch", h, ht.detach().numpy())
    _report(f"C++ float32 {name}({param}) backward vs torch", dz, zt.grad.numpy())
    assert_close(h, ht.detach().numpy(), rtol=1e-5, atol=1e-6, what=f"{name} forward")
    assert_close(dz, zt.grad.numpy(), rtol=1e-5, atol=1e-6, what=f"{name} backward")


def test_elu_derivative_at_zero_matches_torch():
    # the convention at the kink: elu'(0) = alpha (torch: z > 0 ? 1 : alpha exp(z))
    torch = pytest.importorskip("torch")
    zt = torch.zeros(1, 1, dtype=torch.float64, requires_grad=True)
    torch.nn.ELU(0.4)(zt).backward(torch.ones(1, 1, dtype=torch.float64))
    z = np.zeros((1, 1))
    ours = activations.activation_backward("elu", np.ones_like(z), z, z, 0.4)
    assert float(ours[0, 0]) == float(zt.grad[0, 0]) == 0.4


@pytest.mark.parametrize("B,F,eps", [(1, 1, 1e-5), (3, 5, 1e-5), (16, 40, 1e-3), (7, 2, 0.5)])
def test_twin_layernorm_matches_torch(B, F, eps, rng):
    torch = pytest.importorskip("torch")
    x = rng.normal(2.0, 3.0, size=(B, F))
    gamma, beta, dy = rng.normal(size=F), rng.normal(size=F), rng.normal(size=(B, F))
    m = torch.nn.LayerNorm(F, eps=eps, dtype=torch.float64)
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(gamma))
        m.bias.copy_(torch.from_numpy(beta))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = m(xt)
    yt.backward(torch.from_numpy(dy))
    y, cache = layers.layernorm_forward(x, gamma, beta, eps)
    dx, dgamma, dbeta = layers.layernorm_backward(dy, cache, gamma)
    tight = {"rtol": 1e-12, "atol": 1e-13}
    for what, ours, theirs in (
        ("y", y, yt),
        ("dx", dx, xt.grad),
        ("dgamma", dgamma, m.weight.grad),
        ("dbeta", dbeta, m.bias.grad),
    ):
        theirs = theirs.detach().numpy()
        _report(f"twin layernorm {B}x{F} {what} vs torch", ours, theirs)
        assert_close(ours, theirs, **tight, what=f"layernorm {what}")


def _torch_layers(torch, layers):
    """The torch.nn twin of each layer, looked up by its kind."""
    twins = {
        "dense": lambda l: torch.nn.Linear(l.n_in, l.n_out, dtype=torch.float64),
        "layernorm": lambda l: torch.nn.LayerNorm(l.n_in, eps=l.eps, dtype=torch.float64),
        "silu": lambda l: torch.nn.SiLU(),
        "elu": lambda l: torch.nn.ELU(l.alpha),
        "softplus": lambda l: torch.nn.Softplus(),
        "tanh": lambda l: torch.nn.Tanh(),
        "relu": lambda l: torch.nn.ReLU(),
    }
    return torch.nn.Sequential(*(twins[layer.kind](layer) for layer in layers))


@pytest.mark.parametrize(
    "layers",
    [
        lambda: [Dense(3, 8), LayerNorm(8), SiLU(), Dense(8, 6), ELU(0.5), Dense(6, 2)],
        lambda: [Dense(3, 5), Softplus(), Dense(5, 5), LayerNorm(5, eps=1e-2), ReLU(), Dense(5, 2)],
    ],
    ids=["layernorm-silu-elu", "softplus-layernorm"],
)
def test_sequential_fit_matches_torch(layers, backend, rng):
    # a whole fit with plain SGD, replayed in PyTorch on the same batches; LayerNorm's gamma
    # and beta train too
    torch = pytest.importorskip("torch")
    n, bs, seed, lr = 23, 5, 4, 0.1
    model = make(layers(), backend, loss="mse", seed=seed)
    model.set_weights(random_weights(model, rng, scale=0.7))
    X, y = rng.normal(size=(n, 3)), rng.normal(size=(n, 2))
    net = _torch_layers(torch, model.layers)
    with_params = [m for m in net if isinstance(m, (torch.nn.Linear, torch.nn.LayerNorm))]
    with torch.no_grad():
        for m, (a, b) in zip(with_params, zip(*[iter(model.get_weights())] * 2)):
            m.weight.copy_(torch.from_numpy(a.T if isinstance(m, torch.nn.Linear) else a))
            m.bias.copy_(torch.from_numpy(b))
    history = model.fit(X, y, epochs=2, batch_size=bs, lr=lr)
    losses = torch_sgd_mse_losses(torch, net, X, y, seed, 2, bs, lr, fold_single=False)
    tight = {"rtol": 1e-10, "atol": 1e-12}
    _report(f"{backend} loss history vs torch", history, losses)
    assert_close(history, losses, **tight, what="loss history")
    ours = model.get_weights()
    theirs = [
        a
        for m in with_params
        for a in (
            m.weight.detach().numpy().T
            if isinstance(m, torch.nn.Linear)
            else m.weight.detach().numpy(),
            m.bias.detach().numpy(),
        )
    ]
    for a, b in zip(ours, theirs):
        _report(f"{backend} weights after fit vs torch", a, b)
    assert_all_close(ours, theirs, **tight, what="weights after fit")


# ---- the layers themselves -----------------------------------------------------------------
def test_he_initialisation_before_the_new_activations():
    # He-uniform before SiLU, ELU, Softplus, looking past LayerNorm as past BatchNorm
    for act in (SiLU(), ELU(), Softplus()):
        model = Sequential(
            [Dense(50, 400), LayerNorm(400), Dropout(0.1), act, Dense(400, 1)],
            loss="mse",
            seed=0,
            backend="numpy",
        )
        W = model.get_weights()[0]
        bound = np.sqrt(6 / 50)
        assert np.abs(W).max() <= bound and np.abs(W).max() > 0.99 * bound, (
            f"{act!r}: max |W| {np.abs(W).max():.4f}, expected just below {bound:.4f}"
        )


@pytest.mark.parametrize(
    "make_layer,match",
    [
        (lambda: ELU(float("nan")), "ELU: alpha must be a finite real"),
        (lambda: ELU("1"), "ELU: alpha must be a finite real"),
        (lambda: LayerNorm(0), "LayerNorm: n_features must be an integer"),
        (lambda: LayerNorm(3, eps=0), r"LayerNorm: eps must be > 0"),
        (lambda: LayerNorm(3, eps=float("inf")), "LayerNorm: eps must be a finite real"),
    ],
)
def test_bad_arguments(make_layer, match):
    with pytest.raises(ValueError, match=match):
        make_layer()


def test_native_engine_checks_its_own_arguments(native):
    from mlpcore import _core

    with pytest.raises(ValueError, match="layernorm: eps must be finite and > 0"):
        _core.Network64([("dense", 2, 3), ("layernorm", 3, 3, -1.0)], "mse", 0)
    with pytest.raises(ValueError, match="elu: alpha must be finite"):
        _core.Network64([("dense", 2, 3), ("elu", 3, 3, float("nan"))], "mse", 0)
    with pytest.raises(ValueError, match="layernorm keeps its width"):
        _core.Network64([("dense", 2, 3), ("layernorm", 3, 4, 1e-5)], "mse", 0)


def test_reprs_specs_and_parameter_shapes():
    assert repr(LayerNorm(6)) == "LayerNorm(6, eps=1e-05)"
    assert repr(ELU()) == "ELU(alpha=1.0)" and repr(SiLU()) == "SiLU()"
    assert repr(Softplus()) == "Softplus()"
    assert LayerNorm(6, eps=1e-3).spec(6) == ("layernorm", 6, 6, 1e-3)
    assert ELU(-2).spec(7) == ("elu", 7, 7, -2.0)
    model = Sequential(
        [Dense(3, 4), LayerNorm(4), Dense(4, 1)],
        loss="mse",
        dtype="float64",
        seed=0,
        backend="numpy",
    )
    gamma, beta = model.get_weights()[2:4]
    assert_all_equal([gamma, beta], [np.ones(4), np.zeros(4)], "LayerNorm's initial gamma, beta")
    assert model.get_state() == []
