"""scikit-learn in: mlpcore.from_sklearn(fitted MLPClassifier or MLPRegressor).

scikit-learn is not imported: the estimator's fitted attributes are read (`coefs_`,
`intercepts_`, activation, `out_activation_`). Its network is Dense layers with one hidden
activation between them, and an output activation that fixes mlpcore's loss:

    activation     identity -> Identity, logistic -> Sigmoid, tanh -> Tanh, relu -> ReLU
    `out_activation_`
      softmax      multi-class MLPClassifier   -> "softmax_cross_entropy": predict(X) equals
                                                   predict_proba(X) (columns in `classes_` order)
      logistic     binary MLPClassifier        -> "binary_cross_entropy" with one output:
                                                   predict(X)[:, 0] equals predict_proba(X)[:, 1]
                   multi-label MLPClassifier   -> "binary_cross_entropy", one output per label:
                                                   predict(X) equals predict_proba(X)
      identity     MLPRegressor                -> "mse": predict(X) equals its predict(X)
                                                   (shaped (n, n_outputs) also for one output)
      exp          MLPRegressor(loss="poisson") -> "poisson"
"""

from . import layers as _layers
from .sequential import Sequential

ACTIVATIONS = {"identity": "Identity", "logistic": "Sigmoid", "tanh": "Tanh", "relu": "ReLU"}
OUTPUTS = {
    "softmax": "softmax_cross_entropy",
    "logistic": "binary_cross_entropy",
    "identity": "mse",
    "exp": "poisson",
}


def from_sklearn(estimator, dtype=None, seed=None, backend="native"):
    """An mlpcore.Sequential computing the fitted scikit-learn MLP `estimator`.

    dtype : "float32"/"float64", or None for the dtype of the estimator's `coefs_`.
    seed, backend : as for Sequential. See the module doc for how the outputs correspond.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.neural_network import MLPClassifier
    >>> import mlpcore as mc
    >>> X = np.random.default_rng(0).normal(size=(100, 4))
    >>> y = (X[:, 0] > 0).astype(int)
    >>> clf = MLPClassifier(hidden_layer_sizes=(8,), solver="lbfgs", random_state=0).fit(X, y)
    >>> net = mc.from_sklearn(clf)
    >>> bool(np.allclose(net.predict(X)[:, 0], clf.predict_proba(X)[:, 1]))
    True
    """
    name = type(estimator).__name__
    if not all(hasattr(estimator, a) for a in ("coefs_", "intercepts_", "out_activation_")):
        raise ValueError(
            f"estimator must be a fitted scikit-learn MLPClassifier or MLPRegressor "
            f"(with coefs_, intercepts_ and out_activation_), got {name}"
        )
    if getattr(estimator, "batch_norm", False):  # mlpcore's own estimators
        raise ValueError(
            f"{name}(batch_norm=True): coefs_ and intercepts_ leave out the "
            "batch-norm layers; its trained network is estimator.model_ (an "
            "mlpcore.Sequential: save, export or copy it directly)"
        )
    hidden = ACTIVATIONS.get(estimator.activation)
    if hidden is None:
        raise ValueError(
            f"{name}.activation={estimator.activation!r} has no mlpcore layer; "
            f"supported: {', '.join(ACTIVATIONS)}"
        )
    loss = OUTPUTS.get(estimator.out_activation_)
    if loss is None:
        raise ValueError(
            f"{name}.out_activation_={estimator.out_activation_!r} (e.g. "
            "loss='poisson') has no mlpcore loss; supported output activations: "
            f"{', '.join(OUTPUTS)}"
        )
    coefs, intercepts = list(estimator.coefs_), list(estimator.intercepts_)
    layers, weights = [], []
    for i, (W, b) in enumerate(zip(coefs, intercepts)):
        if i:
            layers.append(getattr(_layers, hidden)())
        layers.append(_layers.Dense(W.shape[0], W.shape[1]))
        weights += [W, b]
    dtype = coefs[0].dtype.name if dtype is None else dtype
    net = Sequential(layers, loss=loss, dtype=dtype, seed=seed, backend=backend)
    net.set_weights(weights)
    return net
