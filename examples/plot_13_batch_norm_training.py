"""
Batch normalisation's effect on training
========================================

Batch normalisation standardises every unit's net input over the batch (mean 0,
variance 1, then a learned scale ``gamma`` and shift ``beta``), so each layer sees
inputs on the same scale whatever the layers below do. In training it uses the batch's
statistics; in evaluation the running averages it kept (PyTorch's conventions:
``momentum=0.1``, ``eps=1e-5``).

The effect on training: the same 6-hidden-layer tanh network on the handwritten digits,
with and without ``BatchNorm`` after every Dense layer, trained with SGD at a small and a
large learning rate. With batch norm the loss falls faster; at the large rate, where the
plain network diverges (its accuracy stays at chance, 10%), the batch-norm network still
trains. Its test loss then jumps from epoch to epoch: evaluation uses the running
averages of the batch statistics, which lag behind weights that move fast.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import mlpcore as mc

X, y = load_digits(return_X_y=True)
X = X / 16.0
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:1000], order[1000:]


def network(batch_norm, depth=6, width=64):
    layers, n_in = [], 64
    for _ in range(depth):
        layers.append(mc.Dense(n_in, width))
        if batch_norm:
            layers.append(mc.BatchNorm(width))
        layers.append(mc.Tanh())
        n_in = width
    layers.append(mc.Dense(n_in, 10))
    return mc.Sequential(layers, loss="softmax_cross_entropy", seed=0)


fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), sharey=True)
for ax, lr in zip(axes, (0.02, 0.5)):
    for batch_norm in (False, True):
        net = network(batch_norm)
        history = net.fit(
            X[train], y[train], epochs=12, batch_size=32, lr=lr, validation_data=(X[test], y[test])
        )
        name = "with batch norm" if batch_norm else "plain"
        acc = history.history["val_accuracy"][-1]
        best = max(history.history["val_accuracy"])
        print(
            f"lr {lr}: {name:15s} training loss {history[0]:.3f} -> {history[-1]:.3f}, "
            f"test accuracy {acc:.3f}, best of the epochs {best:.3f}"
        )
        epochs = np.arange(1, len(history) + 1)
        color = "C1" if batch_norm else "C0"
        ax.plot(epochs, history.history["loss"], color=color, label=f"{name}: training")
        ax.plot(
            epochs,
            history.history["val_loss"],
            "--",
            color=color,
            label=f"{name}: test (accuracy {acc:.2f}, best {best:.2f})",
        )
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_title(f"SGD, lr {lr}, batch 32")
    ax.legend(fontsize=8)
axes[0].set_ylabel("cross-entropy")
fig.tight_layout()

# %%
# What batch norm does to the net inputs: the distribution of the last hidden layer's net
# inputs ``z`` (its Dense output) and of the normalised values batch norm passes on, for
# the trained network on a test batch (training mode: the batch's own statistics).
z, normalised = net.layer_outputs(X[test][:256], training=True)[-5:-3]  # Dense, BatchNorm
fig, ax = plt.subplots(figsize=(6, 3.6))
ax.hist(z.ravel(), bins=60, alpha=0.6, density=True, label="Dense output z")
ax.hist(normalised.ravel(), bins=60, alpha=0.6, density=True, label="after BatchNorm (gamma, beta)")
ax.set_title("the last hidden layer's net inputs")
ax.legend()
gamma, beta = net.get_weights()[-4:-2]
standard = (normalised - beta) / gamma  # batch norm's output before its scale and shift
print(
    f"before gamma and beta: per-unit mean within {np.abs(standard.mean(0)).max():.1e} of 0, "
    f"variance within {np.abs(standard.var(0) - 1).max():.1e} of 1"
)
fig.tight_layout()
