"""Clean-up on Azure ML at the SDK boundary: what would be archived, and what never is."""

from __future__ import annotations

import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
from azure.ai.ml.entities import Model

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import FakeMLClient, azure_workspace  # noqa: E402

from mlops.config import load_config  # noqa: E402
from mlops.platform.azure import client as azure_client  # noqa: E402
from mlops.platform.azure.cleanup import cleanup  # noqa: E402

NAME = "nyc_taxi_model_dev_main"


@pytest.fixture
def fake(monkeypatch):
    fake = FakeMLClient()
    monkeypatch.setattr(azure_client, "_ml_client", lambda workspace: fake)
    versions = [Model(name=NAME, version=str(v), tags={}) for v in range(1, 7)]
    versions[1].tags = {"factory.champion": "true"}
    versions[2].tags = {"stage": "production"}
    fake.models.list.side_effect = lambda name=None, **_: (
        versions if name == NAME else [] if name else [SimpleNamespace(name=NAME),
                                                      SimpleNamespace(name="other_model")])

    def job(name, experiment, status, created):
        return SimpleNamespace(name=name, experiment_name=experiment, status=status,
                               creation_context=SimpleNamespace(created_at=created))

    fake.jobs.list.return_value = [
        job("j1", "nyc_taxi_experiment_pr_old", "Completed", "2026-11-01"),
        job("j2", "nyc_taxi_experiment_pr_running", "Running", "2026-11-02"),
        job("j3", "nyc_taxi_experiment_pr_new", "Completed", "2026-11-30"),
        job("j4", "london_taxi_experiment_pr_x", "Completed", "2026-10-01"),
    ]
    return fake


def _entries():
    config = load_config()
    return [config.entry("nyc_taxi", env) for env in ("pr", "dev")]


def test_archives_old_versions_and_finished_old_pr_jobs(fake):
    result = cleanup(azure_workspace(), _entries(), keep=1)
    assert sorted(v for _, v in result.removed_versions) == ["1", "4", "5"]
    archived = sorted(c.kwargs["version"] for c in fake.models.archive.call_args_list)
    assert archived == ["1", "4", "5"]
    assert {c.kwargs["name"] for c in fake.models.archive.call_args_list} == {NAME}
    # the newest PR experiment stays, the running one stays, another model's is not touched
    assert result.removed_experiments == ("nyc_taxi_experiment_pr_old",)
    assert [c.kwargs for c in fake.jobs.archive.call_args_list] == [{"name": "j1"}]


def test_check_sends_no_change(fake):
    result = cleanup(azure_workspace(), _entries(), keep=1, dry_run=True)
    assert result.removed_versions and result.removed_experiments
    fake.models.archive.assert_not_called()
    fake.jobs.archive.assert_not_called()
