"""scikit-learn's estimator checks (sklearn.utils.estimator_checks) for both estimators.
pandas being installed, the DataFrame checks run instead of skipping. Checks that need
unequal sample weights inside the engine are expected to fail until the engine has
Sequential.fit(sample_weight=...) (mlpcore issue 7); they run automatically once it does."""
import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

from mlpcore import MLPClassifier, MLPRegressor  # noqa: E402
from mlpcore.estimators import _engine  # noqa: E402

_WAITS = ("needs Sequential.fit/loss/gradients(sample_weight=...) for unequal weights "
          "(mlpcore issue 7)")
_NEED_ENGINE_WEIGHTS = ["check_sample_weights_not_overwritten",
                        "check_sample_weight_equivalence_on_dense_data",
                        "check_sample_weight_equivalence_on_sparse_data"]


def expected_failed_checks(estimator):
    if _engine.engine_supports_sample_weight():
        return {}
    names = _NEED_ENGINE_WEIGHTS + (["check_class_weight_classifiers"]
                                    if isinstance(estimator, MLPClassifier) else [])
    return {name: _WAITS for name in names}


@pytest.fixture(autouse=True)
def _one_blas_thread():
    try:  # load the engine's OpenBLAS first, so that the limit reaches it
        import mlpcore._core  # noqa: F401
    except ImportError:
        pass
    with threadpool_limits(limits=1, user_api="blas"):  # tiny problems: 1 thread is fastest
        yield


# max_iter=100: the setting scikit-learn runs these checks with for its own MLPs
@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)],
                         expected_failed_checks=expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
