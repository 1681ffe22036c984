"""
The neuron and its activation functions
=======================================

A neuron computes a weighted sum of its inputs plus a bias, the *net input*
``z = w . x + b``, and passes it through an activation function: ``h = f(z)``. The
perceptron used the step function (or the sign function, for outputs in {-1, +1}); the
units trained by gradient descent need a function with a useful derivative: sigmoid
``1 / (1 + exp(-z))`` (``f' = f (1 - f) <= 1/4``), tanh (``f' = 1 - f^2 <= 1``), and
the rectifiers ReLU ``max(0, z)`` (``f' = 1`` for ``z > 0``), leaky ReLU and GELU
``z Phi(z)``.

Below, each activation layer of mlpcore is evaluated on a grid of net inputs (its forward
pass) and its derivative is read off the backward pass of
:func:`mlpcore.computation_graph` (the gradient that reaches ``z``), then compared with
central differences of the forward values. Step and sign have derivative zero almost
everywhere: mlpcore refuses to backpropagate through them, so their derivative is drawn
as the zero it is.
"""

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

z = np.linspace(-4, 4, 801)[:, None]  # 801 net inputs, one feature
ACTIVATIONS = [
    ("step", mc.Step()),
    ("sign", mc.Sign()),
    ("sigmoid", mc.Sigmoid()),
    ("tanh", mc.Tanh()),
    ("relu", mc.ReLU()),
    ("leaky relu (slope 0.1)", mc.LeakyReLU(0.1)),
    ("GELU", mc.GELU()),
]


def neuron(activation):
    """One neuron with w = 1, b = 0 (so its net input is the input itself), then f."""
    net = mc.Sequential([mc.Dense(1, 1), activation], loss="mse", dtype="float64", seed=0)
    net.set_weights([[[1.0]], [0.0]])
    return net


fig, axes = plt.subplots(2, 4, figsize=(12, 5.6), sharex=True)
for ax, (name, act) in zip(axes.flat, ACTIVATIONS):
    net = neuron(act)
    h = net.predict(z)[:, 0]
    if act.differentiable:
        # mse loss with target h - 1: dL/dh = (h - y) / n = 1 / n for every sample, so
        # the gradient reaching the net input is f'(z) / n
        graph = mc.computation_graph(net, z, h[:, None] - 1)
        dh_dz = graph["z1"].grad[:, 0] * len(z)
        fd = np.gradient(h, z[:, 0])  # central differences of the forward values
        smooth = np.abs(z[:, 0]) > 0.02  # away from the kink of the rectifiers
        err = np.max(np.abs(dh_dz - fd)[smooth])
        print(f"{name:24s} max |backward - central differences (grid step 0.01)| = {err:.1e}")
    else:
        dh_dz = np.zeros_like(h)
    ax.plot(z[:, 0], h, lw=2, label="f(z)")
    ax.plot(z[:, 0], dh_dz, "--", lw=1.5, label="f'(z)")
    ax.axhline(0, color="0.8", lw=0.8)
    ax.axvline(0, color="0.8", lw=0.8)
    ax.set_title(name)
    ax.set_ylim(-1.3, 1.6 if name != "GELU" else 4.2)
axes[0, 0].legend(loc="upper left")

# the last panel: the derivatives together, where the vanishing gradient begins
ax = axes.flat[-1]
for name, act in ACTIVATIONS[2:5]:
    net = neuron(act)
    h = net.predict(z)[:, 0]
    ax.plot(
        z[:, 0], mc.computation_graph(net, z, h[:, None] - 1)["z1"].grad[:, 0] * len(z), label=name
    )
ax.axhline(0.25, color="C0", ls=":", lw=0.8)
ax.set_title("derivatives: sigmoid' <= 1/4")
ax.legend(loc="upper left", fontsize=8)
for ax in axes[1]:
    ax.set_xlabel("net input z")
fig.suptitle("activation functions (solid) and their derivatives (dashed), computed by mlpcore")
fig.tight_layout()

# %%
# A single neuron with a sigmoid is a soft linear classifier: its output is 1/2 on the
# line ``w . x + b = 0`` and the weights set how steeply it rises across it.
xx, yy = np.meshgrid(np.linspace(-3, 3, 121), np.linspace(-3, 3, 121))
grid = np.c_[xx.ravel(), yy.ravel()]
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6))
for ax, (w, b) in zip(axes, [((1.0, 2.0), 0.0), ((3.0, 6.0), 0.0), ((-2.0, 1.0), 1.5)]):
    net = mc.Sequential([mc.Dense(2, 1), mc.Sigmoid()], loss="mse", dtype="float64", seed=0)
    net.set_weights([np.array(w)[:, None], [b]])
    h = net.predict(grid)[:, 0].reshape(xx.shape)
    im = ax.contourf(xx, yy, h, levels=np.linspace(0, 1, 11), cmap="RdBu_r")
    ax.contour(xx, yy, h, levels=[0.5], colors="k")
    ax.set_title(f"sigmoid({w[0]:g} x1 + {w[1]:g} x2 + {b:g})")
    ax.set_aspect("equal")
fig.colorbar(im, ax=axes, shrink=0.8, label="h")
