"""Quantized copies of fitted mlpcore estimators (mlpcore.quantize(estimator, X)): the same
estimator with model_ an int8 QuantizedSequential, so predict, predict_proba,
predict_log_proba and score run on the int8 kernels. They cannot be refitted: fit and
partial_fit raise TypeError (fit the float estimator and quantize it again). coefs_ and
intercepts_ stay the float model's. Imports scikit-learn (via mlpcore.estimators)."""

import copy

import numpy as np
import scipy.sparse as sp
from sklearn.utils.validation import check_is_fitted, validate_data

from .estimators import MLPClassifier, MLPRegressor


def _no_fit(self, *args, **kwargs):
    raise TypeError(
        f"{type(self).__name__} is an int8 copy of a fitted estimator and cannot "
        "be trained: fit the float estimator and quantize it again "
        "(mlpcore.quantize(estimator, X_calibration))"
    )


class QuantizedMLPClassifier(MLPClassifier):
    """A fitted MLPClassifier whose model_ is int8 (mlpcore.quantize); fit raises TypeError."""

    fit = _no_fit

    def partial_fit(self, *args, **kwargs):
        _no_fit(self)


class QuantizedMLPRegressor(MLPRegressor):
    """A fitted MLPRegressor whose model_ is int8 (mlpcore.quantize); fit raises TypeError."""

    fit = _no_fit

    def partial_fit(self, *args, **kwargs):
        _no_fit(self)


def quantize_estimator(est, X_calibration, backend, quantize):
    """A quantized copy of est; quantize is mlpcore.quantize for its model_."""
    if isinstance(est, (QuantizedMLPClassifier, QuantizedMLPRegressor)):
        raise TypeError(f"{type(est).__name__} is already quantized")
    if isinstance(est, MLPClassifier):
        cls = QuantizedMLPClassifier
    elif isinstance(est, MLPRegressor):
        cls = QuantizedMLPRegressor
    else:
        raise TypeError(
            f"model must be an mlpcore Sequential or a fitted mlpcore MLPClassifier/"
            f"MLPRegressor, got {type(est).__name__}"
        )
    check_is_fitted(est)
    X = validate_data(
        est,
        X_calibration,
        accept_sparse=["csr", "csc"],
        reset=False,
        dtype=(np.float64, np.float32),
    )
    if sp.issparse(X):
        X = X.toarray()
    q = copy.copy(est)
    q.__class__ = cls
    for name in ("_best", "_optimizer_state"):  # training leftovers, of no use to predict
        q.__dict__.pop(name, None)
    q.model_ = quantize(est.model_, X, backend=backend)
    return q
