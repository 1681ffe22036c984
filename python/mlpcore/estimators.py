"""scikit-learn estimators on top of mlpcore: MLPClassifier and MLPRegressor.

    from mlpcore.estimators import MLPClassifier, MLPRegressor

Needs scikit-learn (``pip install "mlpcore[sklearn]"``); ``import mlpcore`` does not import
this module. Both estimators follow scikit-learn's conventions: every constructor argument
is stored as given and checked in ``fit``; ``fit`` builds an :class:`mlpcore.Sequential`
(kept as ``model_``) and trains it with :meth:`mlpcore.Sequential.fit`, so the estimators
work in Pipelines, ``clone``, ``GridSearchCV``, ``cross_val_score`` and pickling.

How the parameters map onto the network::

    hidden_layer_sizes=(h1, h2), activation="relu", batch_norm=True, dropout=0.2
      -> Sequential([Dense(n_features, h1), BatchNorm(h1), ReLU(), Dropout(0.2),
                     Dense(h1, h2),         BatchNorm(h2), ReLU(), Dropout(0.2),
                     Dense(h2, n_outputs)], loss=..., dtype=dtype, seed=..., backend=backend)
    max_iter, batch_size, lr, shuffle, weight_decay, optimizer, momentum
      -> Sequential.fit(epochs=max_iter, ...)
    early_stopping, validation_fraction, n_iter_no_change
      -> Sequential.fit(validation_data=<held-out split>, patience=n_iter_no_change)
"""
import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.model_selection import train_test_split
from sklearn.utils.multiclass import check_classification_targets, type_of_target
from sklearn.utils.validation import check_is_fitted, column_or_1d

from . import _checks
from .layers import BatchNorm, Dense, Dropout, Identity, ReLU, Sigmoid, Tanh
from .sequential import BACKENDS, Sequential

try:
    from sklearn.utils.validation import validate_data as _validate_data
except ImportError:  # scikit-learn < 1.6
    def _validate_data(estimator, *args, **kwargs):
        return estimator._validate_data(*args, **kwargs)

__all__ = ["MLPClassifier", "MLPRegressor"]

# activation name -> hidden-layer class; "logistic" is scikit-learn's name for the sigmoid
ACTIVATIONS = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid, "logistic": Sigmoid,
               "identity": Identity}

_PARAMS_DOC = """
    Parameters
    ----------
    hidden_layer_sizes : int or sequence of int, default=(100,)
        Width of each hidden layer; the i-th entry adds ``Dense(n_in, width)`` (plus the
        optional BatchNorm, the activation and the optional Dropout). ``()`` gives a
        network without hidden layers (a linear/logistic model).
    activation : {"relu", "tanh", "sigmoid", "logistic", "identity"}, default="relu"
        Activation after every hidden layer: ``ReLU()``, ``Tanh()``, ``Sigmoid()``
        ("logistic" is scikit-learn's name for it) or ``Identity()``. Dense weights are
        initialised He-uniform before ReLU and Glorot-uniform otherwise.
    batch_norm : bool, default=False
        If True, each hidden block is Dense -> ``BatchNorm(width)`` -> activation
        (PyTorch conventions; needs batch_size >= 2 and at least 2 training samples).
    dropout : float in [0, 1), default=0.0
        If > 0, a ``Dropout(dropout)`` layer (inverted dropout) follows every hidden
        activation. Predictions are made in evaluation mode (no dropout).
    weight_decay : float >= 0, default=0.0
        L2 regularisation of the Dense weight matrices (not biases or BatchNorm), passed
        to ``Sequential.fit``: ``weight_decay * W`` is added to their gradient (plain SGD
        steps ``W -= lr * (dL/dW + weight_decay * W)``).
        scikit-learn's ``alpha`` penalises ``alpha / (2 n_samples) ||W||^2`` instead.
    optimizer : {"sgd", "adam"}, default="sgd"
        ``Sequential.fit(optimizer=...)``: torch.optim.SGD's or torch.optim.Adam's update
        (Adam with betas (0.9, 0.999) and eps 1e-8; it usually wants lr around 1e-3).
    momentum : float in [0, 1), default=0.0
        Momentum of "sgd" (0 is plain SGD); must be 0 with "adam".
    batch_size : int >= 1, default=32
        Minibatch size of stochastic gradient descent; ``>= n_samples`` is full-batch
        gradient descent.
    lr : float > 0, default=0.01
        Learning rate of the optimizer (constant, no schedule).
    max_iter : int >= 1, default=200
        Number of epochs (``Sequential.fit(epochs=max_iter)``), each visiting every
        training sample once; fewer are run with early stopping.
    shuffle : bool, default=True
        Shuffle the samples every epoch, in an order keyed by (seed, epoch).
    early_stopping : bool, default=False
        If True, ``validation_fraction`` of the training data is held out (a split drawn
        from the seed, stratified for single-label classification when every class has
        enough samples) and passed to ``Sequential.fit`` as ``validation_data`` with
        ``patience=n_iter_no_change``: training stops once the validation *loss* has not
        improved for that many epochs. The weights of the epoch with the lowest validation
        loss are kept, also when max_iter ends training first.
    validation_fraction : float in (0, 1), default=0.1
        Fraction of the training data held out when ``early_stopping`` is True.
    n_iter_no_change : int >= 1, default=10
        Patience of early stopping, in epochs.
    random_state : int, RandomState instance or None, default=None
        Seed of the network (initial weights, shuffling, dropout masks) and of the
        early-stopping split. None draws a fresh seed at every ``fit``; a RandomState
        draws the seed from it. The seed used is ``model_.seed``. Both backends give the
        same results for the same seed (up to rounding).
    dtype : {"float32", "float64"}, default="float32"
        Precision the network computes in. Predictions are returned as float64.
    backend : {"native", "numpy"}, default="native"
        ``"native"`` runs the C++/OpenBLAS engine, ``"numpy"`` the pure-NumPy reference
        twin (slower; needs no compiled extension).
    verbose : bool, default=False
        Print the training loss (and validation loss/score) after every epoch, through
        ``Sequential.fit``'s ``callback``.
"""

