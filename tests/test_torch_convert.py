"""mlpcore.from_torch / to_torch: predictions equal both ways in evaluation mode, and plain
SGD steps agree with torch.optim.SGD on the same batches. Skipped without torch."""

import numpy as np
import pytest

import mlpcore as mc

torch = pytest.importorskip("torch")
nn = torch.nn
from interop_nets import KINDS, LOSSES, N_OUT, every_kind_net  # noqa: E402

from mlpcore.convert_torch import torch_loss  # noqa: E402

from conftest import assert_all_close, assert_all_equal, assert_close, targets  # noqa: E402

TOL = {"float32": 1e-5, "float64": 1e-12}
# torch.nn module per mlpcore kind, for building torch networks with every kind there is
TORCH_ACTIVATIONS = {
    "Identity": nn.Identity,
    "ReLU": nn.ReLU,
    "Sigmoid": nn.Sigmoid,
    "Tanh": nn.Tanh,
    "LeakyReLU": lambda: nn.LeakyReLU(0.2),
    "GELU": nn.GELU,
    "SiLU": nn.SiLU,
    "ELU": lambda: nn.ELU(0.7),
    "Softplus": nn.Softplus,
    "LayerNorm": lambda: nn.LayerNorm(8, eps=1e-3),
}


def torch_net(loss, dtype, seed, dropout=0.3, no_bias=True, n_in=5, width=8):
    """Linear -> BatchNorm1d -> every activation kind mlpcore has (and LayerNorm), each followed by a Linear
    (one without bias when no_bias), Dropout, Linear, with batch-norm running statistics away
    from (0, 1)."""
    torch.manual_seed(seed)
    mods = [nn.Linear(n_in, width), nn.BatchNorm1d(width, momentum=0.3, eps=1e-4)]
    for kind, make in TORCH_ACTIVATIONS.items():
        if kind in KINDS:
            mods += [make(), nn.Linear(width, width, bias=not (no_bias and kind == "Tanh"))]
    mods += [nn.Dropout(dropout), nn.Linear(width, N_OUT[loss])]
    m = nn.Sequential(*mods).to(getattr(torch, dtype))
    with torch.no_grad():
        for ln in (x for x in m if isinstance(x, nn.LayerNorm)):  # away from (1, 0)
            ln.weight.normal_(1, 0.3)
            ln.bias.normal_(0, 0.3)
        m[1].running_mean.normal_(0, 0.5)
        m[1].running_var.uniform_(0.3, 2.0)
        m[1].weight.normal_(1, 0.3)
        m[1].bias.normal_(0, 0.3)
    return m.eval()


def probabilities(loss, z):
    return {
        "softmax_cross_entropy": lambda: torch.softmax(z, -1),
        "binary_cross_entropy": lambda: torch.sigmoid(z),
        "mse": lambda: z,
        "hinge": lambda: z,
        "squared_hinge": lambda: z,
        "poisson": lambda: torch.exp(z),
    }[loss]()


def torch_targets(loss, n, k, rng):
    """Targets as numpy and as torch tensors (class indices as int64)."""
    y = (
        rng.poisson(2.0, (n, k)).astype(np.float64)
        if loss == "poisson"
        else targets(loss, n, k, rng)
    )
    return y, torch.from_numpy(y).long() if loss == "softmax_cross_entropy" else torch.from_numpy(y)


def report(what, out, ref, dtype):
    diff = float(np.max(np.abs(np.asarray(out, np.float64) - ref)))
    print(f"{what}: max |diff| = {diff:.3e}")
    rtol = TOL[dtype]
    assert_close(out, ref, rtol=rtol, atol=rtol * max(1.0, float(np.max(np.abs(ref)))), what=what)


@pytest.mark.parametrize("loss", LOSSES)
def test_from_torch_predicts_like_torch(loss, dtype, backend, rng):
    m = torch_net(loss, dtype, seed=int(rng.integers(1000)))
    net = mc.from_torch(m, loss=loss, backend=backend)
    assert net.dtype == np.dtype(dtype) and net.loss_name == loss
    assert {type(l).__name__ for l in net.layers} >= set(KINDS) - {"Step", "Sign"}
    X = rng.normal(size=(40, 5)).astype(dtype)
    with torch.no_grad():
        ref = probabilities(loss, m(torch.from_numpy(X))).numpy()
    report(f"{dtype} {loss} from_torch", net.predict(X), ref, dtype)


