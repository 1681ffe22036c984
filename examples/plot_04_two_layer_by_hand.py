"""
A two-layer sigmoid network, by hand and by mlpcore
===================================================

The lecture's worked example: two inputs, two sigmoid hidden units and one sigmoid
output unit, with weights

.. math::

    z_1 = -x_1 + 2 x_2 + 1, \\qquad z_2 = -4 x_1 - x_2 + 2, \\qquad
    y = \\sigma\\big(\\sigma(z_1) + \\sigma(z_2)\\big).

mlpcore stores a Dense layer's weights as ``W`` of shape ``(n_in, n_out)`` with
``z = x @ W + b``, so column ``j`` of ``W1`` holds the weights into hidden unit ``j``:
``W1 = [[-1, -4], [2, -1]]``, ``b1 = [1, 2]``, ``W2 = [[1], [1]]``, ``b2 = [0]``. The
output's sigmoid is the one of the ``binary_cross_entropy`` loss.

At ``x = (0, 0)``: ``y = sigma(sigma(1) + sigma(2)) = sigma(0.7311 + 0.8808) =
sigma(1.6119) = 0.8337``.
"""

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc


def sigma(t):
    return 1 / (1 + np.exp(-t))


net = mc.Sequential(
    [mc.Dense(2, 2), mc.Sigmoid(), mc.Dense(2, 1)],
    loss="binary_cross_entropy",
    dtype="float64",
    seed=0,
)
net.set_weights([[[-1, -4], [2, -1]], [1, 2], [[1], [1]], [0]])

# by hand, at x = (0, 0)
h1, h2 = sigma(1.0), sigma(2.0)
print(
    f"by hand: sigma(1) = {h1:.4f}, sigma(2) = {h2:.4f}, y = sigma({h1 + h2:.4f}) = "
    f"{sigma(h1 + h2):.4f}"
)
print(f"mlpcore: y(0, 0) = {net.predict([[0.0, 0.0]])[0, 0]:.4f}")

# the same on a grid of inputs: the formula against the network
xx, yy = np.meshgrid(np.linspace(-3, 3, 151), np.linspace(-3, 3, 151))
X = np.c_[xx.ravel(), yy.ravel()]
x1, x2 = X[:, 0], X[:, 1]
formula = sigma(1 / (1 + np.exp(x1 - 2 * x2 - 1)) + 1 / (1 + np.exp(4 * x1 + x2 - 2)))
out = net.predict(X)[:, 0]
print(f"max |network - formula| over {len(X)} inputs: {np.max(np.abs(out - formula)):.1e}")

# %%
# The hidden units' outputs and the network's output over the input plane. Each hidden
# unit is a soft step across its line ``z_j = 0`` (drawn on every panel); the output adds
# the two and squashes the sum, so it is large where either unit is on.
h, y = net.layer_outputs(X)[1], out  # layer_outputs: [z1, h1, z2, output]
fig, axes = plt.subplots(1, 3, figsize=(13, 4))
panels = [
    (h[:, 0], "hidden unit 1: sigma(-x1 + 2 x2 + 1)"),
    (h[:, 1], "hidden unit 2: sigma(-4 x1 - x2 + 2)"),
    (y, "output: sigma(h1 + h2)"),
]
t = np.linspace(-3, 3, 2)
for ax, (values, title) in zip(axes, panels):
    levels = np.linspace(values.min(), values.max(), 21)
    im = ax.contourf(xx, yy, values.reshape(xx.shape), levels=levels, cmap="viridis")
    fig.colorbar(im, ax=ax, shrink=0.8, format="%.2f")
    ax.plot(t, (t - 1) / 2, "w--", lw=1.5, label="z1 = 0")  # -x1 + 2 x2 + 1 = 0
    ax.plot(t, 2 - 4 * t, "w:", lw=1.5, label="z2 = 0")  # -4 x1 - x2 + 2 = 0
    ax.plot([0], [0], "r*", ms=10)
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("x1")
    ax.set_aspect("equal")
axes[0].set_ylabel("x2")
axes[0].legend(loc="lower left", fontsize=8)
axes[2].annotate(
    f"y(0, 0) = {net.predict([[0.0, 0.0]])[0, 0]:.4f}",
    (0, 0),
    (-2.8, -2.6),
    color="w",
    arrowprops=dict(color="w", arrowstyle="->"),
)
fig.tight_layout()

# %%
# One step of backpropagation by hand at ``x = (0.5, -1)`` with target ``t = 1``: the
# output error is ``delta2 = y - t``, the hidden errors ``delta1 = (delta2 W2^T) *
# h (1 - h)``, and the gradients ``dW2 = h^T delta2``, ``dW1 = x^T delta1``. mlpcore's
# ``gradients`` gives the same numbers.
x0, t0 = np.array([[0.5, -1.0]]), np.array([1.0])
W1, b1, W2, b2 = net.get_weights()
hh = sigma(x0 @ W1 + b1)
yy0 = sigma(hh @ W2 + b2)
delta2 = yy0 - t0[:, None]
delta1 = (delta2 @ W2.T) * hh * (1 - hh)
by_hand = [x0.T @ delta1, delta1.sum(0), hh.T @ delta2, delta2.sum(0)]
for name, a, b in zip(["dW1", "db1", "dW2", "db2"], by_hand, net.gradients(x0, t0)):
    print(f"{name}: by hand {np.round(a.ravel(), 5)}, mlpcore {np.round(b.ravel(), 5)}")
