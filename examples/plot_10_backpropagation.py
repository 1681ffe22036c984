"""
Backpropagation: the delta recursion, checked against finite differences
=========================================================================

For a network ``z_l = h_{l-1} W_l + b_l``, ``h_l = f(z_l)`` with a fused output/loss pair,
backpropagation computes the error of each layer's net input, ``delta_l = dL/dz_l``,
from the layer above:

.. math::

    \\delta_L = (\\hat y - y) / n, \\qquad
    \\delta_{l} = (\\delta_{l+1} W_{l+1}^T) \\odot f'(z_l), \\qquad
    \\frac{\\partial L}{\\partial W_l} = h_{l-1}^T \\delta_l, \\qquad
    \\frac{\\partial L}{\\partial b_l} = \\textstyle\\sum_i \\delta_{l,i}.

Below the recursion is written out in NumPy for a 4-16-16-3 tanh network, from the
forward values mlpcore returns (``layer_outputs``), and compared with mlpcore's
``gradients`` and with central finite differences of the loss
(:func:`mlpcore.check_gradients`), per layer and per parameter array.
"""

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

rng = np.random.default_rng(0)
X = rng.normal(size=(32, 4))
y = rng.integers(0, 3, 32)
net = mc.Sequential(
    [mc.Dense(4, 16), mc.Tanh(), mc.Dense(16, 16), mc.Tanh(), mc.Dense(16, 3)],
    loss="softmax_cross_entropy",
    dtype="float64",
    seed=0,
)

# forward: layer_outputs gives [z1, h1, z2, h2, z3, softmax(z3)]
z1, h1, z2, h2, z3, yhat = net.layer_outputs(X)
W1, b1, W2, b2, W3, b3 = net.get_weights()
Y = np.eye(3)[y]  # one-hot targets

# backward, layer by layer
delta3 = (yhat - Y) / len(X)  # output error of softmax + cross-entropy
delta2 = (delta3 @ W3.T) * (1 - h2**2)  # tanh' = 1 - tanh^2
delta1 = (delta2 @ W2.T) * (1 - h1**2)
by_hand = [X.T @ delta1, delta1.sum(0), h1.T @ delta2, delta2.sum(0), h2.T @ delta3, delta3.sum(0)]
engine = net.gradients(X, y)
for name, a, b in zip(["W1", "b1", "W2", "b2", "W3", "b3"], by_hand, engine):
    print(f"d{name}: max |delta recursion - mlpcore| = {np.max(np.abs(a - b)):.1e}")
for l, d in [(1, delta1), (2, delta2), (3, delta3)]:
    print(f"layer {l}: |delta_{l}| = {np.linalg.norm(d):.3e}")

# %%
# The gradient check: every parameter against the central difference
# ``(L(w + eps) - L(w - eps)) / (2 eps)``. The table has one row per parameter array.
check = mc.check_gradients(net, X, y)
print(check)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
ax = axes[0]
for k, row in enumerate(check.rows):
    ax.scatter(row.numerical, row.backprop, s=12, label=row.name, color=f"C{k}")
lim = max(np.abs(r.numerical).max() for r in check.rows) * 1.1
ax.plot([-lim, lim], [-lim, lim], "k-", lw=0.6)
ax.set_xlabel("central finite difference")
ax.set_ylabel("backpropagation")
ax.set_title("every parameter's gradient, two ways")
ax.legend(fontsize=8)
ax = axes[1]
names = [r.name for r in check.rows]
ax.bar(names, check.errors, color=[f"C{k}" for k in range(len(names))])
ax.set_yscale("log")
ax.axhline(check.tol, color="r", ls="--", label=f"tolerance {check.tol:g}")
ax.set_ylabel("max relative error")
ax.set_title("check_gradients: max relative error per parameter array")
ax.legend()
ax.tick_params(axis="x", rotation=30)
fig.tight_layout()

# %%
# The check catches a wrong backward pass. A classic slip: using ``1 - h`` for the
# derivative of tanh instead of ``1 - h^2``. Written into the recursion above, the
# first two layers' gradients are wrong and the last layer's are still right, which is
# what the per-array errors show.
wrong2 = (delta3 @ W3.T) * (1 - h2)
wrong1 = (wrong2 @ W2.T) * (1 - h1)
wrong = [X.T @ wrong1, wrong1.sum(0), h1.T @ wrong2, wrong2.sum(0), h2.T @ delta3, delta3.sum(0)]
for row, g in zip(check.rows, wrong):
    rel = np.abs(g.ravel() - row.numerical) / np.maximum(np.abs(row.numerical), 1e-6)
    print(f"{row.name}: max relative error of the wrong recursion {rel.max():.1e}")

# %%
# Batch norm and dropout: ``training=True, step=k`` checks the training-mode loss, with
# the batch statistics and the dropout masks of step ``k`` held fixed while the
# parameters move (the bias before a batch norm has gradient zero: the normalisation
# removes it).
bn_net = mc.Sequential(
    [mc.Dense(4, 16), mc.BatchNorm(16), mc.ReLU(), mc.Dropout(0.3), mc.Dense(16, 3)],
    loss="softmax_cross_entropy",
    seed=0,
)
print(mc.check_gradients(bn_net, X, y, training=True, step=5))