_ATTRS_DOC = """
    model_ : mlpcore.Sequential
        The trained network.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Feature names, when X had string column names (e.g. a pandas DataFrame).
    n_outputs_ : int
        Width of the network's output layer.
    loss_curve_ : list of float
        Training loss of every epoch run (mean over the epoch's batches, without the
        weight-decay term).
    n_iter_ : int
        Number of epochs run.
    validation_loss_curve_ : list of float
        Only with early_stopping: the validation loss after every epoch.
    validation_scores_ : list of float
        Only with early_stopping: the validation score after every epoch ({score}).
    best_validation_loss_ : float
        Only with early_stopping: the lowest validation loss; ``model_`` holds the weights
        of that epoch.
"""


def _is_bool(value):
    return isinstance(value, (bool, np.bool_))


class _BaseMLP(BaseEstimator):
    """Shared parameters, validation and training of MLPClassifier and MLPRegressor."""

    def __init__(self, hidden_layer_sizes=(100,), activation="relu", *, batch_norm=False,
                 dropout=0.0, weight_decay=0.0, optimizer="sgd", momentum=0.0, batch_size=32,
                 lr=0.01, max_iter=200, shuffle=True, early_stopping=False, validation_fraction=0.1,
                 n_iter_no_change=10, random_state=None, dtype="float32", backend="native",
                 verbose=False):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.optimizer = optimizer
        self.momentum = momentum
        self.batch_size = batch_size
        self.lr = lr
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.random_state = random_state
        self.dtype = dtype
        self.backend = backend
        self.verbose = verbose

    # ---- parameter checks ---------------------------------------------------------------
    def _check_params(self):
        """The parameters, checked and normalised (ValueError naming the bad one)."""
        sizes = self.hidden_layer_sizes
        if isinstance(sizes, numbers.Integral) and not _is_bool(sizes):
            sizes = (sizes,)
        try:
            sizes = tuple(sizes)
        except TypeError:
            raise ValueError("hidden_layer_sizes must be an int or a sequence of ints, got "
                             f"{self.hidden_layer_sizes!r}") from None
        for s in sizes:
            if _is_bool(s) or not isinstance(s, numbers.Integral) or s < 1:
                raise ValueError("hidden_layer_sizes must hold positive integers, got "
                                 f"{self.hidden_layer_sizes!r}")
        sizes = tuple(int(s) for s in sizes)
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"unknown activation {self.activation!r}; known activations: "
                             f"{', '.join(ACTIVATIONS)}")
        for name in ("batch_norm", "shuffle", "early_stopping", "verbose"):
            if not _is_bool(getattr(self, name)):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        dropout = self.dropout
        if (_is_bool(dropout) or not isinstance(dropout, numbers.Real)
                or not 0 <= dropout < 1):
            raise ValueError(f"dropout must be a number in [0, 1), got {dropout!r}")
        frac = self.validation_fraction
        if _is_bool(frac) or not isinstance(frac, numbers.Real) or not 0 < frac < 1:
            raise ValueError(f"validation_fraction must be a number in (0, 1), got {frac!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"unknown backend {self.backend!r}; known backends: "
                             f"{', '.join(BACKENDS)}")
        rs = self.random_state
        if rs is None:
            seed = _checks.check_seed(None)
        elif isinstance(rs, numbers.Integral) and not _is_bool(rs) and 0 <= rs < 1 << 64:
            seed = int(rs)
        elif isinstance(rs, np.random.RandomState):
            seed = int(rs.randint(np.iinfo(np.int32).max))
        else:
            raise ValueError("random_state must be None, an integer in [0, 2**64) or a numpy "
                             f"RandomState, got {rs!r}")
        return {
            "sizes": sizes,
            "dropout": float(dropout),
            "weight_decay": _checks.check_nonnegative_real("weight_decay", self.weight_decay),
            "optimizer": _checks.check_optimizer(self.optimizer, self.momentum, False,
                                                 (0.9, 0.999), 1e-8),
            "batch_size": _checks.check_positive_int("batch_size", self.batch_size),
            "lr": _checks.check_positive_real("lr", self.lr),
            "max_iter": _checks.check_positive_int("max_iter", self.max_iter),
            "n_iter_no_change": _checks.check_positive_int("n_iter_no_change",
                                                           self.n_iter_no_change),
            "dtype": _checks.check_dtype(self.dtype),
            "seed": seed,
        }

    def _build(self, p, n_features, n_outputs, loss):
        layers, width = [], n_features
        for size in p["sizes"]:
            layers.append(Dense(width, size))
            if self.batch_norm:
                layers.append(BatchNorm(size))
            layers.append(ACTIVATIONS[self.activation]())
            if p["dropout"] > 0:
                layers.append(Dropout(p["dropout"]))
            width = size
        layers.append(Dense(width, n_outputs))
        return Sequential(layers, loss=loss, dtype=p["dtype"], seed=p["seed"],
                          backend=self.backend)

    # ---- training -----------------------------------------------------------------------
    def _train(self, p, X, Y, y_raw, n_outputs, loss, stratify, score, fitted):
        """Builds a network with n_outputs outputs and trains it on X and the encoded
        targets Y (as Sequential.fit takes them for `loss`). With early stopping,
        score(outputs, y_true) rates the network's outputs on the validation part of y_raw
        (the original targets). Sets the fitted attributes (and those in the dict `fitted`)
        once training succeeded."""
        if self.batch_norm and X.shape[0] < 2:
            raise ValueError("batch_norm=True needs at least 2 training samples (BatchNorm "
                             f"normalises by a batch variance), got {X.shape[0]} sample")
        model = self._build(p, X.shape[1], n_outputs, loss)
        validation_data = patience = None
        val_scores = []
        best = {"loss": np.inf}  # the best epoch's validation loss, weights and state
        if self.early_stopping:
            idx = np.arange(X.shape[0])
            if stratify is not None:
                # stratify only when every class can be represented on both sides
                n_val = int(np.ceil(self.validation_fraction * X.shape[0]))
                counts = np.bincount(stratify)
                if counts.min() < 2 or not len(counts) <= n_val <= X.shape[0] - len(counts):
                    stratify = None
            try:
                tr, va = train_test_split(
                    idx, test_size=self.validation_fraction,
                    random_state=np.random.RandomState(p["seed"] % (1 << 32)),
                    stratify=stratify)
            except ValueError as exc:
                raise ValueError(f"early_stopping: cannot hold out validation_fraction="
                                 f"{self.validation_fraction} of {X.shape[0]} samples as a "
                                 f"validation set: {exc}") from None
            X, Y, X_val, Y_val, y_val = X[tr], Y[tr], X[va], Y[va], y_raw[va]
            validation_data, patience = (X_val, Y_val), p["n_iter_no_change"]

        def callback(net, logs):
            line = f"Epoch {logs['epoch'] + 1}/{p['max_iter']}: loss = {logs['loss']:.6f}"
            if validation_data is not None:
                if logs["val_loss"] < best["loss"]:
                    best.update(loss=logs["val_loss"], weights=net.get_weights(),
                                state=net.get_state())
                out = net.predict(X_val).astype(np.float64)
                val_scores.append(float(score(out, y_val)) if np.isfinite(out).all()
                                  else float("nan"))
                line += (f", validation loss = {logs['val_loss']:.6f}, validation score = "
                         f"{val_scores[-1]:.6f}")
            if self.verbose:
                print(line, flush=True)

        losses = model.fit(X, Y, epochs=p["max_iter"], batch_size=p["batch_size"],
                           lr=p["lr"], shuffle=self.shuffle, weight_decay=p["weight_decay"],
                           optimizer=p["optimizer"]["name"], momentum=p["optimizer"]["momentum"],
                           validation_data=validation_data, patience=patience,
                           callback=callback)
        if "weights" in best:
            # Sequential.fit restores the best epoch when patience runs out; do it as well
            # when max_iter ran out first
            model.set_weights(best["weights"])
            model.set_state(best["state"])
        # everything is assigned after training succeeded
        for name in ("validation_loss_curve_", "validation_scores_", "best_validation_loss_"):
            self.__dict__.pop(name, None)
        self.__dict__.update(fitted)
        self.model_ = model
        self.n_outputs_ = model.n_outputs_
        self.loss_curve_ = losses
        self.n_iter_ = len(losses)
        if validation_data is not None:
            self.validation_loss_curve_ = list(model.history_["val_loss"])
            self.validation_scores_ = val_scores
            self.best_validation_loss_ = float(min(self.validation_loss_curve_))
        return self

    def _outputs(self, X):
        """Output activations of the fitted network for X, float64 (n_samples, n_outputs)."""
        check_is_fitted(self)
        X = _validate_data(self, X, reset=False, dtype=self.model_.dtype)
        return self.model_.predict(X).astype(np.float64)