@pytest.mark.parametrize("loss", LOSSES)
def test_to_torch_predicts_like_mlpcore(loss, dtype, backend, rng):
    kinds = [k for k in KINDS if k not in ("Step", "Sign")]  # no torch.nn twin
    net = every_kind_net(loss, dtype, rng, backend=backend, kinds=kinds)
    X = torch.from_numpy(rng.normal(size=(40, net.n_features_in_)).astype(dtype))
    logits_module = mc.to_torch(net)
    assert not logits_module.training
    with torch.no_grad():
        z = logits_module(X)
    assert z.dtype == getattr(torch, dtype)
    ref = net.predict(X.numpy())
    report(f"{dtype} {loss} to_torch logits", probabilities(loss, z).numpy(), ref, dtype)
    if loss == "poisson":  # torch.nn has no Exp module
        with pytest.raises(ValueError, match="torch.exp for poisson"):
            mc.to_torch(net, output_activation=True)
        return
    with torch.no_grad():
        out = mc.to_torch(net, output_activation=True)(X).numpy()
    report(f"{dtype} {loss} to_torch", out, ref, dtype)


def test_round_trip_is_exact(rng, dtype):
    kinds = [k for k in KINDS if k not in ("Step", "Sign")]
    net = every_kind_net("softmax_cross_entropy", dtype, rng, kinds=kinds)
    back = mc.from_torch(mc.to_torch(net), loss="softmax_cross_entropy")
    assert repr(back.layers) == repr(net.layers)
    assert_all_equal(back.get_weights(), net.get_weights(), "weights")
    assert_all_equal(back.get_state(), net.get_state(), "state")


@pytest.mark.parametrize("batch_size", [64, 16])
@pytest.mark.parametrize("loss", LOSSES)
def test_sgd_steps_agree_with_torch(loss, batch_size, backend, rng):
    """Three epochs of plain SGD (12 steps for batches of 16) in training mode, batch norm
    included, on the same batches in the same order (shuffle=False): same weights and
    running statistics as torch.optim.SGD on torch_loss. (Every Linear has a bias: an
    imported bias=False Linear becomes a Dense whose zero bias mlpcore trains.)"""
    m = torch_net(loss, "float64", seed=int(rng.integers(1000)), dropout=0.0, no_bias=False)
    net = mc.from_torch(m, loss=loss, backend=backend)
    X = rng.normal(size=(64, 5))
    y, yt = torch_targets(loss, 64, N_OUT[loss], rng)
    lr, epochs = 0.1, 3
    start_weights = net.get_weights()
    net.fit(X, y, epochs=epochs, batch_size=batch_size, lr=lr, shuffle=False)

    m.train()
    opt = torch.optim.SGD(m.parameters(), lr=lr)
    f = torch_loss(net)
    Xt = torch.from_numpy(X)
    losses = []
    for _ in range(epochs):
        for start in range(0, 64, batch_size):
            opt.zero_grad()
            value = f(m(Xt[start : start + batch_size]), yt[start : start + batch_size])
            value.backward()
            opt.step()
            losses.append(value.item())
    trained = mc.from_torch(m, loss=loss)
    diff = max(
        float(np.max(np.abs(a - b))) for a, b in zip(net.get_weights(), trained.get_weights())
    )
    print(
        f"{loss} batch {batch_size}: max |weight diff| after {len(losses)} SGD steps = {diff:.3e}"
    )
    assert_all_close(
        net.get_weights(), trained.get_weights(), rtol=1e-10, atol=1e-12, what="weights after SGD"
    )
    assert_all_close(
        net.get_state(),
        trained.get_state(),
        rtol=1e-10,
        atol=1e-12,
        what="batch-norm running statistics after SGD",
    )
    moved = max(float(np.max(np.abs(a - b))) for a, b in zip(net.get_weights(), start_weights))
    assert moved > 1e-3, f"the weights moved by {moved:.2e} only"


def test_loss_conventions_match(rng):
    for loss in LOSSES:
        net = every_kind_net(loss, "float64", rng, kinds=["Dense", "ReLU"])
        m = mc.to_torch(net)
        X = rng.normal(size=(30, net.n_features_in_))
        y, yt = torch_targets(loss, 30, N_OUT[loss], rng)
        with torch.no_grad():
            value = torch_loss(net)(m(torch.from_numpy(X)), yt).item()
        assert abs(value - net.loss(X, y)) <= 1e-12 * abs(value), (loss, value, net.loss(X, y))


