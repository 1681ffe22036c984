"""
Output kinds and their losses
=============================

What the output layer computes and which loss trains it depend on the task; mlpcore
fuses each output activation with its loss, so that the output error is always
``delta = (yhat - y) / n``:

* **regression**: identity output, half squared error (``loss="mse"``);
* **binary classification**: one sigmoid output, the probability of class 1, binary
  cross-entropy (``loss="binary_cross_entropy"``);
* **multi-class classification**: softmax over K outputs, cross-entropy
  (``loss="softmax_cross_entropy"``, integer labels or one-hot rows);
* **multi-label classification**: K independent sigmoid outputs, each its own binary
  cross-entropy (``loss="binary_cross_entropy"`` with a 0/1 matrix of targets).

Each panel trains a small network on a toy problem of its kind and draws what it
predicts. The last figure draws the losses themselves as functions of the net input.
"""

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

rng = np.random.default_rng(0)
fig, axes = plt.subplots(1, 4, figsize=(16, 4))


def hidden(n_in, n_out, width=32):
    return [mc.Dense(n_in, width), mc.Tanh(), mc.Dense(width, n_out)]


# regression: y = sin(3x) + noise
x = rng.uniform(-1, 1, (200, 1))
t = np.sin(3 * x[:, 0]) + rng.normal(0, 0.1, 200)
reg = mc.Sequential(hidden(1, 1), loss="mse", seed=0)
reg.fit(x, t, epochs=300, batch_size=32, optimizer=mc.Adam(0.01))
grid = np.linspace(-1, 1, 200)[:, None]
ax = axes[0]
ax.scatter(x[:, 0], t, s=8, color="0.6", label="data")
ax.plot(grid[:, 0], reg.predict(grid)[:, 0], "C3", lw=2, label="prediction (identity output)")
ax.set_title(f'regression: loss="mse"\nR^2 = {reg.evaluate(x, t)["r2"]:.3f}')
ax.legend(fontsize=8)

# binary: two Gaussian blobs
X = np.vstack([rng.normal([-1, 0], 0.8, (100, 2)), rng.normal([1, 0.5], 0.8, (100, 2))])
yb = np.repeat([0, 1], 100)
binary = mc.Sequential(hidden(2, 1), loss="binary_cross_entropy", seed=0)
binary.fit(X, yb, epochs=100, batch_size=32, optimizer=mc.Adam(0.01))
xx, yy = np.meshgrid(np.linspace(-4, 4, 150), np.linspace(-3.5, 4, 150))
G = np.c_[xx.ravel(), yy.ravel()]
ax = axes[1]
cs = ax.contourf(
    xx,
    yy,
    binary.predict(G)[:, 0].reshape(xx.shape),
    levels=np.linspace(0, 1, 11),
    cmap="RdBu_r",
    alpha=0.7,
)
ax.scatter(X[:, 0], X[:, 1], c=yb, cmap="RdBu_r", edgecolors="k", linewidths=0.5, s=18)
fig.colorbar(cs, ax=ax, label="P(class 1)")
acc = binary.evaluate(X, yb)["accuracy"]
ax.set_title(f'binary: loss="binary_cross_entropy"\nsigmoid output, accuracy {acc:.2f}')

# multi-class: three blobs, softmax
centers = np.array([[-1.5, -1], [1.5, -1], [0, 1.5]])
Xm = np.vstack([rng.normal(c, 0.7, (80, 2)) for c in centers])
ym = np.repeat([0, 1, 2], 80)
multi = mc.Sequential(hidden(2, 3), loss="softmax_cross_entropy", seed=0)
multi.fit(Xm, ym, epochs=100, batch_size=32, optimizer=mc.Adam(0.01))
P = multi.predict(G)  # (n, 3) softmax rows
ax = axes[2]
colors = np.array([[0.85, 0.3, 0.3], [0.3, 0.6, 0.85], [0.4, 0.75, 0.4]])
ax.imshow(
    (P @ colors).reshape(*xx.shape, 3),
    origin="lower",
    extent=(-4, 4, -3.5, 4),
    aspect="auto",
    alpha=0.8,
)
ax.scatter(Xm[:, 0], Xm[:, 1], c=colors[ym], edgecolors="k", s=15)
acc = multi.evaluate(Xm, ym)["accuracy"]
ax.set_title(f'multi-class: loss="softmax_cross_entropy"\nsoftmax over 3, accuracy {acc:.2f}')

# multi-label: two independent labels, "x1 > 0" and "inside the circle of radius 1.5"
Xl = rng.uniform(-3, 3, (400, 2))
Yl = np.c_[Xl[:, 0] > 0, np.hypot(Xl[:, 0], Xl[:, 1]) < 1.5].astype(float)
multilabel = mc.Sequential(hidden(2, 2), loss="binary_cross_entropy", seed=0)
multilabel.fit(Xl, Yl, epochs=150, batch_size=32, optimizer=mc.Adam(0.01))
Pl = multilabel.predict(G)  # (n, 2): one probability per label
ax = axes[3]
ax.contour(xx, yy, Pl[:, 0].reshape(xx.shape), levels=[0.5], colors="C0", linewidths=2)
ax.contour(xx, yy, Pl[:, 1].reshape(xx.shape), levels=[0.5], colors="C1", linewidths=2)
marker = Yl[:, 0] + 2 * Yl[:, 1]
ax.scatter(Xl[:, 0], Xl[:, 1], c=marker, cmap="viridis", s=8)
acc = multilabel.evaluate(Xl, Yl)["accuracy"]
ax.set_title(
    f"multi-label: 2 sigmoids, accuracy {acc:.2f}\nboundaries: label 1 (blue), label 2 (orange)"
)
ax.set_xlim(-3, 3)
ax.set_ylim(-3, 3)
fig.tight_layout()

# %%
# The losses as functions of the net input ``z`` for target 1 (and, for the
# regression loss, target 0): cross-entropy and binary cross-entropy grow linearly for
# confident wrong answers and vanish for confident right ones; the half squared error
# grows quadratically. The hinge loss (``loss="hinge"``, a linear SVM's) is zero beyond
# the margin ``z = 1``. Softmax over two logits ``(z, 0)`` is the sigmoid of ``z``, so
# its cross-entropy is the binary cross-entropy. Each value is ``net.loss`` of a network that outputs ``z``.
z = np.linspace(-4, 4, 161)


def loss_of(loss, target, k=1):
    """net.loss for a 1-input network with W = 1, b = 0 (so its net input is x)."""
    net = mc.Sequential([mc.Dense(1, k)], loss=loss, dtype="float64", seed=0)
    net.set_weights([np.r_[1.0, np.zeros(k - 1)][None, :], np.zeros(k)])
    return np.array([net.loss([[v]], target) for v in z])


fig, ax = plt.subplots(figsize=(7, 4))
ax.plot(z, loss_of("mse", [0.0]), label="mse, target 0: z^2 / 2")
ax.plot(z, loss_of("binary_cross_entropy", [1.0]), label="binary cross-entropy, target 1")
ax.plot(
    z,
    loss_of("softmax_cross_entropy", [0], k=2),
    "--",
    lw=2.5,
    label="softmax cross-entropy of logits (z, 0), class 0: the same curve",
)
ax.plot(z, loss_of("hinge", [1.0]), label="hinge, target +1: max(0, 1 - z)")
ax.set_ylim(0, 5)
ax.set_xlabel("net input z")
ax.set_ylabel("loss")
ax.legend(fontsize=8)
ax.set_title("the losses against the net input")
fig.tight_layout()
