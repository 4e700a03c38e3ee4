from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import INSTALL_NOX
from mlops.cicd.definitions import pipeline_definitions
from mlops.cicd.generate import render_all
from mlops.config import load_config


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def workflows(config) -> dict[str, dict[str, Any]]:
    files = render_all(config)
    return {d.name: yaml.safe_load(files[d.github_path]) for d in pipeline_definitions(config)}


def test_triggers_use_the_definitions_filters_and_development_branch(config, workflows):
    branch = config.infra_env("dev").development_branch
    for definition in pipeline_definitions(config):
        on = workflows[definition.name]["on"]
        event = "pull_request" if definition.kind == "pr" else "push"
        assert set(on) == {event, "workflow_dispatch"}, definition.name
        assert on[event]["branches"] == [branch]
        assert on[event]["paths"] == trigger_globs(definition.path_filters)


def test_oidc_permissions_and_cancel_in_progress(workflows):
    for name, workflow in workflows.items():
        assert workflow["name"] == name
        assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
        assert workflow["concurrency"]["cancel-in-progress"] is True
        for job in workflow["jobs"].values():
            assert "permissions" not in job  # nothing widens the read-only default


def test_every_working_step_is_a_nox_session_after_login(workflows):
    pinned = re.compile(r"^[\w.-]+/[\w.-]+@v\d+$")
    for name, workflow in workflows.items():
        for job_id, job in workflow["jobs"].items():
            uses = [step["uses"] for step in job["steps"] if "uses" in step]
            assert all(pinned.match(u) for u in uses), (name, uses)
            runs = [step for step in job["steps"] if "run" in step]
            assert runs[0]["run"] == INSTALL_NOX
            assert all(step["run"].startswith("nox -s ") and "\n" not in step["run"]
                       for step in runs[1:]), (name, job_id)
            login = next(i for i, s in enumerate(job["steps"])
                         if s.get("uses", "").startswith("azure/login@"))
            first_nox = next(i for i, s in enumerate(job["steps"])
                             if s.get("run", "").startswith("nox -s"))
            assert login < first_nox
            assert "client-secret" not in job["steps"][login]["with"]


def test_ci_workflow_builds_deploys_then_waits_for_production_approval(workflows):
    jobs = workflows["nyc_taxi_ci_dev_pipeline"]["jobs"]
    assert list(jobs) == ["build", "approve"]
    runs = {job_id: [s["run"] for s in job["steps"] if s.get("run", "").startswith("nox")]
            for job_id, job in jobs.items()}
    # ci_build without --no-wait waits on the runner, then deploys and smoke-tests itself
    assert runs == {
        "build": ["nox -s ci_build -- nyc_taxi --target azure",
                  "nox -s invoke -- nyc_taxi --target azure",
                  "nox -s cancel_job -- nyc_taxi --target azure"],
        "approve": ["nox -s approve -- nyc_taxi --target azure"]}
    steps = jobs["build"]["steps"]
    assert [s.get("if") for s in steps[-3:]] == [None, None, "cancelled()"]
    assert jobs["approve"]["needs"] == "build"
    assert jobs["approve"]["environment"] == "production"
    assert "environment" not in jobs["build"]


def test_pr_infra_and_data_workflows_call_their_session(workflows):
    def calls(name: str) -> list[str]:
        return [s["run"] for job in workflows[name]["jobs"].values() for s in job["steps"]
                if s.get("run", "").startswith("nox")]

    assert calls("london_taxi_pr_dev_pipeline") == ["nox -s pr_build -- london_taxi --target azure"]
    assert calls("infra_provision_pipeline") == ["nox -s provision -- --target azure"]
    assert calls("data_registration_pipeline") == ["nox -s register_data -- --target azure"]
