"""scikit-learn's estimator checks (sklearn.utils.estimator_checks) for both estimators, all
of them, the sample-weight and class-weight checks included. pandas being installed, the
DataFrame checks run instead of skipping."""

import pytest

pytest.importorskip("sklearn")

from sklearn.utils.estimator_checks import parametrize_with_checks  # noqa: E402

from mlpcore import MLPClassifier, MLPRegressor  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_blas_thread")  # tiny problems: 1 thread


# max_iter=100: the setting scikit-learn runs these checks with for its own MLPs
@parametrize_with_checks([MLPClassifier(max_iter=100), MLPRegressor(max_iter=100)])
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)
