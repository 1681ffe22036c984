"""
A feedforward network in matrix form
====================================

For a batch of ``n`` inputs stacked as the rows of ``X`` (``n x d``), a layer is two
matrix operations: the net inputs ``Z = H W + b`` (``H`` the previous layer's output,
``n x n_in``; ``W`` is ``n_in x n_out``; ``b`` is added to every row) and the
activations ``H' = f(Z)``, applied elementwise. A whole network is that pair repeated,
then the output activation (here softmax: each row of the last ``Z`` becomes class
probabilities).

``net.layer_outputs(X)`` returns each layer's output: below, every one of them is drawn
as the matrix it is (one row per sample, one column per unit) for a 2-6-4-3 tanh network
and 12 inputs, and the products are checked against NumPy's.
"""

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

rng = np.random.default_rng(0)
X = rng.normal(size=(12, 2))
net = mc.Sequential(
    [mc.Dense(2, 6), mc.Tanh(), mc.Dense(6, 4), mc.Tanh(), mc.Dense(4, 3)],
    loss="softmax_cross_entropy",
    dtype="float64",
    seed=0,
)
outputs = net.layer_outputs(X)  # [Z1, H1, Z2, H2, Z3, softmax(Z3)]
W1, b1, W2, b2, W3, b3 = net.get_weights()

# the same in NumPy, one matrix product per layer
Z1 = X @ W1 + b1
H1 = np.tanh(Z1)
Z2 = H1 @ W2 + b2
H2 = np.tanh(Z2)
Z3 = H2 @ W3 + b3
P = np.exp(Z3 - Z3.max(axis=1, keepdims=True))
P /= P.sum(axis=1, keepdims=True)
for name, mine, theirs in zip(
    ["Z1", "H1", "Z2", "H2", "Z3", "P"], outputs, [Z1, H1, Z2, H2, Z3, P]
):
    print(
        f"{name}: shape {mine.shape}, max |mlpcore - NumPy| = {np.max(np.abs(mine - theirs)):.1e}"
    )

# %%
# Every layer's output as a matrix. The rows are the 12 samples throughout; the columns
# change with each layer's width. The weight matrices between them have one row per
# input unit and one column per output unit.
names = [
    "X",
    "Z1 =\nX W1 + b1",
    "H1 =\ntanh(Z1)",
    "Z2 =\nH1 W2 + b2",
    "H2 =\ntanh(Z2)",
    "Z3 =\nH2 W3 + b3",
    "softmax\n(Z3)",
]
mats = [X, *outputs]
widths = [m.shape[1] for m in mats]
fig, axes = plt.subplots(
    2, 7, figsize=(14, 6.5), gridspec_kw={"height_ratios": [3, 1.2], "width_ratios": widths}
)
vmax = max(np.abs(m).max() for m in mats)
for k, (ax, name, m) in enumerate(zip(axes[0], names, mats)):
    im = ax.imshow(m, cmap="RdBu_r", vmin=-vmax, vmax=vmax, aspect="auto")
    ax.set_title(f"{name}\n{m.shape[0]} x {m.shape[1]}", fontsize=9)
    ax.set_xticks(range(m.shape[1]))
    ax.set_yticks([] if k else range(12))
axes[0, 0].set_ylabel("sample")
for ax, (name, W) in zip(
    axes[1], [("", None), ("W1", W1), ("", None), ("W2", W2), ("", None), ("W3", W3), ("", None)]
):
    if W is None:
        ax.axis("off")
        continue
    ax.imshow(W, cmap="PRGn", vmin=-1.5, vmax=1.5, aspect="auto")
    ax.set_title(f"{name}: {W.shape[0]} x {W.shape[1]}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
fig.colorbar(im, ax=axes[0], shrink=0.6, label="value")
fig.suptitle("a 2-6-4-3 network on a batch of 12 inputs, layer by layer (net.layer_outputs)")

# %%
# The rows of the softmax output are probability vectors: they sum to one.
print("row sums of softmax(Z3):", np.round(outputs[-1].sum(axis=1), 12))
print("net.predict(X) is the last of them:", np.array_equal(net.predict(X), outputs[-1]))
