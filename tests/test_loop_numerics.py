"""The numerics of the training loop, along the chain of trust: the twin's weighted losses,
poisson pair, AdamW/RMSprop, clipping, L2 alpha and gradient norms against finite differences,
update rules written out in NumPy, scikit-learn and torch; then the C++ engine against the
twin on whole fits (sample weights, clipping, per-step rates, gradient norms, step losses,
CSR input)."""

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import BatchNorm, Dense, Dropout, ReLU, Tanh
from mlpcore.reference import losses
from mlpcore.reference.network import Network

from conftest import (
    TOLERANCES,
    assert_all_close,
    assert_all_equal,
    assert_close,
    assert_unchanged,
    make,
    numerical_gradient,
    snapshot,
    torch_cross_entropy_steps,
)

FD = {"rtol": 1e-6, "atol": 1e-8}


def _targets(name, n, k, rng):
    if name == "softmax_cross_entropy":
        return rng.integers(0, k, n)
    if name == "binary_cross_entropy":
        return rng.integers(0, 2, (n, k)).astype(float)
    if name == "poisson":
        return rng.poisson(2.0, (n, k)).astype(float)
    if name in ("hinge", "squared_hinge"):
        return rng.choice([-1.0, 1.0], (n, k))
    return rng.normal(size=(n, k))


def _target_matrix(name, y, k):
    return np.eye(k)[y] if name == "softmax_cross_entropy" else y


# ---- the twin's losses: weights and poisson ------------------------------------------------
@pytest.mark.parametrize("name", losses.NAMES)
def test_weighted_loss_is_the_weighted_mean_of_the_sample_losses(name, rng):
    B, K = 6, 3
    z = rng.normal(size=(B, K))
    y = _target_matrix(name, _targets(name, B, K, rng), K)
    w = rng.uniform(0.1, 3, B)
    per_sample = np.array(
        [losses.loss_forward(name, z[i : i + 1], y[i : i + 1])[0] for i in range(B)]
    )
    value, h = losses.loss_forward(name, z, y, w)
    expected = (w * per_sample).sum() / w.sum()
    assert abs(value - expected) <= 1e-12 * abs(expected), (value, expected)
    # the weighted delta is the gradient of the weighted loss: finite differences
    dz = losses.loss_backward(name, h, y, w)
    assert_close(
        dz,
        numerical_gradient(lambda: losses.loss_forward(name, z, y, w)[0], z),
        **FD,
        what=f"{name} weighted dz",
    )


def test_poisson_loss_is_half_scikit_learns_mean_poisson_deviance(rng):
    from sklearn.metrics import mean_poisson_deviance

    z = rng.normal(size=(30, 1))
    y = rng.poisson(1.5, (30, 1)).astype(float)  # zeros included
    w = rng.uniform(0.5, 2, 30)
    for weights in (None, w):
        value, h = losses.loss_forward("poisson", z, y, weights)
        expected = 0.5 * mean_poisson_deviance(y[:, 0], h[:, 0], sample_weight=weights)
        print(
            f"poisson vs sklearn (weights={weights is not None}): |diff| "
            f"{abs(value - expected):.2e}"
        )
        assert abs(value - expected) <= 1e-12 * expected


def test_poisson_loss_matches_torch_up_to_its_constant(rng):
    torch = pytest.importorskip("torch")
    z, y = rng.normal(size=(20, 2)), rng.poisson(3.0, (20, 2)).astype(float)
    value, _ = losses.loss_forward("poisson", z, y)
    # torch's PoissonNLLLoss(log_input=True) is exp(z) - y z, averaged over all elements
    nll = float(
        torch.nn.PoissonNLLLoss(log_input=True, full=False, reduction="sum")(
            torch.from_numpy(z), torch.from_numpy(y)
        )
    ) / len(z)
    ylogy = np.where(y > 0, y * np.log(np.where(y > 0, y, 1)) - y, 0).sum() / len(z)
    assert abs(value - (nll + ylogy)) <= 1e-12 * abs(value)


