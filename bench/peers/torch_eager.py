"""PyTorch eager (CPU): the lean idiomatic loop (randperm per epoch, zero_grad, forward,
CrossEntropyLoss, backward, SGD.step; no loss read back) and inference_mode serving."""

from common import DROPOUT, LR, SEED

NAME = "torch"


def unavailable():
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return f"PyTorch is not installed ({exc})"
    return None


def model(cfg):
    import torch
    import torch.nn as nn

    torch.manual_seed(SEED)
    mods = []
    for i, (a, b) in enumerate(zip(cfg.widths[:-1], cfg.widths[1:])):
        mods.append(nn.Linear(a, b))
        if i < len(cfg.widths) - 2:
            if cfg.blocks:
                mods += [nn.BatchNorm1d(b), nn.ReLU(), nn.Dropout(DROPOUT)]
            else:
                mods.append(nn.ReLU())
    return nn.Sequential(*mods)


def epoch_runner(cfg, X, y, loss_fn, opt):
    """run(k): k shuffled epochs of loss_fn(x, y).backward(); opt.step()."""
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    gen = torch.Generator().manual_seed(SEED)
    n = X.shape[0]

    def run(k):
        for _ in range(k):
            perm = torch.randperm(n, generator=gen)
            for s in range(0, n, cfg.batch):
                idx = perm[s : s + cfg.batch]
                opt.zero_grad(set_to_none=True)
                loss_fn(Xt[idx], yt[idx]).backward()
                opt.step()
        return k

    return run


def trainer(cfg, X, y):
    import torch

    net = model(cfg).train()
    opt = torch.optim.SGD(net.parameters(), lr=LR)
    crit = torch.nn.CrossEntropyLoss()
    run = epoch_runner(cfg, X, y, lambda xb, yb: crit(net(xb), yb), opt)
    run.note = "eager"
    return run


def load_layers(net, layers):
    """Copies the neutral weight list into the nn.Sequential of model() (weights transposed:
    torch keeps (out, in))."""
    import torch

    linears = [m for m in net if isinstance(m, torch.nn.Linear)]
    norms = [m for m in net if isinstance(m, torch.nn.BatchNorm1d)]
    with torch.no_grad():
        for lin, layer in zip(linears, layers):
            lin.weight.copy_(torch.from_numpy(layer["W"].T))
            lin.bias.copy_(torch.from_numpy(layer["b"]))
        for bn, layer in zip(norms, [l for l in layers if l["bn"] is not None]):
            gamma, beta, mean, var = (torch.from_numpy(a) for a in layer["bn"])
            bn.weight.copy_(gamma)
            bn.bias.copy_(beta)
            bn.running_mean.copy_(mean)
            bn.running_var.copy_(var)


def predictor(cfg, ref, threads):
    """NumPy in, softmax probabilities out as NumPy: the same contract as mlpcore's predict."""
    import torch

    net = model(cfg).eval()
    load_layers(net, ref["layers"])

    def predict(X):
        with torch.inference_mode():
            return torch.softmax(net(torch.from_numpy(X)), dim=1).numpy()

    return predict
