"""Approval on the local platform: tags on the champion version in a SQLite MLflow registry."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mlops.config import load_config
from mlops.naming import RunNames
from mlops.paths import local_workspace
from mlops.platform.local.approval import approve
from mlops.platform.local.endpoints import NoChampionError

pytestmark = pytest.mark.integration


def test_champion_version_is_tagged_for_production(tmp_path):
    from mlflow import MlflowClient

    config = load_config()
    workspace = local_workspace(config.infra_env("dev"), tmp_path)
    (workspace.root / "mlflow").mkdir(parents=True)
    entry = config.entry("nyc_taxi", "dev")
    names = RunNames("exp", "run", "approval_model", "main", "build-42")
    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    with pytest.raises(NoChampionError, match="'approval_model' has no 'champion'"):
        approve(workspace, entry, names, "ada")
    client.create_registered_model("approval_model")
    for _ in range(2):
        client.create_model_version("approval_model", source=str(tmp_path))
    client.set_registered_model_alias("approval_model", "champion", "1")

    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    result = approve(workspace, entry, names, "ada", now=when)

    assert result == {"model": "approval_model", "version": "1", "stage": "production",
                      "approved_by": "ada", "approved_build": "build-42",
                      "approved_at": "2026-01-02T03:04:05+00:00"}
    assert client.get_model_version("approval_model", "1").tags == {
        "stage": "production", "approved_by": "ada", "approved_build": "build-42",
        "approved_at": "2026-01-02T03:04:05+00:00"}
    assert client.get_model_version("approval_model", "2").tags == {}