def test_network_gradients_with_weights_and_poisson_finite_differences(rng):
    specs = [("dense", 3, 5), ("tanh", 5, 5), ("dense", 5, 2)]
    net = Network(specs, "poisson", np.float64, 0)
    net.set_params(rng.normal(0, 0.5, net.params.size))
    X, Y = rng.normal(size=(7, 3)), rng.poisson(2.0, (7, 2)).astype(float)
    w = rng.uniform(0.2, 2.0, 7)
    _, grad = net.gradients(X, Y, False, 0, w)
    num = numerical_gradient(lambda: net.loss(X, Y, False, 0, w), net.params)
    assert_close(grad, num, **FD, what="weighted poisson network gradient")


@pytest.mark.parametrize("name", losses.NAMES)
def test_native_weighted_loss_kernels_match_the_twin(name, dtype, tol, rng):
    core = pytest.importorskip("mlpcore._core")
    B, K = 9, 3
    z = rng.normal(size=(B, K)).astype(dtype)
    y = _target_matrix(name, _targets(name, B, K, rng), K).astype(dtype)
    w = rng.uniform(0.1, 4, B).astype(dtype)
    value, h = core.testing.loss_forward(name, z, y, w)
    ref_value, ref_h = losses.loss_forward(name, z, y, w)
    assert_close(value, ref_value, **tol, what=f"{name} weighted loss")
    assert_close(h, ref_h, **tol, what=f"{name} h")
    assert_close(
        core.testing.loss_backward(name, h, y, w),
        losses.loss_backward(name, ref_h, y, w),
        **tol,
        what=f"{name} weighted dz",
    )


# ---- one full-batch step, written out in NumPy ---------------------------------------------
def _net(backend, dtype="float64", loss="softmax_cross_entropy", seed=0):
    return make([Dense(4, 6), Tanh(), Dense(6, 3)], backend, loss=loss, dtype=dtype, seed=seed)


DECAYS = [True, False, True, False]  # W1, b1, W2, b2


def _by_hand(kind, w0, g, lr, wd, t_steps=1):
    """One step of each optimizer from zero moments, written out (torch's rules)."""
    out = []
    for w, gw, d in zip(w0, g, DECAYS):
        lam = wd if d else 0.0
        if kind == "sgd":
            out.append(w - lr * (gw + lam * w))
        elif kind == "adam":
            gg = gw + lam * w
            m, v = 0.1 * gg, 0.001 * gg * gg
            out.append(w - lr / 0.1 * m / (np.sqrt(v) / np.sqrt(0.001) + 1e-8))
        elif kind == "adamw":
            w2 = w * (1 - lr * lam)
            m, v = 0.1 * gw, 0.001 * gw * gw
            out.append(w2 - lr / 0.1 * m / (np.sqrt(v) / np.sqrt(0.001) + 1e-8))
        elif kind == "rmsprop":
            gg = gw + lam * w
            v = 0.01 * gg * gg
            out.append(w - lr * gg / (np.sqrt(v) + 1e-8))
    return out


@pytest.mark.parametrize(
    "kind,opt",
    [
        ("sgd", mc.SGD(0.1, weight_decay=0.05)),
        ("adam", mc.Adam(0.01, weight_decay=0.05)),
        ("adamw", mc.AdamW(0.01, weight_decay=0.05)),
        ("rmsprop", mc.RMSprop(0.01, weight_decay=0.05)),
    ],
)
def test_one_step_of_each_optimizer_by_hand(kind, opt, backend, rng):
    X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    model = _net(backend)
    w0, g = model.get_weights(), model.gradients(X, y, training=True)
    model.fit(X, y, epochs=1, batch_size=12, shuffle=False, optimizer=opt)
    assert_all_close(
        model.get_weights(),
        _by_hand(kind, w0, g, opt.lr, opt.weight_decay),
        rtol=1e-9,
        atol=1e-12,
        what=f"{kind} step vs NumPy",
    )


def test_l2_alpha_is_scikit_learns_alpha_over_the_batch_weight(backend, rng):
    X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    w = rng.uniform(0.5, 2, 12)
    model = _net(backend)
    w0, g = model.get_weights(), model.gradients(X, y, training=True, sample_weight=w)
    lr, alpha = 0.1, 0.3
    model.fit(X, y, epochs=1, batch_size=12, shuffle=False, lr=lr, l2_alpha=alpha, sample_weight=w)
    expected = [
        p - lr * (gp + (alpha / w.sum() * p if d else 0)) for p, gp, d in zip(w0, g, DECAYS)
    ]
    assert_all_close(model.get_weights(), expected, rtol=1e-9, atol=1e-12, what="alpha step")


