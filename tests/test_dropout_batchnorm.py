"""Dropout and batch normalisation on both engines: statistics of the masks, determinism of
the counter-based generator, PyTorch's batch-norm conventions, state and pickling."""

import pickle

import numpy as np
import pytest

from mlpcore import BatchNorm, Dense, Dropout, ReLU, Tanh
from mlpcore.reference import layers as ref_layers
from mlpcore.reference import rng as ref_rng
from mlpcore.reference.train import batch_bounds

from conftest import (
    TOLERANCES,
    assert_all_equal,
    assert_close,
    assert_unchanged,
    make,
    random_weights,
    snapshot,
    targets,
    torch_sgd_mse_losses,
)

F = 50  # features of the dropout probes


def dropout_probe(backend, p, dtype="float64", seed=8, n_dropout=1):
    """[Dense(F, F), Dropout(p)] * n_dropout + [Dense(F, F)] with identity weights: predict on
    ones returns the product of the dropout masks (1/(1-p) where kept, 0 where dropped)."""
    layers = []
    for _ in range(n_dropout):
        layers += [Dense(F, F), Dropout(p)]
    model = make(layers + [Dense(F, F)], backend, loss="mse", dtype=dtype, seed=seed)
    model.set_weights([np.eye(F), np.zeros(F)] * (n_dropout + 1))
    return model


# ---- dropout -------------------------------------------------------------------------------
@pytest.mark.parametrize("p", [0.05, 0.3, 0.5, 0.9])
def test_dropout_keeps_one_minus_p(p, backend, dtype):
    model = dropout_probe(backend, p, dtype)
    mask = model.predict(np.ones((200, F)), training=True, step=3)
    n = mask.size
    kept = np.count_nonzero(mask) / n
    sigma = np.sqrt(p * (1 - p) / n)
    assert abs(kept - (1 - p)) < 5 * sigma, f"kept {kept:.4f}, expected {1 - p} +- {5 * sigma:.4f}"
    scale = np.dtype(dtype).type(1 / (1 - p))
    assert np.isin(mask, [0, scale]).all(), f"mask values {np.unique(mask)[:5]}"


@pytest.mark.parametrize("p", [0.2, 0.6])
def test_dropout_preserves_the_mean(p, backend, rng):
    model = dropout_probe(backend, p)
    X = rng.uniform(0.5, 1.5, size=(200, F))
    out = model.predict(X, training=True, step=0)
    # each element is x / (1-p) with probability 1-p, else 0: mean x, variance x^2 p / (1-p)
    sigma = np.sqrt(np.sum(X**2) * p / (1 - p)) / X.size
    diff = abs(out.mean() - X.mean())
    assert diff < 5 * sigma, f"mean {out.mean():.5f} vs {X.mean():.5f} (5 sigma = {5 * sigma:.5f})"
    kept = out != 0
    assert_close(out[kept], X[kept] / (1 - p), rtol=1e-14, atol=0, what="kept values")


@pytest.mark.parametrize("p", [0.0, 0.5])
def test_dropout_evaluation_is_identity(p, backend, dtype, rng):
    model = dropout_probe(backend, p, dtype)
    X = rng.normal(size=(7, F)).astype(dtype)
    np.testing.assert_array_equal(model.predict(X), X)
    np.testing.assert_array_equal(model.predict(X, training=False, step=4), X)
    if p == 0:  # no dropout at all, in training mode too
        np.testing.assert_array_equal(model.predict(X, training=True, step=4), X)
    else:
        assert not np.array_equal(model.predict(X, training=True, step=4), X)


def test_dropout_masks_are_keyed_by_step(backend):
    model = dropout_probe(backend, 0.5)
    ones = np.ones((10, F))
    masks = [model.predict(ones, training=True, step=s) for s in range(5)]
    for i in range(5):
        for j in range(i):
            assert not np.array_equal(masks[i], masks[j]), f"steps {i} and {j} share a mask"
    np.testing.assert_array_equal(model.predict(ones, training=True, step=2), masks[2])
    # the default step is the model's next training step
    assert model.step_ == 0
    np.testing.assert_array_equal(model.predict(ones, training=True), masks[0])
    model.fit(np.ones((30, F)), np.ones((30, F)), epochs=1, batch_size=10, lr=1e-3)
    assert model.step_ == 3
    np.testing.assert_array_equal(
        model.predict(ones, training=True), model.predict(ones, training=True, step=3)
    )


