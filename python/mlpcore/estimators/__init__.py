"""scikit-learn's MLPClassifier and MLPRegressor, trained by mlpcore's engine.

    from mlpcore import MLPClassifier, MLPRegressor    # or: from mlpcore.estimators import ...

Needs scikit-learn (``pip install scikit-learn``; in a clone of mlpcore
``pip install ".[sklearn]"``); ``import mlpcore`` alone does not
import it. Same parameters, defaults, attributes and behaviour as scikit-learn 1.9's
estimators (its own test suite is ported in tests/test_sklearn_port.py); docs/sklearn.md
lists the few documented differences.

Files: _params (the parameter table and its validation), _engine (scikit-learn's objective
on mlpcore.Sequential: network, initialisation, L-BFGS objective, prediction), _epoch (one
sgd/adam epoch run by the engine, all or nothing), _base (the shared fit loop), _classes
(the two estimators).
"""

try:
    import sklearn
except ImportError as exc:  # exercised in a subprocess test
    raise ImportError(
        "mlpcore.estimators needs scikit-learn: pip install scikit-learn (in a "
        'clone of mlpcore: pip install ".[sklearn]")'
    ) from exc
if tuple(int(p) for p in sklearn.__version__.split(".")[:2] if p.isdigit()) < (1, 6):
    raise ImportError(
        f"mlpcore.estimators needs scikit-learn >= 1.6 (validate_data, "
        f"__sklearn_tags__), found {sklearn.__version__}: "
        "pip install -U scikit-learn"
    )

from ._classes import MLPClassifier, MLPRegressor

__all__ = ["MLPClassifier", "MLPRegressor"]
