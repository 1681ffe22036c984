"""
XOR: the decision boundary and the hidden units' lines
======================================================

XOR is the classic problem a single perceptron cannot solve: no line separates
``(0, 1), (1, 0)`` (class 1) from ``(0, 0), (1, 1)`` (class 0). A network with one
hidden layer can: each hidden unit draws a line ``w_j . x + b_j = 0`` across the input
plane, and the output unit combines the half-planes they define.

A 2-4-1 network (tanh hidden layer, sigmoid output with binary cross-entropy) is trained
by full-batch gradient descent on the four points (``batch_size=4``); a network without
hidden layer (logistic regression) is trained the same way and cannot get below the loss
of guessing on at least one point.
"""

import matplotlib.patheffects as pe
import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
y = np.array([0, 1, 1, 0], dtype=np.float64)

net = mc.Sequential(
    [mc.Dense(2, 4), mc.Tanh(), mc.Dense(4, 1)], loss="binary_cross_entropy", seed=1
)
losses = net.fit(X, y, epochs=2000, batch_size=4, lr=0.5)  # batch_size 4 = full batch
linear = mc.Sequential([mc.Dense(2, 1)], loss="binary_cross_entropy", seed=1)
linear_losses = linear.fit(X, y, epochs=2000, batch_size=4, lr=0.5)

p_one = net.predict(X)[:, 0]  # probability of class 1
for x, target, prob in zip(X.astype(int), y.astype(int), p_one):
    print(f"  {x[0]} xor {x[1]} = {target}   predicted {prob:.3f} -> {int(prob > 0.5)}")
print(
    f"2-4-1 network: loss {losses[0]:.4f} after 1 epoch, {losses[-1]:.4f} after "
    f"{len(losses)}; no hidden layer: {linear_losses[-1]:.4f}"
)

# %%
# The learned decision boundary (the output's 0.5 contour) with each hidden unit's line.
# The output is large where the tanh units' half-planes put the two class-1 points, small
# around the class-0 points.
lo, hi = -1.0, 2.0
xx, yy = np.meshgrid(np.linspace(lo, hi, 241), np.linspace(lo, hi, 241))
grid = np.c_[xx.ravel(), yy.ravel()]
W1, b1, W2, b2 = net.get_weights()
fig = plt.figure(figsize=(14, 4.6))
gs = fig.add_gridspec(2, 4, width_ratios=[2.2, 1, 1, 2])
ax = fig.add_subplot(gs[:, 0])
prob = net.predict(grid)[:, 0].reshape(xx.shape)
im = ax.contourf(xx, yy, prob, levels=np.linspace(0, 1, 21), cmap="RdBu_r", alpha=0.8)
ax.contour(xx, yy, prob, levels=[0.5], colors="k", linewidths=2)
t = np.linspace(lo, hi, 2)
for j in range(W1.shape[1]):
    # hidden unit j: W1[0, j] x1 + W1[1, j] x2 + b1[j] = 0
    ax.plot(
        t,
        -(W1[0, j] * t + b1[j]) / W1[1, j],
        "--",
        lw=1.8,
        label=f"hidden unit {j + 1}",
        color=f"C{j + 2}",
        path_effects=[pe.withStroke(linewidth=3.5, foreground="w")],
    )
ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=120, zorder=3)
ax.set_xlim(lo, hi)
ax.set_ylim(lo, hi)
ax.set_aspect("equal")
ax.set_title("P(class 1), decision boundary (black),\nhidden units' lines (dashed)")
ax.legend(loc="lower left", fontsize=7)
fig.colorbar(im, ax=ax, shrink=0.8)

# what each hidden unit computes: tanh(w_j . x + b_j) over the plane
hidden = net.layer_outputs(grid)[1]  # (n, 4): the tanh layer's output
for j in range(4):
    ax = fig.add_subplot(gs[j // 2, 1 + j % 2])
    ax.contourf(xx, yy, hidden[:, j].reshape(xx.shape), levels=np.linspace(-1, 1, 11), cmap="PuOr")
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", edgecolors="k", s=30)
    ax.set_title(f"unit {j + 1}: out weight {W2[j, 0]:+.1f}", fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_aspect("equal")

ax = fig.add_subplot(gs[:, 3])
ax.semilogy(losses, label="2-4-1 network")
ax.semilogy(linear_losses, label="no hidden layer")
ax.axhline(np.log(2), color="0.6", ls=":", label="log 2 (guessing)")
ax.set_xlabel("epoch (one full-batch step each)")
ax.set_ylabel("binary cross-entropy")
ax.set_title("training loss")
ax.legend()
fig.tight_layout()
