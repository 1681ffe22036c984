"""torch.compile (default inductor backend) on the model and its loss; backward runs the
compiled backward graph, SGD.step stays eager. The first compiled step is timed apart
(compile time, reported separately, not in the rate)."""

from common import LR

from . import torch_eager

NAME = "torch.compile"


def unavailable():
    return torch_eager.unavailable()


def trainer(cfg, X, y):
    import torch
    from common import perf

    net = torch_eager.model(cfg).train()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    crit = torch.nn.CrossEntropyLoss()
    compiled = torch.compile(lambda xb, yb: crit(net(xb), yb))
    xb, yb = torch.from_numpy(X[: cfg.batch]), torch.from_numpy(y[: cfg.batch])
    t0 = perf()
    try:
        for _ in range(2):  # forward and backward graphs, then a second call (guards)
            opt.zero_grad(set_to_none=True)
            compiled(xb, yb).backward()
            opt.step()
    except Exception as exc:  # inductor needs a working C++ compiler at run time
        raise RuntimeError(
            f"torch.compile failed: {type(exc).__name__}: "
            f"{str(exc).strip().splitlines()[0] if str(exc).strip() else ''}"
        ) from None
    run = torch_eager.epoch_runner(cfg, X, y, compiled, opt)
    run.compile_seconds = perf() - t0
    run.note = "inductor on model+loss"
    return run
