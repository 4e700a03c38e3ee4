"""`nox -s cleanup` on the local platform, against a real MLflow SQLite registry: old versions
go, the champion, approved and newest ones stay; PR experiments beyond the newest go unless a
build is still running in them; --check changes nothing."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from mlops.config import load_config
from mlops.platform.local.cleanup import cleanup
from mlops.records import Cluster, Workspace

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def store(tmp_path):
    import mlflow
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri, uri)
    entries = [load_config(REPO).entry("nyc_taxi", env) for env in ("pr", "dev")]
    dev = entries[1]
    name = f"nyc_taxi_{dev.model_base_name}_dev_main"
    client.create_registered_model(name)
    experiment = client.create_experiment("registry", artifact_location=str(tmp_path / "a"))
    run = client.create_run(experiment).info.run_id
    for _ in range(8):
        client.create_model_version(name, source=f"runs:/{run}/model", run_id=run)
    client.set_registered_model_alias(name, "champion", "2")  # an old champion stays
    client.set_model_version_tag(name, "3", "stage", "production")  # so does an approved one
    pr = entries[0]
    for index in range(4):  # four PR branches, oldest first
        pr_experiment = client.create_experiment(
            f"nyc_taxi_{pr.experiment_base_name}_pr_branch-{index}",
            artifact_location=str(tmp_path / f"e{index}"))
        pr_run = client.create_run(pr_experiment).info.run_id
        if index != 0:  # branch-0 still has a build running
            client.set_terminated(pr_run, "FINISHED")
    workspace = Workspace("local", "ws", "local", Cluster("c", "s", 1), Cluster("b", "s", 1),
                          uri, uri, root=tmp_path)
    mlflow.set_tracking_uri(None)
    return client, workspace, entries, name


def _versions(client, name):
    return sorted(int(v.version) for v in client.search_model_versions(f"name = '{name}'"))


def test_check_reports_and_changes_nothing(store):
    client, workspace, entries, name = store
    result = cleanup(workspace, entries, keep=2, dry_run=True)
    assert result.dry_run and result.removed_versions
    assert _versions(client, name) == list(range(1, 9))
    assert len(client.search_experiments()) == 6  # Default, registry and the four PR ones


def test_old_versions_and_finished_pr_experiments_go_protected_ones_stay(store):
    client, workspace, entries, name = store
    result = cleanup(workspace, entries, keep=2, dry_run=False)
    assert _versions(client, name) == [2, 3, 7, 8]  # champion, approved, the newest two
    assert sorted(v for _, v in result.removed_versions) == ["1", "4", "5", "6"]
    why = {version: reason for _, version, reason in result.kept_versions}
    assert why == {"2": "champion", "3": "approved for production", "7": "among the newest",
                   "8": "among the newest"}
    # the two most recent PR experiments stay; of the older, the one with a running build too
    left = sorted(e.name.rsplit("_", 1)[-1] for e in client.search_experiments()
                  if "_pr_" in e.name)
    assert left == ["branch-0", "branch-2", "branch-3"]
    assert result.removed_experiments == (f"nyc_taxi_{entries[0].experiment_base_name}"
                                          f"_pr_branch-1",)
    # the champion still resolves
    assert str(client.get_model_version_by_alias(name, "champion").version) == "2"


def test_keeping_more_than_there_is_removes_nothing(store):
    client, workspace, entries, name = store
    entries = [dataclasses.replace(e) for e in entries]
    result = cleanup(workspace, entries, keep=100, dry_run=False)
    assert result.removed_versions == () and result.removed_experiments == ()
    assert _versions(client, name) == list(range(1, 9))