@pytest.mark.parametrize("p", [0.25, 0.5])
def test_dropout_masks_follow_the_reference_generator(p, backend, dtype):
    # layers: 0 Dense, 1 Dropout, 2 Dense, 3 Dropout, 4 Dense: masks keyed by layers 1 and 3
    seed, step, n = 123456789, 41, 9
    model = dropout_probe(backend, p, dtype, seed=seed, n_dropout=2)
    out = model.predict(np.ones((n, F)), training=True, step=step)
    t = np.dtype(dtype).type
    m1 = ref_layers.dropout_mask((n, F), p, seed, step, 1, t)
    m3 = ref_layers.dropout_mask((n, F), p, seed, step, 3, t)
    assert not np.array_equal(m1, m3), "two dropout layers must draw different masks"
    np.testing.assert_array_equal(out, m1 * m3)
    other_seed = dropout_probe(backend, p, dtype, seed=seed + 1, n_dropout=2)
    assert not np.array_equal(other_seed.predict(np.ones((n, F)), training=True, step=step), out)


def test_rng_reference_values():
    # pinned values of the counter-based generator: any change breaks saved experiments
    k = ref_rng.key(0, ref_rng.STREAM_DROPOUT, 0, 0)
    assert k == ref_rng.key(0, 2, 0, 0) != ref_rng.key(0, 2, 0, 1) != ref_rng.key(1, 2, 0, 0)
    # SplitMix64 of 0 (the finaliser applied to 0 + G) is the well-known first output
    assert ref_rng._mix_int(ref_rng.GOLDEN) == 0xE220A8397B1DCDAF
    b = ref_rng.bits(k, 5)
    assert b.dtype == np.uint64 and len(set(b.tolist())) == 5
    assert [int(v) for v in b] == [
        ref_rng._mix_int((k + ref_rng.GOLDEN * (i + 1)) & ref_rng.MASK) for i in range(5)
    ]
    perm = ref_rng.permutation(3, 1, 100)
    assert sorted(perm.tolist()) == list(range(100)) and perm.tolist() != list(range(100))
    assert ref_rng.dropout_keep(5, 0, 1, 1000, 0.0).all()  # p = 0 keeps everything


@pytest.mark.parametrize("shuffle", [True, False])
def test_epoch_order_follows_the_reference_permutation(shuffle, backend):
    # With BatchNorm first, the running mean after one epoch with momentum 1 is the mean of
    # the last batch: which samples that batch held reveals the shuffle.
    n, bs, seed = 20, 6, 31
    model = make([BatchNorm(1, momentum=1.0), Dense(1, 1)], backend, seed=seed)
    X = np.arange(n, dtype=float)[:, None] ** 2
    model.fit(X, np.zeros(n), epochs=2, batch_size=bs, lr=1e-3, shuffle=shuffle)
    order = ref_rng.permutation(seed, 1, n) if shuffle else np.arange(n)
    start, end = batch_bounds(n, bs, True)[-1]
    expected = X[order[start:end], 0].mean()
    assert_close(model.get_state()[0], [expected], rtol=1e-12, atol=0, what="last batch mean")


