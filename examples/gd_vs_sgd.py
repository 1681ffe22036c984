"""Full-batch gradient descent against minibatch SGD, step for step (the lecture's
algorithms 23.1 and 23.2), with fit(record_steps=True).

Gradient descent takes one step per pass over the data, on the exact gradient of the
training loss; minibatch SGD takes n / B steps per pass, each on the gradient of one batch
(a noisy estimate). Per step GD wins, per pass over the data (the cost) SGD wins.

    python examples/gd_vs_sgd.py [--backend numpy]
"""

import argparse

import numpy as np

import mlpcore as mc


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", choices=("native", "numpy"), default="native")
    args = p.parse_args()
    rng = np.random.default_rng(0)
    n, batch, epochs = 1024, 32, 8
    X = rng.normal(size=(n, 10))
    y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(int)  # a non-linear rule

    def model():
        return mc.Sequential(
            [mc.Dense(10, 32), mc.Tanh(), mc.Dense(32, 2)],
            loss="softmax_cross_entropy",
            seed=0,
            backend=args.backend,
        )

    gd, sgd = model(), model()
    h_gd = gd.fit(X, y, epochs=epochs, batch_size=n, lr=0.5, record_steps=True)  # 23.1
    h_sgd = sgd.fit(X, y, epochs=epochs, batch_size=batch, lr=0.5, record_steps=True)  # 23.2
    gd_steps = np.concatenate(h_gd.step_losses)
    sgd_steps = np.concatenate(h_sgd.step_losses)

    print(f"{n} samples; GD: 1 step per epoch, SGD: {n // batch} steps of {batch} per epoch")
    print("\nper step (the loss of the batch the step is about to use):")
    print(" step   GD (full batch)   SGD (one batch)")
    for k in range(epochs):
        print(f"{k:5d}   {gd_steps[k]:15.4f}   {sgd_steps[k]:15.4f}")
    print("\nper epoch (the epoch's loss: the mean of its step losses):")
    print("epoch  GD steps  GD loss   SGD steps  SGD loss")
    for e in range(epochs):
        print(
            f"{e + 1:5d}  {e + 1:8d}  {h_gd[e]:7.4f}   {(e + 1) * (n // batch):9d}  {h_sgd[e]:8.4f}"
        )
    print(
        f"\nafter {epochs} epochs: GD loss {gd.loss(X, y):.4f}, SGD loss {sgd.loss(X, y):.4f} "
        f"(accuracy {gd.evaluate(X, y)['accuracy']:.3f} vs {sgd.evaluate(X, y)['accuracy']:.3f})"
    )


if __name__ == "__main__":
    main()
