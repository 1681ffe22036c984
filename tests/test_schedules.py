"""mlpcore.schedules: every rate against torch.optim.lr_scheduler for the same settings (when
torch is installed) and against the formulas written out; how fit applies them."""

import math

import numpy as np
import pytest

import mlpcore as mc
from mlpcore import Dense, ReLU
from mlpcore.schedules import (
    Constant,
    CosineWarmup,
    Exponential,
    InverseScaling,
    OneCycle,
    ReduceOnPlateau,
    StepDecay,
)

from conftest import assert_close, make


def _torch_rates(make_sched, n, lr, per_step_metric=None):
    """The lr torch's scheduler gives at each of n scheduler steps."""
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=lr)
    sched = make_sched(torch.optim.lr_scheduler, opt)
    out = []
    for i in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        if per_step_metric is None:
            sched.step()
        else:
            sched.step(per_step_metric[i])
    return np.array(out)


def _epoch_rates(s, epochs, n_samples=100):
    return np.array([s.rates(e, 0, 1, n_samples)[0] for e in range(epochs)])


def _step_rates(s, steps):
    return s.rates(0, 0, steps, 100)


def _check(ours, theirs, what):
    diff = float(np.max(np.abs(ours - theirs) / theirs))
    print(f"{what}: max relative difference to torch {diff:.2e}")
    assert_close(ours, theirs, rtol=1e-12, atol=0, what=what)


def test_step_decay_matches_torch_step_lr():
    ours = _epoch_rates(StepDecay(0.1, step_size=3, gamma=0.5), 12)
    _check(ours, _torch_rates(lambda s, o: s.StepLR(o, step_size=3, gamma=0.5), 12, 0.1), "StepLR")
    assert_close(ours, 0.1 * 0.5 ** (np.arange(12) // 3), rtol=1e-15, atol=0)


def test_exponential_matches_torch_exponential_lr():
    ours = _epoch_rates(Exponential(0.2, gamma=0.9), 15)
    _check(ours, _torch_rates(lambda s, o: s.ExponentialLR(o, gamma=0.9), 15, 0.2), "ExponentialLR")


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"anneal_strategy": "linear"},
        {"three_phase": True},
        {"pct_start": 0.5, "div_factor": 10.0, "final_div_factor": 100.0},
    ],
)
def test_one_cycle_matches_torch(kw):
    ours = _step_rates(OneCycle(0.3, 50, **kw), 50)
    theirs = _torch_rates(
        lambda s, o: s.OneCycleLR(o, max_lr=0.3, total_steps=50, cycle_momentum=False, **kw),
        50,
        0.3,
    )
    _check(ours, theirs, f"OneCycleLR {kw}")


@pytest.mark.parametrize("warmup,min_lr", [(5, 0.0), (0, 0.01), (10, 1e-3)])
def test_cosine_warmup_matches_torch_linear_then_cosine(warmup, min_lr):
    total = 40
    s = CosineWarmup(0.1, total_steps=total, warmup_steps=warmup, start_factor=0.2, min_lr=min_lr)
    n = total - 1 if min_lr == 0 else total  # with min_lr = 0 the rate at total is 0

    def torch_sched(sch, o):
        cos = sch.CosineAnnealingLR(o, T_max=total - warmup, eta_min=min_lr)
        if warmup == 0:
            return cos
        lin = sch.LinearLR(o, start_factor=0.2, total_iters=warmup)
        return sch.SequentialLR(o, [lin, cos], milestones=[warmup])

    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SequentialLR's deprecation chatter
        theirs = _torch_rates(torch_sched, n, 0.1)
    _check(_step_rates(s, n), theirs, f"linear warm-up {warmup} + cosine (min_lr {min_lr})")


def test_cosine_warmup_formula():
    s = CosineWarmup(1.0, total_steps=10, warmup_steps=4, start_factor=0.5, min_lr=0.1)
    r = _step_rates(s, 12)
    # warm-up 0.5, 0.625, 0.75, 0.875; then 0.1 + 0.9 (1 + cos(pi k / 6)) / 2; then min_lr
    expected = (
        [0.5, 0.625, 0.75, 0.875]
        + [0.1 + 0.45 * (1 + math.cos(math.pi * k / 6)) for k in range(6)]
        + [0.1, 0.1]
    )
    assert_close(r, expected, rtol=1e-14, atol=0)


def test_inverse_scaling_is_scikit_learns_invscaling():
    # scikit-learn: after each epoch, lr = lr0 / (t + 1)^power_t with t the samples seen
    s = InverseScaling(0.5, power_t=0.25)
    n = 37
    expected = [0.5] + [0.5 / (n * e + 1) ** 0.25 for e in range(1, 6)]
    assert_close(_epoch_rates(s, 6, n), expected, rtol=1e-15, atol=0)