@pytest.mark.parametrize(
    "clip",
    [
        {"clip_norm": 0.05},
        {"clip_value": 0.01},
        {"clip_value": 0.02, "clip_norm": 0.03},
        {"clip_norm": 1e6},
    ],
)
def test_clipping_by_hand_and_gradient_norms(clip, backend, rng):
    X, y = rng.normal(size=(12, 4)), rng.integers(0, 3, 12)
    model = _net(backend)
    w0, g = model.get_weights(), model.gradients(X, y, training=True)
    lr = 0.5
    hist = model.fit(X, y, epochs=1, batch_size=12, shuffle=False, lr=lr, grad_norms=True, **clip)
    c = [
        np.clip(a, -clip["clip_value"], clip["clip_value"]) if "clip_value" in clip else a
        for a in g
    ]
    # the recorded norms are per layer, after clip_value and before clip_norm (as the engine
    # measures them)
    norms = [
        np.sqrt((c[0] ** 2).sum() + (c[1] ** 2).sum()),
        np.sqrt((c[2] ** 2).sum() + (c[3] ** 2).sum()),
    ]
    got = [hist.history["grad_norm_0"][0], hist.history["grad_norm_2"][0]]
    assert_close(got, norms, rtol=1e-10, atol=0, what="gradient norms")
    if "clip_norm" in clip:
        total = np.sqrt(sum((a**2).sum() for a in c))
        factor = clip["clip_norm"] / (total + 1e-6)
        c = [a * factor for a in c] if factor < 1 else c
    assert_all_close(
        model.get_weights(),
        [w - lr * a for w, a in zip(w0, c)],
        rtol=1e-9,
        atol=1e-12,
        what="clipped step",
    )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_fused_sgd_step_equals_the_separate_step(dtype, native, rng):
    """Plain SGD runs inside backward in the C++ engine (each dense layer's weights updated
    by the gemm that would have written their gradient); any clipping makes it take the
    separate step. A clip_norm no gradient reaches changes nothing else, so both paths must
    give the same weights up to rounding: batch norm, dropout, weight decay, scikit-learn's
    alpha and sample weights included."""
    X, y = rng.normal(size=(96, 7)), rng.integers(0, 3, 96)
    w = rng.uniform(0.5, 2, 96)
    layers = lambda: [
        Dense(7, 16),
        BatchNorm(16),
        ReLU(),
        Dropout(0.2),
        Dense(16, 8),
        Tanh(),
        Dense(8, 3),
    ]
    fits = []
    for extra in ({}, {"clip_norm": 1e12}):
        model = make(layers(), "native", loss="softmax_cross_entropy", dtype=dtype, seed=4)
        model.fit(
            X,
            y,
            epochs=3,
            batch_size=16,
            lr=0.1,
            weight_decay=0.01,
            l2_alpha=0.001,
            sample_weight=w,
            **extra,
        )
        fits.append(model.get_weights() + model.get_state())
    tol = {"rtol": 1e-12, "atol": 1e-14} if dtype == "float64" else TOLERANCES["float32"]
    diff = max(float(np.max(np.abs(a - b))) for a, b in zip(*fits))
    print(f"{dtype}: fused vs separate SGD step, 3 epochs, max |difference| {diff:.3g}")
    assert_all_close(fits[0], fits[1], **tol, what="fused vs separate step")


def test_clipping_matches_torch(rng):
    torch = pytest.importorskip("torch")
    X, y = rng.normal(size=(16, 4)), rng.integers(0, 3, 16)
    lr, epochs, batch = 0.3, 3, 4
    for clip in ({"clip_norm": 0.1}, {"clip_value": 0.02}):
        for backend in ("numpy", "native"):
            if backend == "native":
                pytest.importorskip("mlpcore._core")
            model = _net(backend)
            w0 = model.get_weights()
            model.fit(
                X,
                y,
                epochs=epochs,
                batch_size=batch,
                shuffle=False,
                optimizer=mc.SGD(lr, momentum=0.9),
                **clip,
            )
            net, lins = _torch_net(torch, w0)
            opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
            for _ in range(epochs):
                for s in range(0, len(X), batch):
                    opt.zero_grad()
                    torch.nn.functional.cross_entropy(
                        net(Xt[s : s + batch]), yt[s : s + batch]
                    ).backward()
                    if "clip_norm" in clip:
                        torch.nn.utils.clip_grad_norm_(net.parameters(), clip["clip_norm"])
                    else:
                        torch.nn.utils.clip_grad_value_(net.parameters(), clip["clip_value"])
                    opt.step()
            err = _assert_like_torch(model, lins, f"{clip} {backend}")
            print(f"clipping {clip} {backend} vs torch: max |diff| {err:.2e}")


