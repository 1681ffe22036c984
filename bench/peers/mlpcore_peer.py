"""mlpcore itself: Sequential.fit over whole epochs (C++ engine), Sequential.predict."""

from common import DROPOUT, LR, SEED

NAME = "mlpcore"
BACKEND = "native"  # the driver's --backend numpy switches to the NumPy twin


def unavailable():
    try:
        import mlpcore  # noqa: F401

        if BACKEND == "native":
            from mlpcore import _core  # noqa: F401
    except ImportError as exc:
        return f"mlpcore (or its C++ extension) does not import: {exc}"
    return None


def build(cfg):
    import mlpcore as mc

    layers = []
    for i, (a, b) in enumerate(zip(cfg.widths[:-1], cfg.widths[1:])):
        layers.append(mc.Dense(a, b))
        if i < len(cfg.widths) - 2:
            if cfg.blocks:
                layers += [mc.BatchNorm(b), mc.ReLU(), mc.Dropout(DROPOUT)]
            else:
                layers.append(mc.ReLU())
    return mc.Sequential(
        layers, loss="softmax_cross_entropy", dtype="float32", seed=SEED, backend=BACKEND
    )


def trainer(cfg, X, y):
    net = build(cfg)

    def run(k):
        net.fit(X, y, epochs=k, batch_size=cfg.batch, lr=LR, shuffle=True)
        return k

    run.note = "fit(epochs=k): whole epochs in C++, epoch loss computed"
    return run


def export_layers(net, cfg):
    """The neutral weight list every serving peer builds from: one dict per Dense layer,
    {"W": (n_in, n_out), "b": (n_out,), "bn": None or (gamma, beta, running_mean,
    running_var) of the BatchNorm after it}; float32 arrays."""
    weights, state = net.get_weights(), net.get_state()
    out, w, s = [], 0, 0
    for i in range(len(cfg.widths) - 1):
        layer = {"W": weights[w], "b": weights[w + 1], "bn": None}
        w += 2
        if cfg.blocks and i < len(cfg.widths) - 2:
            layer["bn"] = (weights[w], weights[w + 1], state[s], state[s + 1])
            w += 2
            s += 2
        out.append(layer)
    return out


def reference(cfg, X, y):
    """A model with trained (not initial) weights and batch-norm statistics, the source of
    every serving peer's weights: two epochs on the benchmark data."""
    net = build(cfg)
    net.fit(X, y, epochs=2, batch_size=cfg.batch, lr=LR, shuffle=True)
    return net


def predictor(cfg, model, threads):
    """net.predict: NumPy in, input checks, probabilities out."""
    return model["net"].predict
