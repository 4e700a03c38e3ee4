"""The registry gate's decision, as a pure function (mlops/steps/register.py)."""

from __future__ import annotations

import math

import pytest

from mlops.steps.register import GateError, decide, regression_metrics


def test_first_candidate_passing_the_threshold_is_registered():
    d = decide("r2", 0.8, 0.9, None)
    assert d["passed"] and d["registered"]
    assert "no champion" in d["reason"]


def test_candidate_below_threshold_is_neither_passed_nor_registered():
    d = decide("r2", 0.8, 0.79, None)
    assert not d["passed"] and not d["registered"]
    assert "fails the threshold (>= 0.8)" in d["reason"]


def test_better_candidate_replaces_the_champion():
    d = decide("r2", 0.8, 0.93, 0.90)
    assert d["passed"] and d["registered"]
    assert "beats the champion's 0.9000" in d["reason"]


def test_worse_or_equal_candidate_never_replaces_the_champion():
    for candidate in (0.85, 0.90):
        d = decide("r2", 0.8, candidate, 0.90)
        assert d["passed"] and not d["registered"]
        assert "does not beat" in d["reason"] and "champion kept" in d["reason"]


def test_lower_is_better_metrics():
    assert decide("rmse", 4.0, 3.0, None)["registered"]
    assert not decide("rmse", 4.0, 4.5, None)["passed"]
    assert decide("mae", 2.0, 1.5, 1.8)["registered"]
    assert not decide("mse", 10.0, 5.0, 4.0)["registered"]
    assert "(<= 4)" in decide("rmse", 4.0, 4.5, None)["reason"]


def test_nan_candidate_fails():
    d = decide("r2", 0.5, math.nan, None)
    assert not d["passed"] and not d["registered"]


def test_decision_carries_both_metrics():
    d = decide("r2", 0.5, 0.7, 0.6)
    assert (d["metric"], d["candidate"], d["champion"], d["threshold"]) == ("r2", 0.7, 0.6, 0.5)


def test_unknown_metric_is_rejected():
    with pytest.raises(GateError, match="gate_metric 'auc'"):
        decide("auc", 0.5, 0.7, None)


def test_regression_metrics():
    m = regression_metrics([1.0, 2.0, 3.0], [1.0, 2.0, 5.0])
    assert m["mse"] == pytest.approx(4 / 3)
    assert m["rmse"] == pytest.approx(math.sqrt(4 / 3))
    assert m["mae"] == pytest.approx(2 / 3)
    assert m["r2"] == pytest.approx(1 - 4 / 2)