def _torch_net(torch, w0):
    lin1, lin2 = torch.nn.Linear(4, 6).double(), torch.nn.Linear(6, 3).double()
    with torch.no_grad():
        for lin, W, b in ((lin1, w0[0], w0[1]), (lin2, w0[2], w0[3])):
            lin.weight.copy_(torch.from_numpy(W.T))
            lin.bias.copy_(torch.from_numpy(b))
    return torch.nn.Sequential(lin1, torch.nn.Tanh(), lin2), (lin1, lin2)


def _assert_like_torch(model, lins, what):
    lin1, lin2 = lins
    expected = [
        lin1.weight.detach().numpy().T,
        lin1.bias.detach().numpy(),
        lin2.weight.detach().numpy().T,
        lin2.bias.detach().numpy(),
    ]
    assert_all_close(model.get_weights(), expected, rtol=1e-9, atol=1e-12, what=what)
    return max(float(np.abs(a - e).max()) for a, e in zip(model.get_weights(), expected))


TORCH_OPTIMIZERS = [
    (lambda: mc.AdamW(0.01), "AdamW", {"lr": 0.01}),
    (
        lambda: mc.AdamW(0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        "AdamW",
        {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1},
    ),
    (lambda: mc.RMSprop(0.01), "RMSprop", {"lr": 0.01}),
    (
        lambda: mc.RMSprop(0.005, alpha=0.9, eps=1e-6, weight_decay=0.01, momentum=0.5),
        "RMSprop",
        {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.01, "momentum": 0.5},
    ),
    (lambda: mc.Adam(0.01, weight_decay=0.01), "Adam", {"lr": 0.01, "weight_decay": 0.01}),
    (
        lambda: mc.SGD(0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        "SGD",
        {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01},
    ),
]


@pytest.mark.parametrize(
    "make_opt,torch_name,torch_kw",
    TORCH_OPTIMIZERS,
    ids=[f"{t[1]}-{i}" for i, t in enumerate(TORCH_OPTIMIZERS)],
)
def test_optimizer_objects_match_torch_optim(make_opt, torch_name, torch_kw, backend, rng):
    torch = pytest.importorskip("torch")
    X, y = rng.normal(size=(24, 4)), rng.integers(0, 3, 24)
    model = _net(backend)
    w0 = model.get_weights()
    epochs, batch = 3, 8
    model.fit(X, y, epochs=epochs, batch_size=batch, shuffle=False, optimizer=make_opt())
    net, (lin1, lin2) = _torch_net(torch, w0)
    torch_kw = dict(torch_kw)
    wd = torch_kw.pop("weight_decay", 0.01 if torch_name == "AdamW" else 0.0)
    groups = [
        {"params": [lin1.weight, lin2.weight], "weight_decay": wd},
        {"params": [lin1.bias, lin2.bias], "weight_decay": 0.0},
    ]
    opt = getattr(torch.optim, torch_name)(groups, **torch_kw)
    torch_cross_entropy_steps(torch, net, opt, X, y, epochs, batch)
    err = _assert_like_torch(model, (lin1, lin2), f"{torch_name} vs torch.optim")
    print(f"{torch_name} {torch_kw} {backend} vs torch: max |diff| {err:.2e}")


# ---- sample weights ------------------------------------------------------------------------
@pytest.mark.parametrize("loss", ["softmax_cross_entropy", "mse", "poisson"])
def test_weight_two_equals_the_sample_twice(loss, backend, rng):
    n, k = 15, 3
    X, y = rng.normal(size=(n, 4)), _targets(loss, n, k, rng)
    w = rng.integers(1, 4, n).astype(float)
    idx = np.repeat(np.arange(n), w.astype(int))
    a, b = _net(backend, loss=loss), _net(backend, loss=loss)
    ha = a.fit(X, y, epochs=5, batch_size=n, shuffle=False, lr=0.05, sample_weight=w)
    hb = b.fit(X[idx], y[idx], epochs=5, batch_size=len(idx), lr=0.05, shuffle=False)
    assert_all_close(
        a.get_weights(),
        b.get_weights(),
        rtol=1e-10,
        atol=1e-12,
        what="weights: sample weights vs duplicated samples",
    )
    assert_close(list(ha), list(hb), rtol=1e-10, atol=1e-12, what="losses")
    assert abs(a.loss(X, y, sample_weight=w) - b.loss(X[idx], y[idx])) < 1e-12


@pytest.mark.parametrize(
    "bad,match",
    [
        (np.zeros(10), "sample_weight must be > 0"),
        (-np.ones(10), "> 0"),
        (np.r_[np.nan, np.ones(9)], "NaN"),
        (np.ones(9), r"shape \(10,\)"),
        (np.ones((10, 1)), r"shape \(10,\)"),
        (np.r_[np.inf, np.ones(9)], "infinity"),
        ("heavy", "real numbers"),
    ],
)
def test_bad_sample_weights(bad, match, backend, rng):
    X, y = rng.normal(size=(10, 4)), rng.integers(0, 3, 10)
    model = _net(backend)
    snap = snapshot(model)
    for call in (
        lambda: model.fit(X, y, sample_weight=bad),
        lambda: model.loss(X, y, sample_weight=bad),
        lambda: model.gradients(X, y, sample_weight=bad),
        lambda: model.evaluate(X, y, sample_weight=bad),
    ):
        with pytest.raises(ValueError, match=match):
            call()
    assert_unchanged(model, snap)


def test_poisson_targets_must_be_nonnegative(backend):
    model = make([Dense(2, 1)], backend, loss="poisson")
    with pytest.raises(ValueError, match="poisson loss must be >= 0"):
        model.fit(np.ones((3, 2)), np.array([1.0, -1.0, 2.0]))


# ---- the C++ engine against the twin, whole fits -------------------------------------------
FIT_OPTIONS = [
    {"sample_weight": "w"},
    {"clip_norm": 0.5, "optimizer": mc.SGD(0.1, momentum=0.9)},
    {"clip_value": 0.05, "sample_weight": "w"},
    {"l2_alpha": 0.1, "optimizer": mc.Adam(0.01)},
    {"optimizer": mc.AdamW(0.01, weight_decay=0.1), "sample_weight": "w"},
    {"optimizer": mc.RMSprop(0.01, momentum=0.5, weight_decay=0.01)},
    {"lr": mc.schedules.StepDecay(0.1, step_size=2, gamma=0.5), "record_steps": True},
    {"class_weight": "balanced", "clip_norm": 0.3},
]


@pytest.mark.parametrize("opts", FIT_OPTIONS, ids=lambda o: "-".join(o))
def test_engines_agree_on_fit_options(opts, dtype, rng, native):
    X, y = rng.normal(size=(57, 6)), rng.integers(0, 3, 57)
    w = rng.uniform(0.2, 3, 57)
    layers = [Dense(6, 16), ReLU(), BatchNorm(16), Dropout(0.2), Dense(16, 3)]
    kw = {k: (w if v == "w" else v) for k, v in opts.items()}
    models = [
        make(layers, b, loss="softmax_cross_entropy", dtype=dtype, seed=3)
        for b in ("numpy", "native")
    ]
    hist = [m.fit(X, y, epochs=4, batch_size=16, grad_norms=True, **kw) for m in models]
    tol = TOLERANCES[dtype]
    assert_all_close([list(hist[1])], [list(hist[0])], **tol, what="losses")
    assert_all_close(models[1].get_weights(), models[0].get_weights(), **tol, what="weights")
    assert_all_close(models[1].get_state(), models[0].get_state(), **tol, what="state")
    for key in ("grad_norm_0", "grad_norm_4", "lr"):
        assert_close(hist[1].history[key], hist[0].history[key], **tol, what=key)
    if kw.get("record_steps"):
        assert_all_close(hist[1].step_losses, hist[0].step_losses, **tol, what="step losses")
    diff = max(
        float(np.abs(a - b).max()) for a, b in zip(models[1].get_weights(), models[0].get_weights())
    )
    print(f"{dtype} {'-'.join(opts)}: engines' max |weight diff| {diff:.2e}")


@pytest.mark.parametrize("loss", ["poisson", "mse"])
def test_engines_agree_on_regression_with_weights(loss, dtype, rng, native):
    X = rng.normal(size=(40, 5))
    y = _targets(loss, 40, 2, rng)
    w = rng.uniform(0.5, 2, 40)
    models = [
        make([Dense(5, 8), Tanh(), Dense(8, 2)], b, loss=loss, dtype=dtype, seed=1)
        for b in ("numpy", "native")
    ]
    hist = [m.fit(X, y, epochs=3, batch_size=8, lr=0.02, sample_weight=w) for m in models]
    tol = TOLERANCES[dtype]
    assert_all_close([list(hist[1])], [list(hist[0])], **tol, what="losses")
    assert_all_close(models[1].get_weights(), models[0].get_weights(), **tol, what="weights")
    ev = [m.evaluate(X, y, sample_weight=w) for m in models]
    assert_close([ev[1][k] for k in ev[0]], [ev[0][k] for k in ev[0]], **tol, what="evaluate")


def test_per_step_schedule_matches_torch_one_cycle(backend, rng):
    torch = pytest.importorskip("torch")
    X, y = rng.normal(size=(24, 4)), rng.integers(0, 3, 24)
    model = _net(backend)
    w0 = model.get_weights()
    epochs, batch = 3, 6
    total = epochs * 4
    hist = model.fit(
        X,
        y,
        epochs=epochs,
        batch_size=batch,
        shuffle=False,
        optimizer=mc.SGD(mc.schedules.OneCycle(0.5, total), momentum=0.5),
    )
    net, lins = _torch_net(torch, w0)
    opt = torch.optim.SGD(net.parameters(), lr=0.5, momentum=0.5)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=0.5, total_steps=total, cycle_momentum=False
    )
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    last = []
    for _ in range(epochs):
        for s in range(0, len(X), batch):
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(Xt[s : s + batch]), yt[s : s + batch]).backward()
            last_lr = opt.param_groups[0]["lr"]
            opt.step()
            sched.step()
        last.append(last_lr)
    err = _assert_like_torch(model, lins, "one-cycle training vs torch")
    assert_close(hist.history["lr"], last, rtol=1e-12, atol=0, what="recorded lr")
    print(f"one-cycle fit {backend} vs torch: max |weight diff| {err:.2e}")