def _proba(outputs, multilabel, classes):
    """Network outputs -> predict_proba: [1 - p, p] for a binary problem."""
    if not multilabel and len(classes) == 2:
        return np.hstack([1 - outputs, outputs])
    return outputs


def _labels(proba, multilabel, classes):
    """predict_proba -> predict."""
    if multilabel:
        return (proba > 0.5).astype(int)
    return classes[np.argmax(proba, axis=1)]


class MLPClassifier(ClassifierMixin, _BaseMLP):
    __doc__ = """Multilayer-perceptron classifier trained by mlpcore (minibatch SGD or Adam).

    Binary targets train one sigmoid output with ``binary_cross_entropy``; more than two
    classes train one output per class with ``softmax_cross_entropy``; a 2-D 0/1
    indicator matrix y is multi-label classification, one sigmoid output per column with
    ``binary_cross_entropy``. Labels may be any sortable values (ints, strings, ...);
    ``predict`` returns them.
    """ + _PARAMS_DOC + """
    Attributes
    ----------
    classes_ : ndarray
        The class labels (``np.unique(y)``); for multi-label y, ``arange(n_columns)``.""" \
        + _ATTRS_DOC.format(score="accuracy; subset accuracy for multi-label") + """
    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from mlpcore.estimators import MLPClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = MLPClassifier((64,), lr=0.1, max_iter=30, random_state=0).fit(X / 16, y)
    >>> clf.predict(X[:3] / 16)
    array([0, 1, 2])
    """

    def fit(self, X, y):
        """Trains a new network on X (n_samples, n_features) and the labels y
        ((n_samples,) of any labels, or a (n_samples, n_labels) 0/1 indicator matrix).
        Returns self."""
        p = self._check_params()
        X, y = _validate_data(self, X, y, multi_output=True, dtype=p["dtype"])
        if sp.issparse(y):
            y = y.toarray()
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if y.ndim == 2:
            if type_of_target(y) != "multilabel-indicator" or not np.isin(y, (0, 1)).all():
                raise ValueError(
                    "a 2-D y must be a multi-label indicator matrix of 0s and 1s (one column "
                    f"per label); got type {type_of_target(y)!r}. Multi-class multi-output "
                    "targets are not supported.")
            fitted = {"_multilabel": True, "classes_": np.arange(y.shape[1])}
            Y = np.ascontiguousarray(y, dtype=p["dtype"])
            loss, stratify, n_outputs = "binary_cross_entropy", None, y.shape[1]
        else:
            check_classification_targets(y)
            classes, encoded = np.unique(y, return_inverse=True)
            if len(classes) < 2:
                raise ValueError(f"{type(self).__name__} needs at least 2 classes to train, "
                                 f"but y has 1 class: {classes!r}")
            fitted = {"_multilabel": False, "classes_": classes}
            if len(classes) == 2:
                Y, loss, n_outputs = encoded.astype(p["dtype"]), "binary_cross_entropy", 1
            else:
                Y, loss, n_outputs = encoded, "softmax_cross_entropy", len(classes)
            stratify = encoded
        multilabel, classes = fitted["_multilabel"], fitted["classes_"]

        def score(outputs, y_true):
            return accuracy_score(
                y_true, _labels(_proba(outputs, multilabel, classes), multilabel, classes))

        return self._train(p, X, Y, y, n_outputs, loss, stratify, score, fitted)

    def predict_proba(self, X):
        """Class probabilities, (n_samples, n_classes) in the order of classes_: two
        columns [1 - p, p] for binary y; for multi-label y, each label's probability
        (columns need not sum to 1)."""
        return _proba(self._outputs(X), self._multilabel, self.classes_)

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        with np.errstate(divide="ignore"):
            return np.log(self.predict_proba(X))

    def predict(self, X):
        """Labels from classes_ (the most probable class); for multi-label y, the 0/1
        indicator matrix with 1 where a label's probability exceeds 0.5."""
        return _labels(self.predict_proba(X), self._multilabel, self.classes_)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multilabel": True}


