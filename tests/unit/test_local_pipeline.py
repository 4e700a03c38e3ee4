"""The local platform's pipeline binding: which data asset, names and gate reach the pipeline,
and how the outputs are read back."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlops.config import load_config
from mlops.naming import run_names
from mlops.paths import local_workspace
from mlops.platform.local.data import DataAssetError, register_dataset
from mlops.platform.local.pipeline import (
    data_purpose,
    pipeline_inputs,
    read_decision,
    read_metrics,
)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def setup(tmp_path):
    config = load_config(ROOT)
    workspace = local_workspace(config.infra_env("dev"), tmp_path)
    workspace.data_store.mkdir(parents=True)
    return config, workspace


def register_all(workspace, entry, tmp_path):
    uris = {}
    for dataset in entry.data.datasets:
        folder = tmp_path / dataset.name
        folder.mkdir()
        (folder / "rows.csv").write_text(f"{dataset.name}\n1\n")
        uris[dataset.purpose] = register_dataset(workspace.data_store, dataset, folder).uri
    return uris


def test_pr_trains_on_pr_data_and_dev_on_training_data(setup, tmp_path):
    config, workspace = setup
    model = config.model_names[0]
    uris = register_all(workspace, config.entry(model, "pr"), tmp_path)
    for env, purpose in (("pr", "pr_data"), ("dev", "training_data")):
        entry = config.entry(model, env)
        names = run_names(entry, branch="feature/x", build_id="7")
        inputs = pipeline_inputs(workspace, entry, names)
        assert data_purpose(env) == purpose
        assert inputs == {"raw_data": uris[purpose], "model_name": names.model_name,
                          "gate_metric": entry.gate_metric,
                          "gate_threshold": entry.gate_threshold}


def test_unregistered_data_says_what_to_run(setup):
    config, workspace = setup
    entry = config.entry(config.model_names[0], "pr")
    with pytest.raises(DataAssetError, match="register_data"):
        pipeline_inputs(workspace, entry, run_names(entry, branch="b", build_id="1"))


def test_metrics_and_decision_are_read_from_the_outputs(tmp_path):
    (tmp_path / "metrics.json").write_text(json.dumps({"r2": 0.9, "rmse": 2, "mae": 1,
                                                       "mse": 4, "rows": 10}))
    assert read_metrics(tmp_path, "regression") == {"r2": 0.9, "rmse": 2.0, "mae": 1.0, "mse": 4.0}
    (tmp_path / "metrics.json").write_text(json.dumps({"accuracy": 0.9, "f1": 0.8, "roc_auc": 0.95,
                                                       "log_loss": 0.2, "task": "classification"}))
    assert read_metrics(tmp_path, "classification") == {"accuracy": 0.9, "f1": 0.8,
                                                        "roc_auc": 0.95, "log_loss": 0.2}
    (tmp_path / "decision.json").write_text(json.dumps({
        "passed": True, "registered": False, "reason": "kept", "metric": "r2",
        "candidate": 0.9, "champion": 0.95, "model_version": None}))
    gate = read_decision(tmp_path)
    assert (gate.passed, gate.registered, gate.champion, gate.model_version) == \
        (True, False, 0.95, None)
    (tmp_path / "decision.json").write_text("{broken")
    with pytest.raises(Exception, match="gate decision .*decision.json: cannot be read"):
        read_decision(tmp_path)
