"""scikit-learn's MLPClassifier (solver sgd, constant lr, no momentum or L2), trained by
warm-started fit calls of k epochs. It has no batch norm or dropout (those configs are
n/a); it decides its own compute dtype and uses one logistic output for two classes."""

import sys
import warnings

from common import LR, SEED

NAME = "sklearn"


def unavailable():
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        return f"scikit-learn is not installed ({exc})"
    return None


def not_applicable(cfg):
    return "MLPClassifier has no batch norm or dropout" if cfg.blocks else None


def trainer(cfg, X, y):
    from sklearn.neural_network import MLPClassifier

    clf = MLPClassifier(
        hidden_layer_sizes=tuple(cfg.widths[1:-1]),
        activation="relu",
        solver="sgd",
        learning_rate="constant",
        learning_rate_init=LR,
        momentum=0.0,
        nesterovs_momentum=False,
        alpha=0.0,
        batch_size=cfg.batch,
        shuffle=True,
        random_state=SEED,
        early_stopping=False,
        tol=0.0,
        n_iter_no_change=sys.maxsize,
        warm_start=True,
        max_iter=1,
    )

    def run(k):
        before = len(getattr(clf, "loss_curve_", []))
        clf.set_params(max_iter=k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning after every call
            clf.fit(X, y)
        run.note = f"computes in {clf.coefs_[0].dtype}" + (
            ", 1 logistic output" if cfg.widths[-1] == 2 else ""
        )
        return len(clf.loss_curve_) - before  # loss_curve_ survives warm starts

    run.note = ""
    return run
