"""metrics: the numpy definitions agree with scikit-learn's."""

import numpy as np
import pytest
from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score


def test_metrics_match_scikit_learn(kit):
    metrics = kit.src("metrics")
    rng = np.random.default_rng(0)
    actual = rng.normal(15, 5, 400)
    predicted = actual + rng.normal(0, 2, 400)
    got = metrics.regression_metrics(actual, predicted)
    assert got["r2"] == pytest.approx(r2_score(actual, predicted))
    assert got["mse"] == pytest.approx(mean_squared_error(actual, predicted))
    assert got["mae"] == pytest.approx(mean_absolute_error(actual, predicted))
    assert got["rmse"] == pytest.approx(mean_squared_error(actual, predicted) ** 0.5)
