"""Networks for the interop tests (ONNX, torch, scikit-learn): one factory per layer kind,
restricted to the kinds this mlpcore has (LeakyReLU and GELU arrive with the layer-descriptor
work), so the tests cover every kind as soon as it exists."""

import numpy as np

import mlpcore as mc

# kind -> a layer of that kind for width w (activations and dropout ignore w)
FACTORIES = {
    "Dense": lambda w: mc.Dense(w, w),
    "BatchNorm": lambda w: mc.BatchNorm(w, momentum=0.2, eps=1e-3),
    "LayerNorm": lambda w: mc.LayerNorm(w, eps=1e-3),
    "Dropout": lambda w: mc.Dropout(0.4),
    "Identity": lambda w: mc.Identity(),
    "ReLU": lambda w: mc.ReLU(),
    "Sigmoid": lambda w: mc.Sigmoid(),
    "Tanh": lambda w: mc.Tanh(),
    "Step": lambda w: mc.Step(),
    "Sign": lambda w: mc.Sign(),
    "LeakyReLU": lambda w: mc.LeakyReLU(negative_slope=0.2),
    "GELU": lambda w: mc.GELU(),
    "SiLU": lambda w: mc.SiLU(),
    "ELU": lambda w: mc.ELU(alpha=0.7),
    "Softplus": lambda w: mc.Softplus(),
}
KINDS = [k for k in FACTORIES if hasattr(mc, k)]
ACTIVATIONS = [k for k in KINDS if k not in ("Dense", "BatchNorm", "LayerNorm", "Dropout")]
N_OUT = {
    "softmax_cross_entropy": 3,
    "binary_cross_entropy": 2,
    "mse": 2,
    "poisson": 2,
    "hinge": 2,
    "squared_hinge": 2,
}


def _has_loss(name):
    try:
        mc.Sequential([mc.Dense(2, 2)], loss=name, seed=0, backend="numpy")
        return True
    except ValueError:
        return False


LOSSES = [loss for loss in N_OUT if _has_loss(loss)]  # poisson arrives with the training work
assert {"softmax_cross_entropy", "binary_cross_entropy", "mse"} <= set(LOSSES), LOSSES


def randomise(net, rng, scale=0.6):
    """Random weights, and batch-norm running statistics far from their (0, 1) start."""
    net.set_weights([rng.normal(0, scale, w.shape) for w in net.get_weights()])
    state = net.get_state()
    net.set_state(
        [
            rng.normal(0, 0.5, s.shape) if i % 2 == 0 else rng.uniform(0.3, 2.5, s.shape)
            for i, s in enumerate(state)
        ]
    )
    return net


def every_kind_net(loss, dtype, rng, backend="native", n_in=5, width=7, kinds=None):
    """BatchNorm on the inputs, then Dense -> BatchNorm -> ReLU -> Dropout, Dense -> LayerNorm,
    then Dense -> activation for every other activation kind (Step and Sign first), then Dense to
    the outputs."""
    kinds = KINDS if kinds is None else kinds
    layers = [mc.BatchNorm(n_in), mc.Dense(n_in, width)]
    layers += [FACTORIES[k](width) for k in ("BatchNorm", "ReLU", "Dropout") if k in kinds]
    if "LayerNorm" in kinds:
        layers += [mc.Dense(width, width), FACTORIES["LayerNorm"](width)]
    # Step and Sign first: they quantise, and would hide any difference made before them
    for k in sorted(ACTIVATIONS, key=lambda k: k not in ("Step", "Sign")):
        if k in kinds and k != "ReLU":
            layers += [mc.Dense(width, width), FACTORIES[k](width)]
    layers.append(mc.Dense(width, N_OUT[loss]))
    net = mc.Sequential(
        layers, loss=loss, dtype=dtype, seed=int(rng.integers(2**31)), backend=backend
    )
    return randomise(net, rng)


def one_kind_net(kind, loss, dtype, rng, backend="native", n_in=4, width=6):
    """Dense -> <kind> -> Dense: a failure names the kind."""
    net = mc.Sequential(
        [mc.Dense(n_in, width), FACTORIES[kind](width), mc.Dense(width, N_OUT[loss])],
        loss=loss,
        dtype=dtype,
        seed=int(rng.integers(2**31)),
        backend=backend,
    )
    return randomise(net, rng)


def scale_tolerance(dtype):
    """(rtol, atol) for outputs of another runtime: 1e-5 (float32) or 1e-12 (float64) relative
    to each element and to the largest output."""
    return 1e-5 if np.dtype(dtype) == np.float32 else 1e-12