def test_inverse_scaling_matches_scikit_learns_sgd_optimizer():
    from sklearn.neural_network._stochastic_optimizers import SGDOptimizer

    opt = SGDOptimizer([np.zeros(1)], learning_rate_init=0.5, lr_schedule="invscaling", power_t=0.3)
    n, rates, t = 20, [], 0
    for _ in range(5):
        rates.append(opt.learning_rate)
        t += n
        opt.iteration_ends(t)
    assert_close(_epoch_rates(InverseScaling(0.5, power_t=0.3), 5, n), rates, rtol=1e-15, atol=0)


@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"mode": "max", "threshold_mode": "abs", "threshold": 0.05},
        {"patience": 1, "cooldown": 2, "factor": 0.5, "min_lr": 0.02},
    ],
)
def test_reduce_on_plateau_matches_torch(kw, rng):
    metrics = list(np.cumsum(rng.normal(0, 1, 60)) * 0.1 + 5)
    metrics[20:40] = [metrics[19]] * 20  # a real plateau
    torch_kw = {"patience": 3, **kw}
    s = ReduceOnPlateau(0.1, monitor="val_loss", **torch_kw)
    s.reset()
    ours = []
    for m in metrics:
        ours.append(s.rates(0, 0, 1, 10)[0])
        s.epoch_end({"val_loss": m})
    theirs = _torch_rates(
        lambda sch, o: sch.ReduceLROnPlateau(o, **torch_kw),
        len(metrics),
        0.1,
        per_step_metric=metrics,
    )
    _check(np.array(ours), theirs, f"ReduceLROnPlateau {kw}")
    assert len(set(ours)) > 1, "the test sequence should trigger at least one reduction"


def test_fit_applies_epoch_schedules_and_records_the_rate(backend, rng):
    X, y = rng.normal(size=(40, 3)), rng.integers(0, 2, 40)
    s = StepDecay(0.2, step_size=2, gamma=0.1)
    a = make([Dense(3, 8), ReLU(), Dense(8, 2)], backend, loss="softmax_cross_entropy", seed=0)
    h = a.fit(X, y, epochs=5, batch_size=8, lr=s)
    assert_close(h.history["lr"], [0.2, 0.2, 0.02, 0.02, 0.002], rtol=1e-15, atol=0)
    # the same as five one-epoch fits at those rates
    b = make([Dense(3, 8), ReLU(), Dense(8, 2)], backend, loss="softmax_cross_entropy", seed=0)
    for lr in h.history["lr"]:
        b.fit(X, y, epochs=1, batch_size=8, lr=lr)
    assert all(np.array_equal(p, q) for p, q in zip(a.get_weights(), b.get_weights()))


def test_schedule_rates_must_stay_positive(backend, rng):
    X, y = rng.normal(size=(20, 3)), rng.integers(0, 2, 20)
    model = make([Dense(3, 2)], backend, loss="softmax_cross_entropy", seed=0)
    with pytest.raises(ValueError, match="schedule .* gives lr=0.0 at step 10"):
        model.fit(X, y, epochs=3, batch_size=4, lr=OneCycle(0.1, total_steps=10))
    assert model.epoch_ == 2  # the two epochs before were trained


@pytest.mark.parametrize(
    "make_bad,match",
    [
        (lambda: StepDecay(0.1, step_size=0), "step_size"),
        (lambda: Exponential(0.1, gamma=1.5), "gamma"),
        (lambda: CosineWarmup(0.1, total_steps=5, warmup_steps=5), "warmup_steps"),
        (lambda: OneCycle(-1, 10), "max_lr"),
        (lambda: OneCycle(0.1, 10, anneal_strategy="cosine"), "anneal_strategy"),
        (lambda: ReduceOnPlateau(0.1, factor=1.0), "factor"),
        (lambda: Constant(float("nan")), "lr"),
    ],
)
def test_bad_schedule_settings(make_bad, match):
    with pytest.raises(ValueError, match=match):
        make_bad()


def test_schedule_objects_on_optimizers(backend, rng):
    X, y = rng.normal(size=(16, 3)), rng.integers(0, 2, 16)
    a = make([Dense(3, 2)], backend, loss="softmax_cross_entropy", seed=0)
    h = a.fit(X, y, epochs=3, batch_size=16, optimizer=mc.Adam(Exponential(0.01, 0.5)))
    assert_close(h.history["lr"], [0.01, 0.005, 0.0025], rtol=1e-15, atol=0)
