"""brainembed's estimators behave like scikit-learn's: sklearn.utils.estimator_checks, and ValueError for bad input.

Every estimator of the package (classes with ``fit``) is listed in ESTIMATORS;
test_every_estimator_is_checked fails when a new one is added without a check.
"""

import ast
from pathlib import Path

import numpy as np
import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

from brainembed.analysis.clustering import EmbeddingKMeans
from brainembed.errors import BrainembedError
from brainembed.evaluation.baselines import RidgeEncoder

# Small settings so that the ~50 checks per estimator take seconds on a 2-core CPU.
ESTIMATORS = [EmbeddingKMeans(n_clusters=3, n_init=2), RidgeEncoder(alphas=[0.1, 1.0, 10.0], cv=3)]

#: Checks each estimator is known to fail, and why (scikit-learn runs them and expects the failure).
#: None today: both estimators pass every check of scikit-learn 1.9 (check_array_api_input is skipped by
#: scikit-learn itself unless SCIPY_ARRAY_API=1 is set; neither estimator claims array-API support).
EXPECTED_FAILED_CHECKS = {
    "EmbeddingKMeans": {},
    "RidgeEncoder": {},
}


def _expected_failed_checks(estimator):
    return EXPECTED_FAILED_CHECKS[type(estimator).__name__]


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=_expected_failed_checks)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_every_estimator_is_checked():
    root = Path(__file__).resolve().parents[1] / "brainembed"
    found = set()
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(isinstance(item, ast.FunctionDef) and item.name == "fit"
                                                      for item in node.body):
                found.add(node.name)
    assert found == {type(e).__name__ for e in ESTIMATORS}


@pytest.mark.parametrize("estimator, fit_args", [
    (EmbeddingKMeans(n_clusters=0), ()),
    (EmbeddingKMeans(n_clusters=2.5), ()),
    (EmbeddingKMeans(n_clusters=50), ()),
    (RidgeEncoder(solver="lsqr"), ("Y",)),
    (RidgeEncoder(cv=1), ("Y",)),
    (RidgeEncoder(alphas=[-1.0]), ("Y",)),
])
def test_bad_parameters_raise_a_value_error_that_is_a_brainembed_error(estimator, fit_args):
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(20, 4)), rng.normal(size=(20, 3))
    with pytest.raises(ValueError) as info:
        estimator.fit(X, *(Y for _ in fit_args))
    assert isinstance(info.value, BrainembedError)


def test_bad_data_and_unfitted_use_raise_value_errors():
    from sklearn.exceptions import NotFittedError

    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 4))
    bad = X.copy()
    bad[0, 0] = np.nan
    for estimator in (EmbeddingKMeans(3), RidgeEncoder()):
        with pytest.raises(BrainembedError, match="not fitted") as info:
            estimator.predict(X)
        assert isinstance(info.value, NotFittedError) and isinstance(info.value, ValueError)
        with pytest.raises(ValueError, match="NaN") as info:
            estimator.fit(bad, X[:, :2])
        assert isinstance(info.value, BrainembedError)
    fitted = EmbeddingKMeans(3).fit(X)
    with pytest.raises(BrainembedError, match="X has 2 features, but EmbeddingKMeans is expecting 4"):
        fitted.predict(X[:, :2])