# ---- what cannot be converted ---------------------------------------------------------------
@pytest.mark.parametrize(
    "module, match",
    [
        (
            nn.Sequential(nn.Linear(3, 4), nn.Softsign(), nn.Linear(4, 2)),
            r"module\[1\] \(Softsign.*not supported.*Softplus",
        ),
        (
            nn.Sequential(nn.Linear(3, 4), nn.Softplus(beta=2.0), nn.Linear(4, 2)),
            r"module\[1\].*beta=1, threshold=20; got beta=2.0",
        ),
        (
            nn.Sequential(nn.Linear(3, 4), nn.Softplus(threshold=10.0), nn.Linear(4, 2)),
            r"threshold=20; got beta=1.0, threshold=10.0",
        ),
        (
            nn.Sequential(nn.Linear(3, 4), nn.Unflatten(1, (2, 2)), nn.LayerNorm((2, 2))),
            r"Unflatten",
        ),
        (
            nn.Sequential(nn.Linear(3, 4), nn.LayerNorm((1, 4))),
            r"module\[1\].*last dimension only.*got \(1, 4\)",
        ),
        (
            nn.Sequential(nn.Linear(3, 4), nn.Softmax(dim=1)),
            r"module\[1\].*end the module at the logits",
        ),
        (
            nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, affine=False), nn.Linear(4, 2)),
            "affine=True",
        ),
        (
            nn.Sequential(
                nn.Linear(3, 4), nn.BatchNorm1d(4, track_running_stats=False), nn.Linear(4, 2)
            ),
            "track_running_stats=True",
        ),
        (
            nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4, momentum=None), nn.Linear(4, 2)),
            "float momentum",
        ),
        (nn.Linear(3, 4), "must be a torch.nn.Sequential"),
        (nn.Sequential(), "empty"),
    ],
)
def test_from_torch_rejects(module, match):
    with pytest.raises(ValueError, match=match):
        mc.from_torch(module, loss="mse")


@pytest.mark.parametrize("options", [{"elementwise_affine": False}, {"bias": False}])
def test_from_torch_layernorm_without_affine_or_bias(options, rng):
    # no weight: gamma = 1; no bias: beta = 0 (both then train in mlpcore, as Dense's bias)
    m = (
        nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4, eps=1e-4, **options), nn.Linear(4, 2))
        .double()
        .eval()
    )
    net = mc.from_torch(m, loss="mse")
    assert repr(net.layers[1]) == "LayerNorm(4, eps=0.0001)"
    gamma, beta = net.get_weights()[2:4]
    np.testing.assert_array_equal(beta, np.zeros(4))
    if options.get("elementwise_affine") is False:
        np.testing.assert_array_equal(gamma, np.ones(4))
    X = rng.normal(size=(6, 3))
    with torch.no_grad():
        report(
            "LayerNorm without affine/bias",
            net.predict(X),
            m(torch.from_numpy(X)).numpy(),
            "float64",
        )


def test_from_torch_rejects_a_final_sigmoid_with_bce():
    with pytest.raises(ValueError, match="without its final Sigmoid"):
        mc.from_torch(nn.Sequential(nn.Linear(3, 1), nn.Sigmoid()), loss="binary_cross_entropy")


@pytest.mark.skipif("GELU" not in KINDS, reason="this mlpcore has no GELU yet")
def test_from_torch_rejects_tanh_gelu():
    with pytest.raises(ValueError, match="approximate='none'"):
        mc.from_torch(
            nn.Sequential(nn.Linear(3, 4), nn.GELU(approximate="tanh"), nn.Linear(4, 1)), loss="mse"
        )


def test_nested_sequential_and_dtype_override(rng):
    m = nn.Sequential(nn.Sequential(nn.Linear(3, 4), nn.ReLU()), nn.Linear(4, 2)).eval()
    net = mc.from_torch(m, loss="mse", dtype="float64")
    X = rng.normal(size=(5, 3))
    with torch.no_grad():
        ref = m(torch.from_numpy(X).float()).double().numpy()
    assert net.dtype == np.float64
    assert_close(net.predict(X), ref, rtol=1e-6, atol=1e-6, what="float32 module in float64")


@pytest.mark.parametrize("kind", ["Step", "Sign"])
def test_to_torch_rejects_step_and_sign(kind):
    net = mc.Sequential([mc.Dense(3, 3), getattr(mc, kind)(), mc.Dense(3, 1)], loss="mse", seed=0)
    with pytest.raises(ValueError, match=rf"layers\[1\] \({kind}\(\)\): no torch.nn module"):
        mc.to_torch(net)


def test_from_torch_asks_for_a_dtype_for_half_precision():
    m = nn.Sequential(nn.Linear(3, 2)).half()
    with pytest.raises(ValueError, match="parameters are float16; pass dtype="):
        mc.from_torch(m, loss="mse")
    net = mc.from_torch(m, loss="mse", dtype="float32")
    np.testing.assert_array_equal(net.get_weights()[0], m[0].weight.detach().float().numpy().T)
