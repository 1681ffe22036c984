"""XOR with a 2-4-1 network: tanh hidden layer, sigmoid output with binary cross-entropy.

XOR is the classic problem a single perceptron cannot solve (the two classes are not
linearly separable); one hidden layer can. Full-batch gradient descent on the 4 points.

    python examples/xor.py                  # C++ engine if built, else the NumPy engine
    python examples/xor.py --backend numpy
"""

import argparse

import numpy as np

import mlpcore as mc


def default_backend():
    try:
        from mlpcore import _core  # noqa: F401

        return "native"
    except ImportError:
        return "numpy"


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--backend",
        choices=("native", "numpy"),
        default=None,
        help="engine (default: native when built, else numpy)",
    )
    args = p.parse_args()
    backend = args.backend or default_backend()

    X = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float64)
    y = np.array([0, 1, 1, 0], dtype=np.float64)

    net = mc.Sequential(
        [mc.Dense(2, 4), mc.Tanh(), mc.Dense(4, 1)],
        loss="binary_cross_entropy",
        seed=1,
        backend=backend,
    )
    losses = net.fit(X, y, epochs=2000, batch_size=4, lr=0.5)  # batch_size 4 = full batch
    print(
        f"backend={backend}: loss {losses[0]:.4f} after 1 epoch, "
        f"{losses[-1]:.4f} after {len(losses)}"
    )

    p_one = net.predict(X)[:, 0]  # probability of class 1
    for x, target, prob in zip(X.astype(int), y.astype(int), p_one):
        print(f"  {x[0]} xor {x[1]} = {target}   predicted {prob:.3f} -> {int(prob > 0.5)}")
    correct = int(np.sum((p_one > 0.5) == (y > 0.5)))
    print(f"{correct}/4 correct")


if __name__ == "__main__":
    main()
