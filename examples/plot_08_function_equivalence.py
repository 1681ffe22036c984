"""
Function equivalence, and depth against width
==============================================

Many parameter vectors give the same function. In a layer of ``m`` tanh units:

* **permuting** the hidden units (their incoming weights and biases, and with them their
  outgoing weights) changes nothing: ``m!`` orders;
* **flipping the sign** of one unit's incoming weights and bias negates its output
  (tanh is odd: ``tanh(-z) = -tanh(z)``), which negated outgoing weights undo: ``2^m``
  sign patterns.

So every such network has at least ``2^m m!`` parameter vectors that compute exactly the
same function: 384 for ``m = 4``. Below, all 384 are built, loaded into one mlpcore
network in turn, and evaluated on the same inputs.
"""

import itertools
import math

import matplotlib.pyplot as plt
import numpy as np

import mlpcore as mc

m = 4
rng = np.random.default_rng(0)
net = mc.Sequential(
    [mc.Dense(1, m), mc.Tanh(), mc.Dense(m, 1)], loss="mse", dtype="float64", seed=0
)
W1, b1, W2, b2 = (rng.normal(0, 1.5, s) for s in [(1, m), (m,), (m, 1), (1,)])
x = np.linspace(-3, 3, 200)[:, None]
net.set_weights([W1, b1, W2, b2])
reference = net.predict(x)

outputs, params = [], []
for perm in itertools.permutations(range(m)):
    for signs in itertools.product([1.0, -1.0], repeat=m):
        s = np.array(signs)
        p = [W1[:, perm] * s, b1[list(perm)] * s, W2[list(perm), :] * s[:, None], b2]
        net.set_weights(p)
        outputs.append(net.predict(x))
        params.append(np.concatenate([a.ravel() for a in p]))
outputs, params = np.array(outputs), np.array(params)
n_distinct = len({tuple(np.round(v, 12)) for v in params})
print(f"2^m m! = {2**m * math.factorial(m)} parameter vectors, {n_distinct} distinct")
print(f"max |output - reference| over all of them: {np.max(np.abs(outputs - reference)):.1e}")

# flipping only the outgoing weights of unit 0 does change the function
net.set_weights([W1, b1, W2 * np.r_[-1.0, np.ones(m - 1)][:, None], b2])
changed = net.predict(x)
print(
    f"outgoing weights of one unit flipped alone: max change {np.max(np.abs(changed - reference)):.2f}"
)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.2))
ax = axes[0]
for out in outputs:
    ax.plot(x[:, 0], out[:, 0], color="C0", alpha=0.05, lw=3)
ax.plot(x[:, 0], reference[:, 0], "k--", lw=1, label=f"all {len(outputs)} networks (overlaid)")
ax.plot(x[:, 0], changed[:, 0], "C3", label="one unit's outgoing weights flipped only")
ax.set_xlabel("x")
ax.set_ylabel("network output")
ax.set_title(f"{len(outputs)} parameter vectors, one function")
ax.legend(fontsize=8)
ax = axes[1]
ax.scatter(params[:, 0], params[:, 1], s=15, c=np.arange(len(params)) // 2**m, cmap="viridis")
ax.set_xlabel("first parameter W1[0, 0]")
ax.set_ylabel("second parameter W1[0, 1]")
ax.set_title("...but the parameter vectors differ (two coordinates shown)")
fig.tight_layout()

# %%
# Depth against width
# -------------------
# Depth buys pieces cheaply. A one-hidden-layer ReLU network of width ``w`` on a line is
# piecewise linear with at most ``w + 1`` pieces; each further ReLU layer can *fold* the
# line, doubling the number of pieces. The tent map ``t(x) = 2 relu(x) - 4 relu(x - 1/2)``
# is two ReLU units; composing it 4 times gives a sawtooth with 8 teeth (16 pieces) on
# [0, 1], which a network of 4 hidden layers of 2 units represents *exactly*, with 25
# parameters set by hand below. A single hidden layer with the same 25 parameters has 8
# units (at most 9 pieces); trained with Adam, it cannot follow, and even 64 units
# (193 parameters) trained the same way follow only the first few teeth.
xs = np.linspace(0, 1, 1025)[:, None]
target = xs.copy()
for _ in range(4):
    target = 1 - np.abs(2 * target - 1)  # the tent map, once more per layer

fold = [mc.Dense(1, 2), mc.ReLU()]
for _ in range(3):
    fold += [mc.Dense(2, 2), mc.ReLU()]
deep = mc.Sequential(fold + [mc.Dense(2, 1)], loss="mse", dtype="float64", seed=0)
tent_in = [np.array([[1.0, 1.0]]), np.array([0.0, -0.5])]  # relu(x), relu(x - 1/2)
tent_next = [np.array([[2.0, 2.0], [-4.0, -4.0]]), np.array([0.0, -0.5])]  # t(x), t(x) - 1/2
deep.set_weights(tent_in + tent_next * 3 + [np.array([[2.0], [-4.0]]), np.array([0.0])])
n_deep = sum(w.size for w in deep.get_weights())
print(
    f"deep 4 x 2 (weights by hand): {n_deep} parameters, max |error| "
    f"{np.max(np.abs(deep.predict(xs) - target)):.1e}"
)


def wide(width):
    model = mc.Sequential(
        [mc.Dense(1, width), mc.ReLU(), mc.Dense(width, 1)], loss="mse", dtype="float64", seed=0
    )
    # the default zero biases put every unit's kink at x = 0: spread them over [0, 1]
    W1, b1, W2, b2 = model.get_weights()
    b1 = -W1[0] * np.random.default_rng(1).uniform(0, 1, width)
    model.set_weights([W1, b1, W2, b2])
    history = model.fit(xs, target, epochs=400, batch_size=64, optimizer=mc.Adam(1e-2))
    return model, history


fig, axes = plt.subplots(1, 2, figsize=(12, 4))
axes[0].plot(xs[:, 0], target[:, 0], "k", lw=4, alpha=0.25, label="target: 8 teeth")
axes[0].plot(
    xs[:, 0], deep.predict(xs)[:, 0], "C2--", label=f"4 layers of 2, by hand ({n_deep} parameters)"
)
for width, color in [(8, "C3"), (64, "C0")]:
    model, history = wide(width)
    n = sum(w.size for w in model.get_weights())
    print(f"wide 1 x {width} (trained): {n} parameters, final loss {history[-1]:.5f}")
    axes[0].plot(
        xs[:, 0],
        model.predict(xs)[:, 0],
        color=color,
        label=f"1 layer of {width}, trained ({n} parameters)",
    )
    axes[1].semilogy(history, color=color, label=f"1 layer of {width}")
axes[0].legend(fontsize=8, loc="lower right")
axes[0].set_title("one function, three networks")
axes[1].set_xlabel("epoch")
axes[1].set_ylabel("training loss (half squared error)")
axes[1].set_title("the wide networks' training (Adam, lr 0.01)")
axes[1].legend()
fig.tight_layout()
