"""Digit recognition, the lecture's example: ``python -m mlpcore.demo``.

Trains a 64-128-64-10 ReLU network with softmax cross-entropy on scikit-learn's bundled
8x8 handwritten digits (1797 images, no download), with a stratified 60/20/20
train/validation/test split. Pixels (0..16) are scaled to [0, 1]. Every few epochs it
prints the training loss and the validation accuracy; at the end it keeps the weights of
the epoch with the best validation accuracy and reports the accuracy on the held-out
test set, which the model has never influenced (about 97%).

    python -m mlpcore.demo                    # C++ engine
    python -m mlpcore.demo --backend numpy    # the pure-NumPy reference engine
    python -m mlpcore.demo --epochs 60
"""

import argparse
import sys
import time

import numpy as np

import mlpcore as mc

SEED = 0


def load_data(seed=SEED):
    """(X_train, y_train, X_val, y_val, X_test, y_test), pixels in [0, 1]."""
    try:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit(
            "mlpcore.demo needs scikit-learn for its bundled digits data set.\n"
            "Install it with:  pip install scikit-learn\n"
            '(in a clone of mlpcore:  pip install ".[sklearn]")'
        )
    digits = load_digits()
    X = (digits.data / 16.0).astype(np.float32)  # 8x8 pixels with values 0..16
    y = digits.target
    X_rest, X_test, y_rest, y_test = train_test_split(
        X, y, test_size=0.2, stratify=y, random_state=seed
    )
    X_train, X_val, y_train, y_val = train_test_split(
        X_rest, y_rest, test_size=0.25, stratify=y_rest, random_state=seed
    )  # 0.25 * 0.8 = 0.2
    return X_train, y_train, X_val, y_val, X_test, y_test


def accuracy(net, X, y):
    """The fraction of rows of X whose argmax output is the label y."""
    return float(np.mean(np.argmax(net.predict(X), axis=1) == y))


def ascii_digit(x):
    """An 8x8 image (64 values in [0, 1]) as 8 lines of text."""
    shades = " .:-=+*#%@"
    img = x.reshape(8, 8)
    return [
        "".join(shades[min(int(v * (len(shades) - 1) + 0.5), len(shades) - 1)] * 2 for v in row)
        for row in img
    ]


def main(argv=None):
    """`python -m mlpcore.demo`: trains the lecture's digit-recognition MLP on
    scikit-learn's 8x8 digits with a train/validation/test split and prints the test
    accuracy. argv: the command-line arguments (None: sys.argv's); `--help` lists them."""
    p = argparse.ArgumentParser(
        prog="python -m mlpcore.demo", description="Train an MLP on the 8x8 handwritten digits."
    )
    p.add_argument(
        "--backend",
        choices=("native", "numpy"),
        default="native",
        help="engine: native (C++ on OpenBLAS, default) or numpy (reference twin)",
    )
    p.add_argument("--epochs", type=int, default=40, help="training epochs (default 40)")
    p.add_argument("--batch-size", type=int, default=32, help="minibatch size (default 32)")
    p.add_argument("--lr", type=float, default=0.1, help="SGD learning rate (default 0.1)")
    args = p.parse_args(argv)
    if args.epochs < 1:
        p.error("--epochs must be >= 1")

    X_train, y_train, X_val, y_val, X_test, y_test = load_data()
    print(
        f"digits: {len(X_train)} train / {len(X_val)} validation / {len(X_test)} test "
        f"images of 8x8 pixels, 10 classes"
    )

    try:
        net = mc.Sequential(
            [mc.Dense(64, 128), mc.ReLU(), mc.Dense(128, 64), mc.ReLU(), mc.Dense(64, 10)],
            loss="softmax_cross_entropy",
            dtype="float32",
            seed=SEED,
            backend=args.backend,
        )
    except ImportError as exc:
        sys.exit(f"{exc}\n(try: python -m mlpcore.demo --backend numpy)")
    print(
        f"network: 64-128-64-10 ReLU, softmax cross-entropy, backend={args.backend}, "
        f"SGD lr={args.lr}, batch {args.batch_size}, {args.epochs} epochs\n"
    )

    every = max(1, args.epochs // 10)
    best_acc, best_epoch, best_weights = -1.0, 0, None
    t0 = time.perf_counter()
    for epoch in range(1, args.epochs + 1):
        (loss,) = net.fit(X_train, y_train, epochs=1, batch_size=args.batch_size, lr=args.lr)
        val_acc = accuracy(net, X_val, y_val)
        if val_acc > best_acc:
            best_acc, best_epoch, best_weights = val_acc, epoch, net.get_weights()
        if epoch == 1 or epoch % every == 0 or epoch == args.epochs:
            print(f"epoch {epoch:3d}  train loss {loss:.4f}  validation accuracy {val_acc:6.2%}")
    seconds = time.perf_counter() - t0

    net.set_weights(best_weights)
    test_pred = np.argmax(net.predict(X_test), axis=1)
    test_acc = float(np.mean(test_pred == y_test))
    print(
        f"\ntrained in {seconds:.2f} s; kept the weights of epoch {best_epoch} "
        f"(best validation accuracy {best_acc:.2%})"
    )
    print(
        f"test accuracy: {test_acc:.2%} ({int(np.sum(test_pred == y_test))}/{len(y_test)} "
        "held-out images)"
    )

    wrong = np.flatnonzero(test_pred != y_test)
    if len(wrong):
        i = wrong[0]
        print(f"\na test image it gets wrong: label {y_test[i]}, predicted {test_pred[i]}")
        print("\n".join("  " + line for line in ascii_digit(X_test[i])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
