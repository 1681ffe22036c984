"""
Early stopping and the train / validation / test protocol
=========================================================

The protocol of the lecture: fit on the training set; choose what gradient descent does
not learn (here the hidden width and, by early stopping, the number of epochs) on the
validation set; and measure the chosen model once on the test set, which played no part
in any choice.

The training loss keeps falling; the validation loss falls, then rises as the network
starts fitting the training set's noise. ``EarlyStopping("val_loss", patience=k,
restore_best_weights=True)`` stops ``k`` epochs after the best validation loss and puts
that epoch's weights back. The test curve is drawn here for the lecture only (a callback
records it after each epoch); no choice looks at it. Data: scikit-learn's bundled 8x8
handwritten digits, with only 300 training images and label noise to make the network
overfit.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits

import mlpcore as mc

X, y = load_digits(return_X_y=True)
X = X / 16.0
order = np.random.default_rng(0).permutation(len(X))
test, val, train = order[:500], order[500:900], order[900:1200]
y_train = y[train].copy()
noisy = np.random.default_rng(1).random(len(train)) < 0.2  # 20% of the labels made wrong
y_train[noisy] = np.random.default_rng(2).integers(0, 10, noisy.sum())


class TestCurve(mc.callbacks.Callback):
    """Records the test loss after every epoch, for the figure only."""

    def on_train_begin(self, logs=None):
        self.losses = []

    def on_epoch_end(self, epoch, logs=None):
        self.losses.append(self.model.loss(X[test], y[test]))


def model(width):
    return mc.Sequential(
        [mc.Dense(64, width), mc.ReLU(), mc.Dense(width, 10)], loss="softmax_cross_entropy", seed=0
    )


results = []
fig, axes = plt.subplots(1, 2, figsize=(12, 4.3), sharey=True)
for ax, width in zip(axes, (32, 256)):
    net = model(width)
    stop = mc.callbacks.EarlyStopping("val_loss", patience=20, restore_best_weights=True, verbose=0)
    history = net.fit(
        X[train],
        y_train,
        epochs=300,
        batch_size=32,
        optimizer=mc.Adam(3e-3),
        validation_data=(X[val], y[val]),
        callbacks=[stop],
    )
    scores = net.evaluate(X[val], y[val])
    best = stop.best_epoch
    print(
        f"width {width:3d}: stopped after {len(history)} epochs, best epoch {best + 1}: "
        f"validation loss {scores['loss']:.4f}, accuracy {scores['accuracy']:.3f}"
    )
    results.append((scores["loss"], width, net))
    # for the figure: the same fit (same seed, so the same first epochs) without stopping
    curve = TestCurve()
    full = model(width).fit(
        X[train],
        y_train,
        epochs=150,
        batch_size=32,
        optimizer=mc.Adam(3e-3),
        validation_data=(X[val], y[val]),
        callbacks=[curve],
    )
    epochs = np.arange(1, len(full) + 1)
    ax.plot(epochs, full.history["loss"], label="training (20% wrong labels)")
    ax.plot(epochs, full.history["val_loss"], label="validation")
    ax.plot(epochs, curve.losses, ":", label="test (not used for any choice)")
    ax.axvline(best + 1, color="k", ls="--", lw=1, label=f"best validation: epoch {best + 1}")
    ax.axvline(
        len(history), color="0.5", ls=":", lw=1, label=f"early stopping stops: epoch {len(history)}"
    )
    ax.set_xlabel("epoch")
    ax.set_title(f"hidden width {width}")
    ax.legend(fontsize=8)
axes[0].set_ylabel("cross-entropy")
axes[0].set_ylim(0, 2.5)
fig.tight_layout()

# %%
# The choice and the one measurement on the test set.
_, width, best_net = min(results, key=lambda r: r[0])
test_scores = best_net.evaluate(X[test], y[test])
print(
    f"chosen on validation: width {width}; test accuracy {test_scores['accuracy']:.3f} "
    f"(measured once, on data no choice has seen)"
)
