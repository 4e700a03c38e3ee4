"""Pure parts of the online deployer: slot alternation, fingerprints, smoke-test checks, the
deployment environment."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlops.serving.client import Reply
from mlops.serving.online import DeploymentError, OnlineSpec, _next_slot, check_predictions


@pytest.mark.parametrize(("current", "first", "expected"), [
    (None, "blue", "blue"), ("blue", "blue", "green"), ("green", "blue", "blue"),
    (None, "main", "main"), ("main", "main", "blue"), ("blue", "main", "green")])
def test_slots_alternate(current, first, expected):
    assert _next_slot(current, first) == expected


def _spec(tmp_path: Path, version="1", env=None) -> OnlineSpec:
    return OnlineSpec("ep-1", "m", "m_model_dev", version, tmp_path, tmp_path / "code",
                      tmp_path / "sample.json", environment=env or {})


def test_fingerprint_changes_with_version_code_and_environment(tmp_path):
    (tmp_path / "code").mkdir()
    base = _spec(tmp_path).fingerprint()
    assert _spec(tmp_path).fingerprint() == base
    assert _spec(tmp_path, version="2").fingerprint() != base
    assert _spec(tmp_path, env={"WORKER_COUNT": "2"}).fingerprint() != base
    (tmp_path / "code" / "score.py").write_text("x = 2\n")  # the model's own script now
    assert _spec(tmp_path).fingerprint() != base


def test_worker_count_follows_the_cores_unless_configured(tmp_path):
    cores = len(os.sched_getaffinity(0))
    env = _spec(tmp_path).deployment_env(tmp_path)
    assert env["WORKER_COUNT"] == str(cores) and env["OMP_NUM_THREADS"] == "1"
    assert _spec(tmp_path, env={"WORKER_COUNT": "3"}).deployment_env(tmp_path)[
        "WORKER_COUNT"] == "3"


def test_smoke_check_wants_one_prediction_per_row(tmp_path):
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"input_data": [{"a": 1}, {"a": 2}]}))
    assert check_predictions(Reply(200, b'{"predictions": [1, 2]}'), sample, "ep") == [1, 2]
    with pytest.raises(DeploymentError, match="sent 2 rows, got 1 predictions"):
        check_predictions(Reply(200, b'{"predictions": [1]}'), sample, "ep")
    with pytest.raises(DeploymentError, match="HTTP 400"):
        check_predictions(Reply(400, b'{"message": "bad"}'), sample, "ep")
    with pytest.raises(DeploymentError, match="no 'predictions'"):
        check_predictions(Reply(200, b'{"result": 1}'), sample, "ep")
    split = tmp_path / "split.json"
    split.write_text(json.dumps({"input_data": {"columns": ["a"], "data": [[1], [2], [3]]}}))
    with pytest.raises(DeploymentError, match="sent 3 rows, got 2 predictions"):
        check_predictions(Reply(200, b'{"predictions": [1, 2]}'), split, "ep")