def test_engines_agree_on_a_per_step_schedule(dtype, rng, native):
    X, y = rng.normal(size=(50, 6)), rng.integers(0, 3, 50)
    sched = mc.schedules.CosineWarmup(0.1, total_steps=20, warmup_steps=5, min_lr=1e-3)
    models = [
        make(
            [Dense(6, 8), ReLU(), Dense(8, 3)], b, loss="softmax_cross_entropy", dtype=dtype, seed=2
        )
        for b in ("numpy", "native")
    ]
    hist = [m.fit(X, y, epochs=4, batch_size=10, lr=sched, record_steps=True) for m in models]
    tol = TOLERANCES[dtype]
    assert_all_close(models[1].get_weights(), models[0].get_weights(), **tol, what="weights")
    assert_all_close(hist[1].step_losses, hist[0].step_losses, **tol, what="step losses")


def test_csr_input_equals_dense(backend, dtype, rng):
    sparse = pytest.importorskip("scipy.sparse")
    X = rng.normal(size=(30, 6)) * (rng.random((30, 6)) < 0.3)
    y = rng.integers(0, 3, 30)
    fits = []
    for data in (X, sparse.csr_matrix(X), sparse.csc_matrix(X), sparse.coo_matrix(X)):
        m = make(
            [Dense(6, 8), ReLU(), Dense(8, 3)],
            backend,
            loss="softmax_cross_entropy",
            dtype=dtype,
            seed=0,
        )
        h = m.fit(data, y, epochs=3, batch_size=7, lr=0.1, validation_split=0.2)
        fits.append((m.get_weights(), list(h)))
    for weights, losses_ in fits[1:]:
        assert_all_equal(weights, fits[0][0], what="weights sparse vs dense")
        assert losses_ == fits[0][1]