# ---- batch norm ----------------------------------------------------------------------------
def test_batchnorm_training_output_has_beta_mean_and_gamma_std(backend, dtype, rng):
    tol = TOLERANCES[dtype]
    Fb, eps = 6, 1e-5
    model = make([BatchNorm(Fb, eps=eps)], backend, loss="mse", dtype=dtype, seed=0)
    gamma, beta = rng.uniform(0.5, 3, Fb), rng.normal(0, 2, Fb)
    model.set_weights([gamma, beta])
    X = rng.normal(3, 5, size=(64, Fb)) * rng.uniform(0.01, 10, Fb)
    out = model.predict(X, training=True).astype(np.float64)
    X = X.astype(dtype).astype(np.float64)
    var = X.var(axis=0)  # biased: the batch variance that normalises
    expected_std = gamma.astype(dtype) * np.sqrt(var / (var + eps))
    assert_close(
        out.mean(axis=0),
        beta.astype(dtype),
        rtol=tol["rtol"],
        atol=10 * tol["atol"],
        what="per-feature mean",
    )
    assert_close(out.std(axis=0), expected_std, **tol, what="per-feature std")


def running_stats_by_hand(X, seed, epochs, batch_size, momentum, shuffle=True):
    """PyTorch's update over fit's batches: running = (1-m) running + m stat, with the
    unbiased batch variance going into the running variance."""
    n, nf = X.shape
    mean, var = np.zeros(nf), np.ones(nf)
    for epoch in range(epochs):
        order = ref_rng.permutation(seed, epoch, n) if shuffle else np.arange(n)
        for start, end in batch_bounds(n, batch_size, True):
            xb = X[order[start:end]]
            mean = (1 - momentum) * mean + momentum * xb.mean(axis=0)
            var = (1 - momentum) * var + momentum * xb.var(axis=0, ddof=1)
    return mean, var


@pytest.mark.parametrize("n,batch_size,momentum", [(23, 5, 0.1), (21, 5, 0.3), (16, 16, 0.9)])
def test_running_stats_follow_pytorch_formula(n, batch_size, momentum, backend, dtype, rng):
    tol = TOLERANCES[dtype]
    seed = int(rng.integers(1 << 62))
    model = make(
        [BatchNorm(4, momentum=momentum), Dense(4, 3), Tanh(), Dense(3, 2)],
        backend,
        dtype=dtype,
        seed=seed,
    )
    X = rng.normal(2, 3, size=(n, 4))
    model.fit(X, rng.normal(size=(n, 2)), epochs=3, batch_size=batch_size, lr=0.05)
    mean, var = running_stats_by_hand(
        X.astype(dtype).astype(np.float64), seed, 3, batch_size, momentum
    )
    got_mean, got_var = model.get_state()
    assert_close(got_mean, mean, **tol, what="running mean")
    assert_close(got_var, var, **tol, what="running var")


def test_running_stats_agree_between_backends(rng):
    pytest.importorskip("mlpcore._core")
    layers = [
        Dense(5, 6),
        BatchNorm(6),
        ReLU(),
        Dropout(0.3),
        Dense(6, 4),
        BatchNorm(4),
        Dense(4, 2),
    ]
    X, y = rng.normal(size=(30, 5)), targets("softmax_cross_entropy", 30, 2, rng)
    states = []
    for backend in ("numpy", "native"):
        model = make(layers, backend, loss="softmax_cross_entropy", seed=17)
        model.fit(X, y, epochs=3, batch_size=7, lr=0.1)
        states.append(model.get_state())
    for i, (a, b) in enumerate(zip(*states)):
        assert_close(a, b, **TOLERANCES["float64"], what=f"state[{i}]")


def test_batchnorm_evaluation_uses_running_stats(backend, dtype, rng):
    tol = TOLERANCES[dtype]
    Fb, eps = 5, 1e-3
    model = make([BatchNorm(Fb, eps=eps)], backend, loss="mse", dtype=dtype, seed=0)
    gamma, beta = rng.uniform(0.5, 2, Fb), rng.normal(size=Fb)
    mean, var = rng.normal(size=Fb), rng.uniform(0.1, 3, Fb)
    model.set_weights([gamma, beta])
    model.set_state([mean, var])
    X = rng.normal(size=(3, Fb))
    c = lambda a: a.astype(dtype).astype(np.float64)  # noqa: E731  values as the model holds them
    expected = c(gamma) * (c(X) - c(mean)) / np.sqrt(c(var) + eps) + c(beta)
    assert_close(model.predict(X), expected, **tol, what="evaluation output")
    assert_close(model.predict(X[:1]), expected[:1], **tol, what="one sample")
    # training mode ignores the running statistics
    train_out = model.predict(X, training=True)
    model.set_state([mean + 5, var * 4])
    np.testing.assert_array_equal(model.predict(X, training=True), train_out)
    assert not np.allclose(model.predict(X), expected)


