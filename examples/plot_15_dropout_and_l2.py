"""
Dropout and L2 against overfitting
==================================

A network with many more weights than training samples can fit its training set
exactly, noise included, and then does worse on new data: the training loss keeps
falling while the test loss rises. Two remedies of the lecture:

* **L2 regularisation** (weight decay) adds ``lam / 2 * |W|^2`` to the loss, so every
  step also shrinks the Dense weight matrices a little (``gradient + lam * W``): large
  weights, which a network needs to bend its function around single noisy samples, cost.
* **Dropout** sets each hidden unit's output to zero with probability ``p`` at every
  training step (a fresh mask per step, the kept ones scaled by ``1 / (1 - p)``; in
  evaluation it is the identity), so no unit can rely on a few others being there: the
  network trains as an average of many thinned networks.

The same 64-128-128-10 ReLU network is trained on 300 handwritten digits (scikit-learn's
8x8 images, 30% of the training labels made wrong) four ways: plainly, with L2, with
dropout, and with both. The test set (clean labels) is never trained on.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import mlpcore as mc

X, y = load_digits(return_X_y=True)
X = X / 16.0
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:300], order[300:1100]
y_train = y[train].copy()
noisy = np.random.default_rng(1).random(len(train)) < 0.3  # 30% of the labels made wrong
y_train[noisy] = np.random.default_rng(2).integers(0, 10, noisy.sum())


def network(dropout):
    layers = [mc.Dense(64, 128), mc.ReLU()]
    if dropout:
        layers.append(mc.Dropout(dropout))
    layers += [mc.Dense(128, 128), mc.ReLU()]
    if dropout:
        layers.append(mc.Dropout(dropout))
    layers.append(mc.Dense(128, 10))
    return mc.Sequential(layers, loss="softmax_cross_entropy", seed=0)


variants = [
    ("plain", 0.0, 0.0, "C3"),
    ("L2 (weight_decay 1e-2)", 0.0, 1e-2, "C0"),
    ("dropout p = 0.5", 0.5, 0.0, "C2"),
    ("dropout 0.5 + L2 1e-2", 0.5, 1e-2, "C1"),
]
epochs = 100
fig, axes = plt.subplots(1, 3, figsize=(16, 4.4))
weights = {}
for name, p, lam, color in variants:
    net = network(p)
    history = net.fit(
        X[train],
        y_train,
        epochs=epochs,
        batch_size=32,
        optimizer=mc.Adam(2e-3, weight_decay=lam),
        validation_data=(X[test], y[test]),
    )
    h = history.history
    # fit's training loss is the mean over the epoch's steps, with dropout active: the
    # training set's loss in evaluation mode, like the test loss, is what compares
    train_loss = net.loss(X[train], y_train)
    best = int(np.argmin(h["val_loss"]))
    print(
        f"{name:24s} training loss {train_loss:.3f}, test loss {h['val_loss'][-1]:.3f} "
        f"(lowest {h['val_loss'][best]:.3f} at epoch {best + 1}), "
        f"test accuracy {h['val_accuracy'][-1]:.3f}"
    )
    e = np.arange(1, epochs + 1)
    axes[0].plot(e, h["loss"], color=color, lw=1, alpha=0.6)
    axes[0].plot(e, h["val_loss"], color=color, lw=2, label=name)
    axes[1].plot(e, h["val_accuracy"], color=color, label=name)
    weights[name] = (np.concatenate([w.ravel() for w in net.get_weights()[0::2]]), color)
axes[0].set_yscale("log")
axes[0].set_xlabel("epoch")
axes[0].set_ylabel("cross-entropy")
axes[0].set_title("test loss (thick) and training loss (thin)")
axes[0].legend(fontsize=8)
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("test accuracy")
axes[1].set_title("test accuracy (clean labels)")
axes[1].legend(fontsize=8, loc="lower right")
bins = np.linspace(-0.6, 0.6, 121)
for name, (w, color) in weights.items():
    axes[2].hist(w, bins=bins, histtype="step", color=color, lw=1.5, label=name)
axes[2].set_yscale("log")
axes[2].set_xlabel("weight value (all Dense weight matrices)")
axes[2].set_title("the trained weights: L2 shrinks them")
axes[2].legend(fontsize=8)
fig.suptitle("a 64-128-128-10 ReLU net on 300 digits with 30% wrong labels (Adam, lr 2e-3)")
fig.tight_layout()

# %%
# Dropout in training and in evaluation. The dropout layer's output on a batch, at two
# training steps (different masks: about half the units zeroed, the rest doubled) and
# in evaluation (the identity). Both engines draw the same masks, keyed by the model's
# seed, the step and the layer.
net = network(0.5)
rows = X[test][:8]
step_a = net.layer_outputs(rows, training=True, step=1)[2]
step_b = net.layer_outputs(rows, training=True, step=2)[2]
evaluation = net.layer_outputs(rows)[2]
before = net.layer_outputs(rows)[1]  # the ReLU output dropout receives
print(
    f"step 1: {np.mean(step_a[before > 0] == 0):.2f} of the positive units zeroed; kept ones "
    f"x{np.median(step_a[step_a > 0] / before[step_a > 0]):.1f}; evaluation mode is the "
    f"identity: {np.array_equal(evaluation, before)}"
)
fig, axes = plt.subplots(3, 1, figsize=(12, 4.6), sharex=True)
vmax = step_a.max()
for ax, m, title in zip(
    axes,
    [evaluation, step_a, step_b],
    ["evaluation (identity)", "training, step 1", "training, step 2"],
):
    ax.imshow(m[:, :96], cmap="viridis", vmin=0, vmax=vmax, aspect="auto", interpolation="nearest")
    ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=9)
    ax.set_yticks([])
axes[-1].set_xlabel("hidden unit (first 96 of 128), 8 test images as rows")
fig.suptitle("the first dropout layer's output (p = 0.5)")
fig.tight_layout()
