"""The steps' metrics (factory_steps/metrics.py) agree with scikit-learn's definitions, for
both tasks, including a predictions table read back from its CSV."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import (
    accuracy_score,
    f1_score,
    log_loss,
    mean_absolute_error,
    mean_squared_error,
    r2_score,
    roc_auc_score,
)

from mlops.tasks import TASKS


@pytest.fixture(scope="module")
def metrics(tmp_path_factory):
    from mlops.testkit.kit import ModelKit, write_plugin

    folder = write_plugin(tmp_path_factory.mktemp("p") / "tiny", "regression", ["x"], "y")
    return ModelKit.staged(folder, tmp_path_factory.mktemp("stage")).src("factory_steps.metrics")


def test_regression_matches_scikit_learn(metrics):
    rng = np.random.default_rng(0)
    actual = rng.normal(15, 5, 400)
    predicted = actual + rng.normal(0, 2, 400)
    got = metrics.compute(TASKS["regression"], actual, predicted)
    assert list(got) == ["r2", "rmse", "mae", "mse"]
    assert got["r2"] == pytest.approx(r2_score(actual, predicted))
    assert got["mse"] == pytest.approx(mean_squared_error(actual, predicted))
    assert got["mae"] == pytest.approx(mean_absolute_error(actual, predicted))
    assert got["rmse"] == pytest.approx(mean_squared_error(actual, predicted) ** 0.5)


def _classified(rng, classes, rows=300):
    actual = rng.choice(classes, rows)
    scores = rng.random((rows, len(classes))) + np.array(
        [[2.0 if c == a else 0.0 for c in classes] for a in actual]) * rng.random((rows, 1))
    probabilities = scores / scores.sum(axis=1, keepdims=True)
    predicted = np.array(classes)[probabilities.argmax(axis=1)]
    return actual, predicted, probabilities


def test_binary_classification_matches_scikit_learn(metrics):
    actual, predicted, proba = _classified(np.random.default_rng(1), ["B", "M"])
    got = metrics.compute(TASKS["classification"], actual, predicted, proba, ["B", "M"])
    assert list(got) == ["accuracy", "f1", "roc_auc", "log_loss"]
    assert got["accuracy"] == pytest.approx(accuracy_score(actual, predicted))
    assert got["f1"] == pytest.approx(f1_score(actual, predicted, pos_label="M"))
    assert got["roc_auc"] == pytest.approx(roc_auc_score(actual == "M", proba[:, 1]))
    assert got["log_loss"] == pytest.approx(log_loss(actual, proba, labels=["B", "M"]))


def test_multiclass_uses_macro_and_one_vs_rest(metrics):
    classes = [0, 1, 2]
    actual, predicted, proba = _classified(np.random.default_rng(2), classes)
    got = metrics.compute(TASKS["classification"], actual, predicted, proba, classes)
    assert got["f1"] == pytest.approx(f1_score(actual, predicted, average="macro"))
    assert got["roc_auc"] == pytest.approx(
        roc_auc_score(actual, proba, multi_class="ovr", average="macro"))


def test_a_predictions_table_round_trips_through_csv(metrics, tmp_path):
    actual, predicted, proba = _classified(np.random.default_rng(3), [0, 1])
    table = pd.DataFrame({"actual": actual, "predicted": predicted,
                          metrics.probability_column(0): proba[:, 0],
                          metrics.probability_column(1): proba[:, 1]})
    table.to_csv(tmp_path / "p.csv", index=False)
    got = metrics.from_predictions(TASKS["classification"], pd.read_csv(tmp_path / "p.csv"))
    assert got == pytest.approx(metrics.compute(TASKS["classification"], actual, predicted,
                                                proba, [0, 1]))


def test_classification_without_probabilities_is_refused(metrics):
    with pytest.raises(ValueError, match="probabilities"):
        metrics.compute(TASKS["classification"], [0, 1], [0, 1])
