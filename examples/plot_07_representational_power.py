"""
Representational power: networks that are classical models
==========================================================

Small networks without hidden layers are the classical linear models, trained by
gradient descent instead of their own solvers:

* one sigmoid output unit with binary cross-entropy is **logistic regression**;
* one tanh unit ``tanh(w . x + b)`` with targets in {-1, +1} is a **tanh binary
  classifier** (``tanh(z) = 2 sigmoid(2z) - 1``: a rescaled sigmoid unit, with the same
  kind of linear decision boundary);
* one linear unit with the hinge loss and an L2 penalty is a **linear support vector
  machine**;
* a **linear autoencoder** (``d -> k -> d``, identity activations, squared error) learns
  the same subspace as **principal component analysis** (PCA) with ``k`` components.

Each is trained with mlpcore and compared with scikit-learn's solver.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.svm import SVC

import mlpcore as mc

rng = np.random.default_rng(0)
X = np.vstack([rng.normal([-1, -0.5], 0.9, (100, 2)), rng.normal([1, 0.8], 0.9, (100, 2))])
y = np.repeat([0, 1], 100)

# logistic regression: one Dense layer, sigmoid + binary cross-entropy, full-batch Adam
logistic = mc.Sequential([mc.Dense(2, 1)], loss="binary_cross_entropy", dtype="float64", seed=0)
logistic.fit(X, y, epochs=3000, batch_size=len(X), optimizer=mc.Adam(0.05))
W, b = logistic.get_weights()
sk = LogisticRegression(C=np.inf, tol=1e-10, max_iter=10000).fit(X, y)
print(f"logistic regression: mlpcore w = {W[:, 0].round(4)}, b = {b.round(4)}")
print(f"                scikit-learn w = {sk.coef_[0].round(4)}, b = {sk.intercept_.round(4)}")

# tanh binary classifier: tanh output unit, targets -1/+1, half squared error
tanh_unit = mc.Sequential([mc.Dense(2, 1), mc.Tanh()], loss="mse", dtype="float64", seed=0)
tanh_unit.fit(X, 2 * y - 1, epochs=3000, batch_size=len(X), optimizer=mc.Adam(0.05))
Wt, bt = tanh_unit.get_weights()
acc_tanh = np.mean((tanh_unit.predict(X)[:, 0] > 0) == y)

# linear SVM: identity output, hinge loss, L2 penalty alpha: the objective
# mean(max(0, 1 - t z)) + alpha / (2 n) |w|^2 is SVC's |w|^2 / 2 + C sum(hinge) with C = 1/alpha
alpha = 10.0
svm = mc.Sequential([mc.Dense(2, 1)], loss="hinge", dtype="float64", seed=0)
svm.fit(X, 2 * y - 1, epochs=4000, batch_size=len(X), optimizer=mc.Adam(0.01), l2_alpha=alpha)
Ws, bs = svm.get_weights()
svc = SVC(kernel="linear", C=1 / alpha).fit(X, y)
print(
    f"linear SVM: mlpcore w = {Ws[:, 0].round(3)}, b = {bs.round(3)}; "
    f"SVC w = {svc.coef_[0].round(3)}, b = {svc.intercept_.round(3)}"
)

fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
t = np.linspace(-4, 4, 2)


def line(ax, w, b0, level=0.0, **kw):
    """Draws w . x + b0 = level."""
    ax.plot(t, (level - b0 - w[0] * t) / w[1], **kw)


for ax in axes:
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", s=12, edgecolors="k", linewidths=0.3)
    ax.set_xlim(-4, 4)
    ax.set_ylim(-3.5, 3.5)
    ax.set_aspect("equal")
ax = axes[0]
line(ax, W[:, 0], b[0], color="C2", lw=3, label="mlpcore: sigmoid unit")
line(ax, sk.coef_[0], sk.intercept_[0], color="k", ls="--", label="scikit-learn LogisticRegression")
ax.set_title("logistic regression = one sigmoid unit")
ax.legend(fontsize=8, loc="lower right")
ax = axes[1]
line(ax, Wt[:, 0], bt[0], color="C4", lw=3, label=f"tanh unit (accuracy {acc_tanh:.2f})")
line(ax, W[:, 0], b[0], color="C2", ls="--", label="sigmoid unit (logistic regression)")
ax.set_title("a tanh unit with targets -1/+1")
ax.legend(fontsize=8, loc="lower right")
ax = axes[2]
for level, ls in [(0, "-"), (1, ":"), (-1, ":")]:
    line(
        ax,
        Ws[:, 0],
        bs[0],
        level,
        color="C1",
        lw=2.5 if level == 0 else 1.5,
        ls=ls,
        label="mlpcore: hinge loss + L2" if level == 0 else None,
    )
    line(
        ax,
        svc.coef_[0],
        svc.intercept_[0],
        level,
        color="k",
        lw=1,
        ls="--",
        label="scikit-learn SVC(kernel='linear')" if level == 0 else None,
    )
sv = svc.support_
ax.scatter(
    X[sv, 0],
    X[sv, 1],
    s=40,
    facecolors="none",
    edgecolors="k",
    linewidths=0.6,
    label="SVC's support vectors",
)
ax.set_title(f"linear SVM, C = 1/alpha = {1 / alpha:g}: margins z = +-1")
ax.legend(fontsize=8, loc="lower right")
fig.tight_layout()

# %%
# PCA as a linear autoencoder. A 2-D cloud is compressed through one linear unit and
# decoded back; with the squared error, the best such map projects every point onto the
# first principal axis. The autoencoder's decoder direction and PCA's first component
# coincide, and so do their reconstructions.
C = np.array([[3.0, 1.2], [1.2, 1.0]])
Z = rng.multivariate_normal([0, 0], C, 300)
ae = mc.Sequential([mc.Dense(2, 1), mc.Dense(1, 2)], loss="mse", dtype="float64", seed=0)
ae.fit(Z, Z, epochs=400, batch_size=32, optimizer=mc.Adam(0.01))
decoder = ae.get_weights()[2][0]  # W2 is (1, 2): the direction reconstructions lie on
direction = decoder / np.linalg.norm(decoder)
pca = PCA(1).fit(Z)
cosine = abs(direction @ pca.components_[0])
rec_ae, rec_pca = ae.predict(Z), pca.inverse_transform(pca.transform(Z))
print(f"|cos| between the decoder direction and PCA's first component: {cosine:.6f}")
print(
    f"reconstruction error: autoencoder {np.mean((rec_ae - Z) ** 2):.5f}, "
    f"PCA {np.mean((rec_pca - Z) ** 2):.5f}"
)

# and in 8 dimensions with 3 components: the principal angles between the subspaces
D = rng.normal(size=(500, 8)) @ rng.normal(size=(8, 8))
D -= D.mean(axis=0)
ae8 = mc.Sequential([mc.Dense(8, 3), mc.Dense(3, 8)], loss="mse", dtype="float64", seed=0)
ae8.fit(D, D, epochs=400, batch_size=50, optimizer=mc.Adam(0.01))
Q1 = np.linalg.qr(ae8.get_weights()[2].T)[0]  # (8, 3): the decoder's column space
Q2 = np.linalg.qr(PCA(3).fit(D).components_.T)[0]
print(
    "8-D, 3 components: cosines of the principal angles between the autoencoder's and "
    f"PCA's subspaces {np.linalg.svd(Q1.T @ Q2, compute_uv=False).round(5)}"
)

fig, ax = plt.subplots(figsize=(6.5, 5))
ax.scatter(Z[:, 0], Z[:, 1], s=8, color="0.7", label="data")
ax.scatter(rec_ae[:, 0], rec_ae[:, 1], s=10, color="C1", label="autoencoder reconstructions")
s = np.linspace(-5, 5, 2)
ax.plot(s * pca.components_[0, 0], s * pca.components_[0, 1], "k--", label="PCA: 1st component")
ax.set_aspect("equal")
ax.legend(fontsize=8)
ax.set_title(f"2 -> 1 -> 2 linear autoencoder vs PCA (|cos| = {cosine:.4f})")
fig.tight_layout()
