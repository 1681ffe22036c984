"""MLPClassifier and MLPRegressor: scikit-learn 1.9's estimators of the same names, trained
by mlpcore's engine."""

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.metrics import accuracy_score, r2_score
from sklearn.preprocessing import LabelBinarizer
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target, unique_labels
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from ._base import BaseMLP

_COMMON_DOC = """
    hidden_layer_sizes, activation, solver, alpha, batch_size, learning_rate, learning_rate_init, power_t, max_iter, shuffle, random_state, tol, verbose, warm_start, momentum, nesterovs_momentum, early_stopping, validation_fraction, beta_1, beta_2, epsilon, n_iter_no_change, max_fun
        Every parameter of scikit-learn 1.9's estimator of the same name has its name,
        default and meaning (see scikit-learn's documentation). solver='lbfgs' runs scipy's
        L-BFGS-B on the engine's full-batch loss and gradient; 'sgd' and 'adam' run whole
        epochs in the engine. random_state gives the same random draws as scikit-learn:
        initial weights, shuffles, validation split.
    batch_norm : bool, default=False
        mlpcore's own (as the next four, keyword-only): Dense -> BatchNorm -> activation in
        every hidden block (PyTorch's conventions); stochastic solvers only.
    dropout : float in [0, 1), default=0.0
        Inverted dropout after every hidden activation; stochastic solvers only.
    dtype : {None, 'float32', 'float64'}, default=None
        None trains in X's dtype as scikit-learn does (float32 X in float32, anything else
        in float64). 'float32' is about twice as fast on float64 data.
    n_threads : int or None, default=None
        The threads of fit and predict: the C++ engine's (mlpcore.set_num_threads) with
        backend='native', NumPy's BLAS (threadpoolctl) with 'numpy'; None leaves them.
    backend : {'native', 'numpy'}, default='native'
        The C++ engine, or the pure-NumPy reference twin.
"""

_NOTES_DOC = """
    Notes
    -----
    'sgd' and 'adam' take the same steps as scikit-learn's (its sample order, sample
    weights, alpha per batch weight sum and Adam epsilon; SGD's momentum buffer is rescaled
    when the learning rate changes). Differences (docs/sklearn.md): warm_start keeps the
    engine's optimizer moments (scikit-learn restarts them at every fit); a diverging epoch
    is rolled back and training stops; zero sample weights drop their samples from the
    minibatches; the alpha penalty of `loss_curve_` is taken from the weights before and
    after each epoch.
"""

_ATTRS_DOC = """
    Attributes
    ----------
    loss_, best_loss_, loss_curve_, validation_scores_, best_validation_score_, t_, coefs_, intercepts_, n_features_in_, feature_names_in_, n_iter_, n_layers_, n_outputs_, out_activation_
        As scikit-learn's (`loss_curve_` and `best_loss_` for 'sgd'/'adam' only).
        `coefs_` and `intercepts_` are copies of the trained network's weights; assigned
        values are loaded into the network before warm_start / partial_fit training.
    model_ : mlpcore.Sequential
        The trained network (weights, optimizer moments, BatchNorm statistics).
"""


