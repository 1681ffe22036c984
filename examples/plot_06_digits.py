"""
Handwritten digits
==================

The lecture's digit-recognition network: 8x8 grey-level images (64 inputs, scikit-learn's
bundled digits, no download), one hidden ReLU layer of 64 units, a softmax over the 10
classes, trained with minibatch SGD on 1200 images and tested on the other 597 (this is
what ``python -m mlpcore.demo`` runs, with a validation split as well).

The figures: the training curve, the confusion matrix on the test set (row: the true
digit, column: the predicted one), the test images the network gets wrong, and the
weights of a few hidden units drawn as 8x8 images (the patterns they respond to).
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import mlpcore as mc

digits = load_digits()
X, y = digits.data / 16.0, digits.target
order = np.random.default_rng(0).permutation(len(X))
train, test = order[:1200], order[1200:]

net = mc.Sequential(
    [mc.Dense(64, 64), mc.ReLU(), mc.Dense(64, 10)], loss="softmax_cross_entropy", seed=1
)
history = net.fit(
    X[train], y[train], epochs=30, batch_size=32, lr=0.1, validation_data=(X[test], y[test])
)
pred = net.predict_classes(X[test])
accuracy = np.mean(pred == y[test])
print(f"test accuracy {accuracy:.3f} ({np.sum(pred != y[test])} of {len(test)} wrong)")

confusion = np.zeros((10, 10), int)
np.add.at(confusion, (y[test], pred), 1)

fig, axes = plt.subplots(1, 2, figsize=(11, 4.4))
ax = axes[0]
ax.plot(np.arange(1, 31), history.history["loss"], label="training loss")
ax.plot(np.arange(1, 31), history.history["val_loss"], label="test loss")
ax.plot(np.arange(1, 31), 1 - np.array(history.history["val_accuracy"]), label="test error rate")
ax.set_yscale("log")
ax.set_xlabel("epoch")
ax.legend()
ax.set_title("training")
ax = axes[1]
ax.imshow(confusion, cmap="Blues")
for i in range(10):
    for j in range(10):
        if confusion[i, j]:
            ax.text(
                j,
                i,
                confusion[i, j],
                ha="center",
                va="center",
                fontsize=8,
                color="w" if confusion[i, j] > confusion.max() / 2 else "k",
            )
ax.set_xticks(range(10))
ax.set_yticks(range(10))
ax.set_xlabel("predicted digit")
ax.set_ylabel("true digit")
ax.set_title(f"confusion matrix, test accuracy {accuracy:.1%}")
fig.tight_layout()

# %%
# The misclassified test images, with the true label, the prediction and its probability.
wrong = np.flatnonzero(pred != y[test])
proba = net.predict_proba(X[test])
n = min(len(wrong), 16)
fig, axes = plt.subplots(2, 8, figsize=(12, 3.6))
for ax in axes.flat:
    ax.axis("off")
for ax, k in zip(axes.flat, wrong[:n]):
    ax.imshow(X[test][k].reshape(8, 8), cmap="gray_r")
    ax.set_title(f"true {y[test][k]}, said {pred[k]}\np = {proba[k, pred[k]]:.2f}", fontsize=8)
fig.suptitle("test images the network gets wrong")

# %%
# The first layer's weights: column ``j`` of ``W1`` (64 values) is what hidden unit ``j``
# correlates the image with, drawn as an 8x8 image.
W1 = net.get_weights()[0]
fig, axes = plt.subplots(2, 8, figsize=(12, 3.3))
for j, ax in enumerate(axes.flat):
    lim = np.abs(W1[:, j]).max()
    ax.imshow(W1[:, j].reshape(8, 8), cmap="RdBu_r", vmin=-lim, vmax=lim)
    ax.set_title(f"unit {j}", fontsize=8)
    ax.axis("off")
fig.suptitle("hidden units' incoming weights (red positive, blue negative)")
