"""
Full-batch gradient descent against minibatch SGD
=================================================

Gradient descent (the lecture's algorithm 23.1) takes one step per pass over the data,
on the exact gradient of the training loss; minibatch stochastic gradient descent
(algorithm 23.2) takes ``n / B`` steps per pass, each on the gradient of one batch of
``B`` samples, a noisy estimate of the full gradient. Per step, gradient descent wins;
per pass over the data (which is what a step costs, summed), SGD wins by far.

``fit(..., record_steps=True)`` keeps the loss of every step (``history.step_losses``,
one array per epoch): the loss of the batch each step is about to use.
"""

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

rng = np.random.default_rng(0)
n, batch, epochs = 1024, 32, 8
X = rng.normal(size=(n, 10))
y = (np.sin(X[:, 0]) + X[:, 1] * X[:, 2] > 0).astype(int)  # a non-linear rule


def model():
    return mc.Sequential(
        [mc.Dense(10, 32), mc.Tanh(), mc.Dense(32, 2)], loss="softmax_cross_entropy", seed=0
    )


gd, sgd = model(), model()  # the same initial weights
h_gd = gd.fit(X, y, epochs=epochs, batch_size=n, lr=0.5, record_steps=True)  # 23.1
h_sgd = sgd.fit(X, y, epochs=epochs, batch_size=batch, lr=0.5, record_steps=True)  # 23.2
gd_steps = np.concatenate(h_gd.step_losses)
sgd_steps = np.concatenate(h_sgd.step_losses)

print(f"{n} samples; GD: 1 step per epoch, SGD: {n // batch} steps of {batch} per epoch")
print("epoch  GD steps  GD loss   SGD steps  SGD loss")
for e in range(epochs):
    print(f"{e + 1:5d}  {e + 1:8d}  {h_gd[e]:7.4f}   {(e + 1) * (n // batch):9d}  {h_sgd[e]:8.4f}")
print(
    f"after {epochs} epochs: GD loss {gd.loss(X, y):.4f}, SGD loss {sgd.loss(X, y):.4f} "
    f"(accuracy {gd.evaluate(X, y)['accuracy']:.3f} vs {sgd.evaluate(X, y)['accuracy']:.3f})"
)

# %%
# Left: the first steps (GD's curve is smooth, SGD's batch losses are noisy estimates).
# Right: the loss against the passes over the data: in 8 epochs SGD has taken 256 steps.
fig, axes = plt.subplots(1, 2, figsize=(12, 4.3))
ax = axes[0]
ax.plot(np.arange(epochs), sgd_steps[:epochs], "s-", label=f"SGD, batch {batch}")
ax.plot(np.arange(epochs), gd_steps, "o-", lw=2, label="GD (full batch)")
ax.set_xlabel("step")
ax.set_ylabel("loss of the step's batch")
ax.set_title(f"the first {epochs} steps")
ax.legend()
ax = axes[1]
ax.plot(
    np.arange(len(sgd_steps)) / (n // batch),
    sgd_steps,
    lw=0.8,
    alpha=0.7,
    label=f"SGD: {n // batch} steps per epoch",
)
ax.plot(np.arange(len(gd_steps)), gd_steps, "o-", lw=2, label="GD: 1 step per epoch")
ax.set_xlabel("passes over the data (epochs)")
ax.set_ylabel("loss")
ax.set_title("per pass over the data (the cost)")
ax.legend()
fig.tight_layout()

# %%
# The same budget of 256 steps: GD needs 256 passes over the data, SGD 8.
gd_long = model()
h_long = gd_long.fit(X, y, epochs=256, batch_size=n, lr=0.5)
print(
    f"GD after 256 steps (256 epochs): loss {gd_long.loss(X, y):.4f}; "
    f"SGD after 256 steps (8 epochs): {sgd.loss(X, y):.4f}"
)
fig, ax = plt.subplots(figsize=(6, 3.8))
ax.plot(np.arange(1, 257), h_long, label="GD, 256 epochs")
ax.plot(np.arange(1, len(sgd_steps) + 1), sgd_steps, lw=0.8, alpha=0.7, label="SGD, 8 epochs")
ax.set_xlabel("step")
ax.set_ylabel("loss")
ax.set_title("the same number of steps")
ax.legend()
fig.tight_layout()