class MLPClassifier(ClassifierMixin, BaseMLP):
    __doc__ = (
        """Multi-layer perceptron classifier: scikit-learn's MLPClassifier, trained by
    mlpcore. Drop-in: ``from mlpcore import MLPClassifier``.

    Parameters
    ----------
    """
        + _COMMON_DOC
        + """
    class_weight : None, 'balanced' or dict, default=None
        Multiplies the sample weights by the weight of each sample's class, as in
        scikit-learn's linear classifiers (single-label y only).
    """
        + _ATTRS_DOC
        + """
    classes_ : ndarray or list of ndarray
        Class labels.
    """
        + _NOTES_DOC
        + """

    Examples
    --------
    >>> from sklearn.datasets import load_iris
    >>> from mlpcore import MLPClassifier
    >>> X, y = load_iris(return_X_y=True)
    >>> clf = MLPClassifier(solver="lbfgs", random_state=0, max_iter=500).fit(X, y)
    >>> clf.score(X, y) > 0.95
    True
    """
    )

    def __init__(
        self,
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        batch_norm=False,
        dropout=0.0,
        dtype=None,
        class_weight=None,
        n_threads=None,
        backend="native",
    ):
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.dtype = dtype
        self.class_weight = class_weight
        self.n_threads = n_threads
        self.backend = backend

    def _out_activation(self):
        return "softmax" if self._label_binarizer.y_type_ == "multiclass" else "logistic"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        self._y_raw = y  # for class_weight; dropped after fit
        if (not hasattr(self, "classes_")) or (not self.warm_start and not incremental):
            self._label_binarizer = LabelBinarizer()
            self._label_binarizer.fit(y)
            self.classes_ = self._label_binarizer.classes_
        else:
            classes = unique_labels(y)
            if self.warm_start:
                if set(classes) != set(self.classes_):
                    raise ValueError(
                        "warm_start can only be used where `y` has the same classes as in the "
                        f"previous call to fit. Previously got {self.classes_}, `y` has "
                        f"{classes}"
                    )
            elif len(np.setdiff1d(classes, self.classes_, assume_unique=True)):
                raise ValueError(
                    "`y` has classes not in `self.classes_`. `self.classes_` has "
                    f"{self.classes_}. 'y' has {classes}."
                )
        y = self._label_binarizer.transform(y).astype(bool)
        return X, y

    def _apply_class_weight(self, sw, y):
        y_raw = self.__dict__.pop("_y_raw", None)
        if self.class_weight is None:
            return sw
        if y_raw is None or y_raw.ndim != 1:
            raise ValueError("MLPClassifier: class_weight needs single-label y")
        cw = compute_sample_weight(self.class_weight, y_raw)
        return cw if sw is None else sw * cw

    def _validation_targets(self, y_val):
        return self._label_binarizer.inverse_transform(y_val)

    def predict(self, X):
        """Predicted class labels, (n_samples,) or (n_samples, n_labels) for multi-label y."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        return self._label_binarizer.inverse_transform(y_pred)

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, accuracy_score)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None, classes=None):
        """One epoch over (X, y); `classes` (all labels) is required on the first call."""
        if self._partial_fit_first_call(classes):
            self._label_binarizer = LabelBinarizer()
            if type_of_target(y).startswith("multilabel"):
                self._label_binarizer.fit(y)
            else:
                self._label_binarizer.fit(classes)
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def _partial_fit_first_call(self, classes):
        if getattr(self, "classes_", None) is None and classes is None:
            raise ValueError("classes must be passed on the first call to partial_fit.")
        if classes is not None:
            if getattr(self, "classes_", None) is not None:
                if not np.array_equal(self.classes_, unique_labels(classes)):
                    raise ValueError(
                        f"`classes={classes!r}` is not the same as on last call "
                        f"to partial_fit, was: {self.classes_!r}"
                    )
            else:
                self.classes_ = unique_labels(classes)
                return True
        return False

    def predict_log_proba(self, X):
        """log(predict_proba(X))."""
        y_prob = self.predict_proba(X)
        with np.errstate(divide="ignore"):
            return np.log(y_prob, out=y_prob)

    def predict_proba(self, X):
        """Class probabilities (n_samples, n_classes) in the order of `classes_`."""
        check_is_fitted(self)
        y_pred = self._forward_pass_fast(X)
        if self.n_outputs_ == 1:
            y_pred = y_pred.ravel()
        if y_pred.ndim == 1:
            return np.vstack([1 - y_pred, y_pred]).T
        return y_pred

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.classifier_tags.multi_label = True
        return tags


class MLPRegressor(RegressorMixin, BaseMLP):
    __doc__ = (
        """Multi-layer perceptron regressor: scikit-learn's MLPRegressor, trained by
    mlpcore. Drop-in: ``from mlpcore import MLPRegressor``.

    Parameters
    ----------
    loss : {'squared_error', 'poisson'}, default='squared_error'
        As scikit-learn: half squared error (averaged over samples and outputs), or half
        Poisson deviance with an exponential output (y >= 0), with every solver.
    """
        + _COMMON_DOC
        + _ATTRS_DOC
        + _NOTES_DOC
        + """
    Examples
    --------
    >>> from sklearn.datasets import make_regression
    >>> from mlpcore import MLPRegressor
    >>> X, y = make_regression(n_samples=200, n_features=20, random_state=1)
    >>> reg = MLPRegressor(random_state=1, max_iter=2000, tol=0.1).fit(X, y)
    >>> reg.score(X, y) > 0.9
    True
    """
    )

    def __init__(
        self,
        loss="squared_error",
        hidden_layer_sizes=(100,),
        activation="relu",
        *,
        solver="adam",
        alpha=0.0001,
        batch_size="auto",
        learning_rate="constant",
        learning_rate_init=0.001,
        power_t=0.5,
        max_iter=200,
        shuffle=True,
        random_state=None,
        tol=1e-4,
        verbose=False,
        warm_start=False,
        momentum=0.9,
        nesterovs_momentum=True,
        early_stopping=False,
        validation_fraction=0.1,
        beta_1=0.9,
        beta_2=0.999,
        epsilon=1e-8,
        n_iter_no_change=10,
        max_fun=15000,
        batch_norm=False,
        dropout=0.0,
        dtype=None,
        n_threads=None,
        backend="native",
    ):
        self.loss = loss
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.learning_rate_init = learning_rate_init
        self.power_t = power_t
        self.max_iter = max_iter
        self.shuffle = shuffle
        self.random_state = random_state
        self.tol = tol
        self.verbose = verbose
        self.warm_start = warm_start
        self.momentum = momentum
        self.nesterovs_momentum = nesterovs_momentum
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.n_iter_no_change = n_iter_no_change
        self.max_fun = max_fun
        self.batch_norm = batch_norm
        self.dropout = dropout
        self.dtype = dtype
        self.n_threads = n_threads
        self.backend = backend

    def _out_activation(self):
        return "exp" if self.loss == "poisson" else "identity"

    def _validate_input(self, X, y, incremental, reset):
        X, y = validate_data(
            self,
            X,
            y,
            accept_sparse=["csr", "csc"],
            multi_output=True,
            y_numeric=True,
            dtype=(np.float64, np.float32),
            reset=reset,
        )
        if y.ndim == 2 and y.shape[1] == 1:
            y = column_or_1d(y, warn=True)
        if self.loss == "poisson" and (y < 0).any():
            raise ValueError(
                f"MLPRegressor: loss='poisson' needs y >= 0, got a minimum of {y.min()}"
            )
        return X, y

    def _apply_class_weight(self, sw, y):
        return sw

    def _validation_targets(self, y_val):
        return y_val

    def predict(self, X):
        """Predicted values, (n_samples,) for one output, else (n_samples, n_outputs)."""
        check_is_fitted(self)
        return self._predict(X)

    def _predict(self, X, check_input=True):
        y_pred = self._forward_pass_fast(X, check_input=check_input)
        if y_pred.shape[1] == 1:
            return y_pred.ravel()
        return y_pred

    def _score(self, X, y, sample_weight=None):
        return self._score_with_function(X, y, sample_weight, r2_score)

    @available_if(lambda est: est._check_solver())
    def partial_fit(self, X, y, sample_weight=None):
        """One epoch over (X, y), continuing from the current weights and optimizer."""
        return self._fit(X, y, sample_weight=sample_weight, incremental=True)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags
