"""What MLPClassifier and MLPRegressor share: scikit-learn's _fit / _fit_stochastic /
_fit_lbfgs control flow (learning-rate schedules, tol / n_iter_no_change, early stopping on
the validation score, warm start, partial_fit, ConvergenceWarning, verbose output), with the
epochs and the gradients computed by mlpcore.Sequential (see _engine)."""

import contextlib
import warnings

import numpy as np
import scipy.optimize
import scipy.sparse as sp
from sklearn.base import BaseEstimator, is_classifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.validation import validate_data

from . import _engine, _epoch, _params

_STOCHASTIC = ("sgd", "adam")


class _LearningRate:
    """scikit-learn's learning-rate bookkeeping of SGDOptimizer/AdamOptimizer
    (learning_rate, iteration_ends, trigger_stopping); the update itself runs in the engine."""

    def __init__(self, solver, learning_rate_init, lr_schedule, power_t):
        self.solver = solver
        self.learning_rate_init = learning_rate_init
        self.learning_rate = float(learning_rate_init)
        self.lr_schedule = lr_schedule if solver == "sgd" else "constant"
        self.power_t = power_t

    def iteration_ends(self, time_step):
        if self.lr_schedule == "invscaling":
            self.learning_rate = float(self.learning_rate_init) / (time_step + 1) ** self.power_t

    def trigger_stopping(self, msg, verbose):
        if self.lr_schedule != "adaptive":
            if verbose:
                print(msg + " Stopping.")
            return True
        if self.learning_rate <= 1e-6:
            if verbose:
                print(msg + " Learning rate too small. Stopping.")
            return True
        self.learning_rate /= 5.0
        if verbose:
            print(msg + " Setting learning rate to %f" % self.learning_rate)
        return False


def _check_sample_weight(sample_weight, n_samples, cls):
    if sample_weight is None:
        return None
    sw = np.asarray(sample_weight, dtype=np.float64)
    if sw.ndim == 0:
        sw = np.full(n_samples, float(sw))
    if sw.shape != (n_samples,):
        raise ValueError(f"{cls}: sample_weight.shape == {sw.shape}, expected ({n_samples},)!")
    if not np.isfinite(sw).all():
        raise ValueError(f"{cls}: sample_weight contains NaN or infinity")
    if (sw < 0).any():
        raise ValueError(f"{cls}: negative values in sample_weight are not allowed")
    if not (sw > 0).any():
        raise ValueError(
            f"{cls}: sample weights must contain at least one non-zero number "
            "(all sample weights are zero)"
        )
    return sw


class BaseMLP(BaseEstimator):
    """Shared by MLPClassifier and MLPRegressor; not for direct use."""

    # ---- set-up -----------------------------------------------------------------------------
    def _check_setup(self):
        """Parameters checked against the table plus the combinations the engine cannot run."""
        hidden = _params.validate(self)
        cls = type(self).__name__
        if self.solver == "lbfgs" and (self.batch_norm or self.dropout > 0):
            raise ValueError(
                f"{cls}: batch_norm and dropout need a stochastic solver "
                "('sgd' or 'adam'), not solver='lbfgs'"
            )
        if self.solver == "sgd" and self.momentum == 1:
            raise ValueError(
                f"{cls}: momentum=1 is not supported (mlpcore's SGD needs "
                "momentum < 1; with 1 the velocity would never decay)"
            )
        return hidden

    def _threads(self):
        """n_threads for the C++ engine's pool (backend='native') or NumPy's BLAS ('numpy')."""
        if self.n_threads is None:
            return contextlib.nullcontext()
        if self.backend == "native":
            from .._threads import limited

            return limited(self.n_threads)
        from threadpoolctl import threadpool_limits

        return threadpool_limits(limits=self.n_threads, user_api="blas")

    def _train_dtype(self, X_dtype):
        if self.dtype is not None:
            return np.dtype(np.dtype(self.dtype).name)
        return np.dtype(np.float32) if X_dtype == np.float32 else np.dtype(np.float64)

    def _initialize(self, y, layer_units, dtype, rs):
        self.n_iter_ = 0
        self.t_ = 0
        self.n_outputs_ = y.shape[1]
        self.n_layers_ = len(layer_units)
        self.out_activation_ = self._out_activation()
        coefs, intercepts = _engine.sklearn_init(rs, layer_units, self.activation, dtype)
        # the engine's seed matters for dropout masks only; drawing it only then keeps rs's
        # stream (shuffles, validation split) identical to scikit-learn's
        seed = int(rs.randint(np.iinfo(np.int32).max)) if self.dropout > 0 else 0
        self._build(layer_units, dtype, seed)
        _engine.set_coefs(self.model_, coefs, intercepts)
        self.coefs_, self.intercepts_ = _engine.get_coefs(self.model_)
        self._best = (self.model_.get_weights(), self.model_.get_state())
        self._optimizer = None
        if self.solver in _STOCHASTIC:
            self.loss_curve_ = []
            self._no_improvement_count = 0
            if self.early_stopping:
                self.validation_scores_ = []
                self.best_validation_score_ = -np.inf
                self.best_loss_ = None
            else:
                self.best_loss_ = np.inf
                self.validation_scores_ = None
                self.best_validation_score_ = None

    def _build(self, layer_units, dtype, seed):
        self.model_ = _engine.build_network(
            layer_units,
            self.activation,
            self.out_activation_,
            self.batch_norm,
            self.dropout,
            dtype,
            seed,
            self.backend,
        )
        self._engine_lr = None  # the lr of the last engine call (momentum rescaling)

    def _sync_network(self, layer_units, dtype):
        """Before continuing training (warm_start, partial_fit): coefs_/intercepts_ are the
        truth, as in scikit-learn (they may have been set by the user); a network is built
        from their shapes when there is none."""
        units = [self.coefs_[0].shape[0]] + [c.shape[1] for c in self.coefs_]
        if getattr(self, "model_", None) is None or units != layer_units:
            if units != layer_units:
                raise ValueError(
                    f"{type(self).__name__}: coefs_ describe layers {units} but "
                    f"the data and hidden_layer_sizes need {layer_units}"
                )
            self.n_layers_ = len(units)
            self._build(units, dtype, 0)
            self._optimizer = None
        _engine.set_coefs(
            self.model_,
            [np.asarray(c) for c in self.coefs_],
            [np.asarray(b) for b in self.intercepts_],
        )
        for name, default in (
            ("n_iter_", 0),
            ("t_", 0),
            ("_no_improvement_count", 0),
            ("loss_curve_", []),
            ("best_loss_", np.inf),
        ):
            if not hasattr(self, name):
                setattr(self, name, default)
        if not hasattr(self, "validation_scores_"):
            self.validation_scores_ = [] if self.early_stopping else None
            self.best_validation_score_ = -np.inf if self.early_stopping else None

    # ---- fit --------------------------------------------------------------------------------
    def _fit(self, X, y, sample_weight=None, incremental=False):
        from .._checks import any_dask

        if any_dask(X, y, sample_weight):  # data-parallel on the current Dask client
            from ._dask import fit

            return fit(self, X, y, sample_weight, incremental)
        hidden = self._check_setup()
        first_pass = not hasattr(self, "coefs_") or (not self.warm_start and not incremental)
        X, y = self._validate_input(X, y, incremental, reset=first_pass)
        sw = _check_sample_weight(sample_weight, X.shape[0], type(self).__name__)
        sw = self._apply_class_weight(sw, y)
        if y.ndim == 1:
            y = y.reshape((-1, 1))
        self.n_outputs_ = y.shape[1]
        layer_units = [X.shape[1]] + hidden + [self.n_outputs_]
        rs = check_random_state(self.random_state)
        if first_pass:
            self._initialize(y, layer_units, self._train_dtype(X.dtype), rs)
        else:
            self._sync_network(
                layer_units,
                self.model_.dtype
                if getattr(self, "model_", None) is not None
                else self._train_dtype(X.dtype),
            )
        self._check_range(X)
        Y = self._engine_targets(y)
        with self._threads():
            if self.solver in _STOCHASTIC:
                self._fit_stochastic(X, y, Y, sw, rs, incremental)
            else:
                self._fit_lbfgs(self._engine_inputs(X), Y, sw)
        self.coefs_, self.intercepts_ = _engine.get_coefs(self.model_)
        if not all(np.isfinite(w).all() for w in self.coefs_ + self.intercepts_):
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        return self

    def _check_range(self, X):
        """X (finite, as validate_data checked) must stay finite in the network's dtype."""
        dtype = self.model_.dtype
        values = X.data if sp.issparse(X) else X
        big = np.finfo(np.float32).max
        if (
            dtype == np.float32
            and values.dtype == np.float64
            and values.size
            and (values.max() > big or values.min() < -big)
        ):  # no |X| copy
            raise ValueError(f"{type(self).__name__}: X has values too large for {dtype.name}")

    def _engine_inputs(self, X):
        """X once in the network's dtype and row-major (CSR when sparse), for L-BFGS's
        function evaluations."""
        dtype = self.model_.dtype
        if sp.issparse(X):
            return X.tocsr().astype(dtype, copy=False)
        return np.ascontiguousarray(X, dtype=dtype)

    def _engine_targets(self, y):
        Y = np.ascontiguousarray(y, dtype=self.model_.dtype)
        if not np.isfinite(Y).all():
            raise ValueError(
                f"{type(self).__name__}: y has values too large for {self.model_.dtype.name}"
            )
        return Y

    def _fit_lbfgs(self, X, Y, sw):
        if sw is not None and not (sw > 0).all():  # zero weights: as if the rows were absent
            X, Y, sw = X[sw > 0], Y[sw > 0], sw[sw > 0]
        self._minimize(
            _engine.FullBatchObjective(self.model_, X, Y, sw, self.out_activation_, self.alpha)
        )

    def _minimize(self, objective):
        """scipy's L-BFGS-B on the objective, as scikit-learn's _fit_lbfgs runs it."""
        callback = None
        if self.verbose:

            def callback(intermediate_result):
                callback.it += 1
                print("Iteration %d, loss = %.8f" % (callback.it, intermediate_result.fun))

            callback.it = 0
        opt_res = scipy.optimize.minimize(
            objective,
            objective.pack(),
            method="L-BFGS-B",
            jac=True,
            callback=callback,
            options={"maxfun": self.max_fun, "maxiter": self.max_iter, "gtol": self.tol},
        )
        self.n_iter_ = min(opt_res.nit, self.max_iter)
        if opt_res.status != 0:
            warnings.warn(
                f"lbfgs failed to converge after {self.n_iter_} iteration(s) "
                f"(status={opt_res.status}):\n{opt_res.message}\n\nIncrease the number of "
                f"iterations (max_iter={self.max_iter}) or max_fun={self.max_fun}, or scale "
                "the data.",
                ConvergenceWarning,
                stacklevel=5,
            )
        self.loss_ = float(opt_res.fun)
        _engine.set_coefs(self.model_, *objective.unpack(opt_res.x))

    def _fit_stochastic(self, X, y, Y, sw, rs, incremental):
        if not incremental or getattr(self, "_optimizer", None) is None:
            self._optimizer = _LearningRate(
                self.solver, self.learning_rate_init, self.learning_rate, self.power_t
            )
        if self.early_stopping and incremental:
            raise ValueError("partial_fit does not support early_stopping=True")
        early_stopping = self.early_stopping
        if early_stopping:
            stratify = y.astype(bool) if is_classifier(self) and self.n_outputs_ == 1 else None
            parts = [X, Y, y] + ([] if sw is None else [sw])
            split = train_test_split(
                *parts, random_state=rs, test_size=self.validation_fraction, stratify=stratify
            )
            X_train, X_val, Y_train, _, _, y_val = split[:6]
            sw_train, sw_val = (split[6], split[7]) if sw is not None else (None, None)
            if X_val.shape[0] < 2:
                raise ValueError(
                    "The validation set is too small. Increase "
                    "'validation_fraction' or the size of your dataset."
                )
            y_val = self._validation_targets(y_val)
        else:
            X_train, Y_train, sw_train = X, Y, sw
            X_val = y_val = sw_val = None
        n_samples = X_train.shape[0]
        if self.batch_size == "auto":
            batch_size = min(200, n_samples)
        else:
            if self.batch_size > n_samples:
                warnings.warn(
                    "Got `batch_size` less than 1 or larger than sample size. It is "
                    "going to be clipped"
                )
            batch_size = int(np.clip(self.batch_size, 1, n_samples))
        # zero-weight samples are left out of the engine's batches: the rows kept are copied
        # once per fit, and the epochs' orders map onto them
        keep = None
        if sw_train is not None and not (sw_train > 0).all():
            keep = sw_train > 0
            X_train, Y_train, sw_train = X_train[keep], Y_train[keep], sw_train[keep]
            new_index = np.cumsum(keep) - 1  # (n_samples,) row of each kept sample
        net = self.model_
        X_train = net._engine_rows(X_train)  # once per fit: what the engine reads
        settings = _epoch.optimizer_settings(
            self.solver,
            self.momentum,
            self.nesterovs_momentum,
            self.beta_1,
            self.beta_2,
            self.epsilon,
        )
        alpha = float(self.alpha)
        options = _epoch.epoch_options(net, batch_size, settings, alpha, sw_train)
        scale = _engine.loss_scale(self.out_activation_, self.n_outputs_)
        sample_idx = np.arange(n_samples)
        norm_after = _engine.squared_norm(net) if self.alpha else 0.0
        try:
            self.n_iter_ = 0
            for _ in range(self.max_iter):
                if self.shuffle:  # sklearn.utils.shuffle(sample_idx, random_state=rs)
                    perm = np.arange(n_samples)
                    rs.shuffle(perm)
                    sample_idx = sample_idx[perm]
                order = sample_idx if keep is None else new_index[sample_idx[keep[sample_idx]]]
                lr = self._optimizer.learning_rate
                if (
                    self._engine_lr is not None
                    and lr != self._engine_lr
                    and settings["name"] == "sgd"
                    and settings["momentum"] > 0
                    and net.optimizer_ == settings
                ):
                    _engine.rescale_momentum(net, self._engine_lr / lr)
                norm_before = norm_after
                try:
                    data_loss, penalty_factor = _epoch.train_epoch(
                        net,
                        X_train,
                        Y_train,
                        sw_train,
                        order.astype(np.int64, copy=False),
                        lr,
                        options,
                        scale,
                    )
                except FloatingPointError:
                    self._diverged(n_samples, early_stopping, incremental)
                    break
                self._engine_lr = lr
                # the penalty each batch added, from the weights before and after the epoch
                norm_after = _engine.squared_norm(net) if self.alpha else 0.0
                self.loss_ = data_loss + (
                    0.5 * alpha * 0.5 * (norm_before + norm_after) * penalty_factor
                )
                self.n_iter_ += 1
                self.t_ += n_samples
                self.loss_curve_.append(self.loss_)
                if self.verbose:
                    print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
                self._update_no_improvement_count(early_stopping, X_val, y_val, sw_val)
                self._optimizer.iteration_ends(self.t_)
                if self._no_improvement_count > self.n_iter_no_change:
                    if early_stopping:
                        msg = (
                            "Validation score did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    else:
                        msg = (
                            "Training loss did not improve more than tol=%f for %d "
                            "consecutive epochs." % (self.tol, self.n_iter_no_change)
                        )
                    if self._optimizer.trigger_stopping(msg, self.verbose):
                        break
                    self._no_improvement_count = 0
                if incremental:
                    break
                if self.n_iter_ == self.max_iter:
                    warnings.warn(
                        "Stochastic Optimizer: Maximum iterations (%d) reached and "
                        "the optimization hasn't converged yet." % self.max_iter,
                        ConvergenceWarning,
                    )
        except KeyboardInterrupt:
            warnings.warn("Training interrupted by user.")
        if early_stopping:
            self.model_.set_weights(self._best[0])
            self.model_.set_state(self._best[1])

    def _diverged(self, n_samples, early_stopping, incremental):
        """The engine found a non-finite loss and restored the epoch's starting weights.
        scikit-learn would go on with NaN weights; here training stops: with early stopping
        the best weights are restored (and NaN recorded as the last loss and score), without
        it fit raises scikit-learn's ValueError."""
        self.n_iter_ += 1
        self.t_ += n_samples
        self.loss_ = float("nan")
        self.loss_curve_.append(self.loss_)
        if self.verbose:
            print("Iteration %d, loss = %.8f" % (self.n_iter_, self.loss_))
        if not early_stopping:
            raise ValueError(
                "Solver produced non-finite parameter weights. The input data may"
                " contain large values and need to be preprocessed."
            )
        self.validation_scores_.append(float("nan"))
        warnings.warn(
            f"Training diverged (non-finite loss) in iteration {self.n_iter_}; "
            "stopped and kept the weights of the best validation score.",
            ConvergenceWarning,
        )

    def _update_no_improvement_count(self, early_stopping, X_val, y_val, sw_val):
        if early_stopping:
            val_score = self._score(X_val, y_val, sample_weight=sw_val)
            self.validation_scores_.append(val_score)
            if self.verbose:
                print("Validation score: %f" % self.validation_scores_[-1])
            last = self.validation_scores_[-1]
            if last < (self.best_validation_score_ + self.tol):
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if last > self.best_validation_score_:
                self.best_validation_score_ = last
                self._best = (self.model_.get_weights(), self.model_.get_state())
        else:
            if self.loss_curve_[-1] > self.best_loss_ - self.tol:
                self._no_improvement_count += 1
            else:
                self._no_improvement_count = 0
            if self.loss_curve_[-1] < self.best_loss_:
                self.best_loss_ = self.loss_curve_[-1]

    # ---- prediction -------------------------------------------------------------------------
    def _forward_pass_fast(self, X, check_input=True):
        if check_input:
            X = validate_data(
                self, X, accept_sparse=["csr", "csc"], reset=False, dtype=(np.float64, np.float32)
            )
        with self._threads():
            return _engine.forward(self.model_, X, self.out_activation_)

    def _score_with_function(self, X, y, sample_weight, score_function):
        y_pred = self._predict(X, check_input=False)
        if np.issubdtype(y_pred.dtype, np.floating) and not np.isfinite(y_pred).all():
            return np.nan
        return float(score_function(y, y_pred, sample_weight=sample_weight))

    def _check_solver(self):
        if self.solver not in _STOCHASTIC:
            raise AttributeError(
                "partial_fit is only available for stochastic optimizers. "
                "%s is not stochastic." % self.solver
            )
        return True

    def fit(self, X, y, sample_weight=None):
        """Fit the model to data matrix X and target(s) y (scikit-learn's fit).

        X : {array-like, sparse matrix} of shape (n_samples, n_features)
        y : array-like of shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array-like of shape (n_samples,), default=None

        Returns self.
        """
        return self._fit(X, y, sample_weight=sample_weight, incremental=False)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.sparse = True
        return tags
