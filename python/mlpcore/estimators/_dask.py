"""MLPClassifier / MLPRegressor fit on Dask collections (dask arrays, DataFrames, Series) on
the current dask.distributed client: solver="lbfgs", every function evaluation one
data-parallel pass over the partitions, which stay on the workers (mlpcore._dask). The
labels' classes are found on the cluster (a unique() of y, computed); every partition
encodes its own labels with the fitted LabelBinarizer."""

import functools

import numpy as np
from sklearn.base import is_classifier
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils import check_random_state

from .. import _dask
from . import _engine


def _binarized(y, n, binarizer):
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.shape != (n,):
        raise ValueError(f"y must be 1-D with one label per sample, got shape {y.shape}")
    return binarizer.transform(y)


def _regression(y, n, poisson):
    y = np.asarray(y, dtype=np.float64)
    y = y.reshape(n, -1) if y.ndim == 1 else y
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} samples but X has {n}")
    if not np.isfinite(y).all():
        raise ValueError("y contains NaN or infinity")
    if poisson and (y < 0).any():
        raise ValueError(f"MLPRegressor: loss='poisson' needs y >= 0, got a minimum of {y.min()}")
    return y


def _n_features(X):
    if hasattr(X, "columns"):
        return len(X.columns)
    if X.ndim != 2 or np.isnan(X.shape[1]):
        raise ValueError(f"X must be 2-D (n_samples, n_features), got shape {X.shape}")
    return int(X.shape[1])


def _dtype(X):
    if hasattr(X, "dtypes"):
        return np.result_type(*[np.dtype(d) for d in X.dtypes])
    return np.dtype(X.dtype)


def fit(est, X, y, sample_weight, incremental):
    cls = type(est).__name__
    if not _dask.is_dask(X):
        raise ValueError(f"{cls}: X must be a Dask collection when y or sample_weight is one")
    hidden = est._check_setup()
    if est.solver != "lbfgs":
        raise ValueError(
            f"{cls}: Dask input trains with solver='lbfgs' (each function evaluation is one "
            "data-parallel pass over the workers' partitions); for minibatch sgd/adam on "
            "Dask collections use mlpcore.Sequential.fit (local SGD with averaging)"
        )
    if incremental or est.warm_start:
        raise ValueError(f"{cls}: warm_start and partial_fit do not take Dask input")
    if getattr(est, "class_weight", None) is not None:
        raise ValueError(f"{cls}: class_weight with Dask input: pass the weights as sample_weight")
    client = _dask.client()  # (the error says how to get one)
    n_features = _n_features(X)
    if hasattr(X, "columns"):
        names = np.asarray(list(X.columns), dtype=object)
        if all(isinstance(c, str) for c in names):
            est.feature_names_in_ = names
        elif hasattr(est, "feature_names_in_"):
            del est.feature_names_in_
    est.n_features_in_ = n_features
    if is_classifier(est):  # MLPClassifier: the classes, found on the cluster
        labels = _dask.unique_labels(client, y)
        est._label_binarizer = LabelBinarizer().fit(labels)
        est.classes_ = est._label_binarizer.classes_
        n_outputs = 1 if len(est.classes_) <= 2 else len(est.classes_)
        targets = functools.partial(_binarized, binarizer=est._label_binarizer)
    else:
        n_outputs = int(y.shape[1]) if getattr(y, "ndim", 1) == 2 else 1
        targets = functools.partial(_regression, poisson=est.loss == "poisson")
    layer_units = [n_features] + hidden + [n_outputs]
    rs = check_random_state(est.random_state)
    est._initialize(np.empty((0, n_outputs)), layer_units, est._train_dtype(_dtype(X)), rs)
    net = est.model_
    parts = _dask.partitions(net, X, y, sample_weight, targets, drop_zero_weights=True)
    try:
        with est._threads():
            est._minimize(_engine.DaskObjective(net, parts, est.out_activation_, est.alpha))
    finally:
        parts.release()
    est.coefs_, est.intercepts_ = _engine.get_coefs(net)
    if not all(np.isfinite(w).all() for w in est.coefs_ + est.intercepts_):
        raise ValueError(
            "Solver produced non-finite parameter weights. The input data may"
            " contain large values and need to be preprocessed."
        )
    return est