def test_only_fit_updates_running_stats(backend, rng):
    model = make([Dense(3, 4), BatchNorm(4), Dropout(0.5), Dense(4, 1)], backend, seed=2)
    X, y = rng.normal(size=(8, 3)), rng.normal(size=8)
    snap = snapshot(model)
    model.predict(X, training=True)
    model.loss(X, y, training=True)
    model.gradients(X, y, training=True)
    assert_unchanged(model, snap)
    model.fit(X, y, epochs=1, batch_size=4)
    mean, var = model.get_state()
    assert (mean != 0).all() and (var != 1).all()


def test_state_round_trip(backend, dtype, rng):
    layers = [
        Dense(3, 4),
        BatchNorm(4),
        Tanh(),
        Dense(4, 5),
        BatchNorm(5, momentum=0.5),
        Dense(5, 2),
    ]
    a = make(layers, backend, dtype=dtype, seed=1)
    state = [rng.normal(size=4), rng.uniform(0.1, 2, 4), rng.normal(size=5), rng.uniform(0.1, 2, 5)]
    a.set_state(state)
    assert_all_equal(a.get_state(), [s.astype(dtype) for s in state], "state")
    a.set_weights(random_weights(a, rng))
    # a model rebuilt from weights and state predicts the same, in evaluation mode
    b = make(layers, backend, dtype=dtype, seed=999)
    b.set_weights(a.get_weights())
    b.set_state(a.get_state())
    X = rng.normal(size=(6, 3))
    np.testing.assert_array_equal(b.predict(X), a.predict(X))
    b.set_state([np.zeros(4), np.ones(4), np.zeros(5), np.ones(5)])
    assert not np.array_equal(b.predict(X), a.predict(X))


def test_pickle_round_trip(backend, dtype, rng):
    layers = [Dense(4, 6), BatchNorm(6), ReLU(), Dropout(0.3), Dense(6, 3)]
    model = make(layers, backend, loss="softmax_cross_entropy", dtype=dtype, seed=21)
    X, y = rng.normal(size=(25, 4)), targets("softmax_cross_entropy", 25, 3, rng)
    model.fit(X, y, epochs=2, batch_size=8)
    copy = pickle.loads(pickle.dumps(model))
    assert (copy.backend, copy.dtype, copy.seed, copy.loss_name) == (
        backend,
        np.dtype(dtype),
        21,
        "softmax_cross_entropy",
    )
    # 25 samples in batches of 8: 8 + 8 + 9, the trailing single sample folded in
    assert (copy.epoch_, copy.step_) == (model.epoch_, model.step_) == (2, 6)
    assert copy.history_ == model.history_
    assert_all_equal(copy.get_weights(), model.get_weights(), "weights")
    assert_all_equal(copy.get_state(), model.get_state(), "state")
    np.testing.assert_array_equal(copy.predict(X), model.predict(X))
    np.testing.assert_array_equal(copy.predict(X, training=True), model.predict(X, training=True))
    # training goes on exactly as it would have: same shuffles, same dropout masks
    assert copy.fit(X, y, epochs=2, batch_size=8) == model.fit(X, y, epochs=2, batch_size=8)
    assert_all_equal(
        copy.get_weights() + copy.get_state(),
        model.get_weights() + model.get_state(),
        "after more training",
    )


# ---- against PyTorch -----------------------------------------------------------------------
@pytest.mark.parametrize("momentum,eps", [(0.1, 1e-5), (0.3, 1e-3)])
def test_reference_batchnorm_matches_torch(momentum, eps, rng):
    torch = pytest.importorskip("torch")
    Fb = 4
    bn = torch.nn.BatchNorm1d(Fb, eps=eps, momentum=momentum, dtype=torch.float64)
    gamma, beta = rng.uniform(0.5, 2, Fb), rng.normal(size=Fb)
    with torch.no_grad():
        bn.weight.copy_(torch.from_numpy(gamma))
        bn.bias.copy_(torch.from_numpy(beta))
    mean, var = np.zeros(Fb), np.ones(Fb)
    tight = {"rtol": 1e-12, "atol": 1e-12}
    for B in (2, 7, 16):  # several training steps, including the smallest batch
        x = rng.normal(1, 3, size=(B, Fb))
        G = rng.normal(size=(B, Fb))
        bn.train()
        bn.zero_grad()
        xt = torch.from_numpy(x.copy()).requires_grad_(True)
        yt = bn(xt)
        yt.backward(torch.from_numpy(G))
        y, cache, mean, var = ref_layers.batchnorm_forward(
            x, gamma, beta, mean, var, True, momentum, eps, update_running=True
        )
        dx, dgamma, dbeta = ref_layers.batchnorm_backward(G, cache, gamma, True)
        assert_close(y, yt.detach().numpy(), **tight, what=f"training output (B={B})")
        assert_close(dx, xt.grad.numpy(), **tight, what="dx")
        assert_close(dgamma, bn.weight.grad.numpy(), **tight, what="dgamma")
        assert_close(dbeta, bn.bias.grad.numpy(), **tight, what="dbeta")
        assert_close(mean, bn.running_mean.numpy(), **tight, what="running mean")
        assert_close(var, bn.running_var.numpy(), **tight, what="running var")
    # evaluation mode with the accumulated running statistics
    bn.eval()
    x = rng.normal(size=(5, Fb))
    G = rng.normal(size=(5, Fb))
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    yt = bn(xt)
    yt.backward(torch.from_numpy(G))
    y, cache, _, _ = ref_layers.batchnorm_forward(
        x, gamma, beta, mean, var, False, momentum, eps, update_running=False
    )
    assert_close(y, yt.detach().numpy(), **tight, what="evaluation output")
    assert_close(
        ref_layers.batchnorm_backward(G, cache, gamma, False)[0],
        xt.grad.numpy(),
        **tight,
        what="evaluation dx",
    )


def test_sequential_batchnorm_matches_torch_training(backend, rng):
    # a whole fit of [BatchNorm, Dense] with plain SGD, replayed in PyTorch on the same batches
    torch = pytest.importorskip("torch")
    n, nf, bs, seed, lr = 22, 3, 5, 9, 0.1
    model = make([BatchNorm(nf), Dense(nf, 2)], backend, loss="mse", seed=seed)
    W0, b0 = rng.normal(size=(nf, 2)), rng.normal(size=2)
    model.set_weights([np.ones(nf), np.zeros(nf), W0, b0])
    X, y = rng.normal(size=(n, nf)), rng.normal(size=(n, 2))
    history = model.fit(X, y, epochs=2, batch_size=bs, lr=lr)

    net = torch.nn.Sequential(
        torch.nn.BatchNorm1d(nf, dtype=torch.float64), torch.nn.Linear(nf, 2, dtype=torch.float64)
    )
    with torch.no_grad():
        net[1].weight.copy_(torch.from_numpy(W0.T))
        net[1].bias.copy_(torch.from_numpy(b0))
    losses = torch_sgd_mse_losses(torch, net, X, y, seed, 2, bs, lr, fold_single=True)
    tight = {"rtol": 1e-10, "atol": 1e-12}
    assert_close(history, losses, **tight, what="loss history")
    gamma, beta, W, b = model.get_weights()
    assert_close(gamma, net[0].weight.detach().numpy(), **tight, what="gamma")
    assert_close(beta, net[0].bias.detach().numpy(), **tight, what="beta")
    assert_close(W, net[1].weight.detach().numpy().T, **tight, what="W")
    assert_close(b, net[1].bias.detach().numpy(), **tight, what="b")
    mean, var = model.get_state()
    assert_close(mean, net[0].running_mean.numpy(), **tight, what="running mean")
    assert_close(var, net[0].running_var.numpy(), **tight, what="running var")
