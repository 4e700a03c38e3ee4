"""The registry gate's decision, as a pure function (mlops/steps/step_register.py), for each
task's metrics and directions (mlops/tasks.py), imported from a staged step folder."""

from __future__ import annotations

import math

import pytest

from mlops.tasks import TASKS


@pytest.fixture(scope="module")
def gate(tmp_path_factory):
    from mlops.testkit.kit import ModelKit, write_plugin

    folder = write_plugin(tmp_path_factory.mktemp("p") / "tiny", "regression", ["x"], "y")
    return ModelKit.staged(folder, tmp_path_factory.mktemp("stage")).src("step_register")


def decide(gate, metric, threshold, candidate, champion, task="regression"):
    return gate.decide(TASKS[task], metric, threshold, candidate, champion)


def test_first_candidate_passing_the_threshold_is_registered(gate):
    d = decide(gate, "r2", 0.8, 0.9, None)
    assert d["passed"] and d["registered"]
    assert "no champion" in d["reason"]


def test_candidate_below_threshold_is_neither_passed_nor_registered(gate):
    d = decide(gate, "r2", 0.8, 0.79, None)
    assert not d["passed"] and not d["registered"]
    assert "fails the threshold (>= 0.8)" in d["reason"]


def test_better_candidate_replaces_the_champion(gate):
    d = decide(gate, "r2", 0.8, 0.93, 0.90)
    assert d["passed"] and d["registered"]
    assert "beats the champion's 0.9000" in d["reason"]


def test_worse_or_equal_candidate_never_replaces_the_champion(gate):
    for candidate in (0.85, 0.90):
        d = decide(gate, "r2", 0.8, candidate, 0.90)
        assert d["passed"] and not d["registered"]
        assert "does not beat" in d["reason"] and "champion kept" in d["reason"]


def test_lower_is_better_metrics(gate):
    assert decide(gate, "rmse", 4.0, 3.0, None)["registered"]
    assert not decide(gate, "rmse", 4.0, 4.5, None)["passed"]
    assert decide(gate, "mae", 2.0, 1.5, 1.8)["registered"]
    assert not decide(gate, "mse", 10.0, 5.0, 4.0)["registered"]
    assert "(<= 4)" in decide(gate, "rmse", 4.0, 4.5, None)["reason"]
    assert decide(gate, "log_loss", 0.5, 0.2, 0.3, task="classification")["registered"]
    assert not decide(gate, "log_loss", 0.5, 0.6, None, task="classification")["passed"]


def test_classification_metrics_go_up(gate):
    assert decide(gate, "roc_auc", 0.9, 0.97, 0.95, task="classification")["registered"]
    d = decide(gate, "f1", 0.9, 0.93, 0.95, task="classification")
    assert d["passed"] and not d["registered"]


def test_nan_candidate_fails(gate):
    d = decide(gate, "r2", 0.5, math.nan, None)
    assert not d["passed"] and not d["registered"]


def test_decision_carries_both_metrics(gate):
    d = decide(gate, "r2", 0.5, 0.7, 0.6)
    assert (d["metric"], d["candidate"], d["champion"], d["threshold"]) == ("r2", 0.7, 0.6, 0.5)


def test_a_metric_of_another_task_is_rejected(gate):
    with pytest.raises(gate.GateError, match="regression models have no metric 'roc_auc'"):
        decide(gate, "roc_auc", 0.5, 0.7, None)