class MLPRegressor(RegressorMixin, _BaseMLP):
    __doc__ = """Multilayer-perceptron regressor trained by mlpcore (minibatch SGD or Adam).

    The output layer is linear, trained with ``mse`` (half the squared error, summed over
    outputs, averaged over samples). y may be 1-D (one output; ``predict`` returns 1-D)
    or 2-D (n_samples, n_outputs). Inputs and targets are used as given: scaling them (for
    example with StandardScaler in a Pipeline, and TransformedTargetRegressor for y)
    usually helps SGD a lot.
    """ + _PARAMS_DOC + """
    Attributes
    ----------""" + _ATTRS_DOC.format(score="R^2") + """
    Examples
    --------
    >>> import numpy as np
    >>> from mlpcore.estimators import MLPRegressor
    >>> X = np.linspace(-1, 1, 200).reshape(-1, 1)
    >>> reg = MLPRegressor((32,), activation="tanh", lr=0.1, max_iter=300,
    ...                    random_state=0).fit(X, np.sin(3 * X).ravel())
    >>> reg.predict(X[:2]).shape
    (2,)
    """

    def fit(self, X, y):
        """Trains a new network on X (n_samples, n_features) and the targets y
        ((n_samples,) or (n_samples, n_outputs)). Returns self."""
        p = self._check_params()
        X, y = _validate_data(self, X, y, multi_output=True, y_numeric=True,
                              dtype=p["dtype"])
        if sp.issparse(y):
            y = y.toarray()
        Y = np.ascontiguousarray(y, dtype=p["dtype"])
        if not np.isfinite(Y).all():
            raise ValueError(f"y has values too large for dtype {p['dtype'].name}")
        def score(outputs, y_true):
            if len(y_true) < 2:
                return float("nan")  # R^2 needs a variance
            return r2_score(y_true, outputs.ravel() if y_true.ndim == 1 else outputs)

        return self._train(p, X, Y, y, 1 if y.ndim == 1 else y.shape[1], "mse", None, score,
                           {"_y_1d": y.ndim == 1})

    def predict(self, X):
        """Predicted values, (n_samples,) if y was 1-D in fit, else (n_samples, n_outputs)."""
        out = self._outputs(X)
        return out.ravel() if self._y_1d else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def _more_tags(self):  # scikit-learn < 1.6
        return {"multioutput": True}
