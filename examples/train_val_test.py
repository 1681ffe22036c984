"""The train / validation / test protocol (as in the lecture): fit on the training set,
choose what is not learned by gradient descent (here the hidden width and, by early
stopping, the number of epochs) on the validation set, and measure the chosen model once
on the test set, which played no part in any choice. Needs scikit-learn (for its bundled
8x8 digits).

    python examples/train_val_test.py [--backend numpy]
"""

import argparse

import numpy as np
from sklearn.datasets import load_digits

import mlpcore as mc


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("native", "numpy"), default="native")
    args = p.parse_args()
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    order = np.random.default_rng(0).permutation(len(X))
    test, val, train = order[:360], order[360:720], order[720:]  # 20% / 20% / 60%

    results = []
    for width in (16, 64):
        net = mc.Sequential(
            [mc.Dense(64, width), mc.ReLU(), mc.Dense(width, 10)],
            loss="softmax_cross_entropy",
            seed=0,
            backend=args.backend,
        )
        stop = mc.callbacks.EarlyStopping("val_loss", patience=5, restore_best_weights=True)
        history = net.fit(
            X[train],
            y[train],
            epochs=200,
            batch_size=32,
            optimizer=mc.Adam(1e-3),
            validation_data=(X[val], y[val]),
            callbacks=[stop],
        )
        scores = net.evaluate(X[val], y[val])
        print(
            f"width {width:3d}: {len(history)} epochs (best {stop.best_epoch + 1}), "
            f"validation loss {scores['loss']:.4f}, accuracy {scores['accuracy']:.3f}"
        )
        results.append((scores["loss"], width, net))

    _, width, best = min(results, key=lambda r: r[0])
    test_scores = best.evaluate(X[test], y[test])
    print(
        f"chosen on validation: width {width}; test accuracy {test_scores['accuracy']:.3f} "
        f"(measured once, on data no choice has seen)"
    )


if __name__ == "__main__":
    main()
