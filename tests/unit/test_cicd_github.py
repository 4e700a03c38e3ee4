"""The generated GitHub workflows and their composite set-up action, checked against how GitHub
Actions and azure/login behave (each rule names its source)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from mlops.cicd import github
from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import (
    APPROVAL_VARIABLES,
    FINISHED_VARIABLE,
    INSTALL_NOX,
    JOB_NAME_VARIABLE,
    PREPARE,
    VERSION_VARIABLE,
    WAIT_SLICE_MINUTES,
)
from mlops.cicd.definitions import GITHUB, GITHUB_SETUP_ACTION, definitions_for
from mlops.cicd.generate import render_all
from mlops.config import load_config

# An Azure access token lives 60-90 minutes ("a random value ranging between 60-90 minutes",
# learn.microsoft.com/entra/identity-platform/access-tokens, token lifetime). After OIDC login
# the CLI cannot get a new one: the GitHub ID token it logged in with expires within minutes
# (Azure/login#441: 5 minutes; Azure/login#180 and #372, AADSTS700024 "Client assertion is not
# within its valid time range"; Azure/azure-cli#28708: "Azure CLI cannot get a new OIDC token
# after the OIDC token expires"). So no Azure work may run longer than this after its login.
ACCESS_TOKEN_MIN_MINUTES = 60
# "Each job in a workflow can run for up to 6 hours of execution time" on GitHub-hosted runners
# (docs.github.com/actions/learn-github-actions/usage-limits-billing-and-administration).
HOSTED_JOB_MAX_MINUTES = 360
WAITING_SESSIONS = ("pr_build", "ci_build")
SETUP_ACTIONS = ("actions/setup-python@", "actions/setup-node@", "hashicorp/setup-terraform@")


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def files(config) -> dict[str, str]:
    return render_all(config)


@pytest.fixture(scope="module")
def workflows(config, files) -> dict[str, dict[str, Any]]:
    return {d.name: yaml.safe_load(files[d.github_path]) for d in definitions_for(config, GITHUB)}


def _is_login(step: dict[str, Any]) -> bool:
    return step.get("uses", "").startswith("azure/login@")


def _nox(step: dict[str, Any]) -> str:
    return step.get("run", "") if step.get("run", "").startswith("nox -s ") else ""


def _step_jobs(workflow: dict[str, Any]):
    """(id, job) of the jobs that run steps (not the ones calling a reusable workflow)."""
    return [(job_id, job) for job_id, job in workflow["jobs"].items() if "uses" not in job]


def test_triggers_use_the_definitions_filters_and_development_branch(config, workflows):
    branch = config.infra_env("dev").development_branch
    for definition in definitions_for(config, GITHUB):
        if definition.kind == "cd":  # after its CI workflow (below), not on paths
            continue
        on = workflows[definition.name]["on"]
        if definition.kind == "pr_model":  # only ever called, once per changed model
            assert set(on) == {"workflow_call"}
            assert on["workflow_call"]["inputs"]["model"]["required"] is True
            continue
        if definition.kind == "pr_changed":  # every PR; the workflow itself picks the models
            assert on == {"pull_request": {"branches": [branch]}, "workflow_dispatch": {}}
            continue
        if definition.kind == "monitor":  # GitHub runs schedules on the default branch
            assert on == {"schedule": [{"cron": definition.schedule}], "workflow_dispatch": {}}
            assert definition.schedule == config.entry(definition.model, "dev").monitor_cron
            continue
        assert set(on) == {"push", "workflow_dispatch"}, definition.name
        assert on["push"]["branches"] == [branch]
        assert on["push"]["paths"] == trigger_globs(definition.path_filters)


def test_oidc_permissions_and_cancel_in_progress(workflows):
    for name, workflow in workflows.items():
        assert workflow["name"] == name
        assert workflow["permissions"] == {"contents": "read", "id-token": "write"}
        if "workflow_call" not in workflow["on"]:  # a called workflow runs in its caller's group
            # a promotion half done is never cancelled by the next one: they queue
            assert workflow["concurrency"]["cancel-in-progress"] is ("_cd_" not in name)
        for job in workflow["jobs"].values():
            assert "permissions" not in job  # nothing widens the read-only default


def test_setup_lives_once_in_the_composite_action_every_job_uses(files, workflows):
    action = yaml.safe_load(files[GITHUB_SETUP_ACTION])
    assert action["runs"]["using"] == "composite" and action["name"] and action["description"]
    steps = action["runs"]["steps"]
    assert [s["uses"].split("@")[0] + "@" for s in steps if "uses" in s] == list(SETUP_ACTIONS)
    runs = [s for s in steps if "run" in s]
    assert [s["run"] for s in runs] == [INSTALL_NOX, PREPARE]
    assert all(s["shell"] == "bash" for s in runs)  # a composite run step must name its shell
    local = "./" + GITHUB_SETUP_ACTION.removesuffix("/action.yml")
    for name, workflow in workflows.items():
        for job_id, job in _step_jobs(workflow):
            checkout, setup = job["steps"][:2]
            # a local action is only on the runner after the checkout (which fetches the whole
            # history where a job compares with the development branch)
            assert checkout["uses"] == "actions/checkout@v4"
            assert checkout["with"] in ({"persist-credentials": False},
                                        {"persist-credentials": False, "fetch-depth": 0})
            assert setup == {"uses": local}, (name, job_id)
            rest = job["steps"][2:]
            assert not [s for s in rest if s.get("uses", "").startswith(SETUP_ACTIONS)
                        or s.get("run") == INSTALL_NOX], (name, job_id)


def test_every_working_step_is_a_nox_session_and_every_action_is_pinned(workflows):
    pinned = re.compile(r"^([\w.-]+/[\w.-]+@v\d+|\./[\w./-]+)$")
    for name, workflow in workflows.items():
        for job_id, job in _step_jobs(workflow):
            for step in job["steps"]:
                if "uses" in step:
                    assert pinned.match(step["uses"]), (name, step["uses"])
                else:
                    assert _nox(step) and "\n" not in step["run"], (name, job_id, step)
                if _is_login(step):
                    assert "client-secret" not in step["with"]


def test_every_azure_session_follows_a_login_in_its_job(workflows):
    for name, workflow in workflows.items():
        for job_id, job in _step_jobs(workflow):
            logged_in = False
            for step in job["steps"]:
                logged_in = logged_in or _is_login(step)
                if _nox(step) and "--target azure" in step["run"]:
                    assert logged_in, (name, job_id, step["run"])


def test_no_step_waits_on_an_azure_ml_job_except_bounded_slices(workflows):
    for name, workflow in workflows.items():
        for _, job in _step_jobs(workflow):
            for step in job["steps"]:
                call = _nox(step).split()
                if call and call[2] in WAITING_SESSIONS and "--list" not in call:
                    assert "--no-wait" in call, f"{name}: {step['run']} waits on the runner"
                if call and call[2] == "wait_job":
                    assert step["timeout-minutes"] < ACCESS_TOKEN_MIN_MINUTES


def _gate_job(workflows, name: str = "nyc_taxi_ci_dev_pipeline") -> dict[str, Any]:
    return workflows[name]["jobs"]["gate"]


def test_slices_fit_the_token_lifetime_and_the_hosted_job_limit(workflows):
    gate = _gate_job(workflows)
    slices = [s for s in gate["steps"] if _nox(s).startswith("nox -s wait_job ")]
    assert len(slices) == github.WAIT_SLICES >= 5  # at least 4 hours of waiting
    assert WAIT_SLICE_MINUTES < github.SLICE_TIMEOUT_MINUTES < ACCESS_TOKEN_MIN_MINUTES
    assert gate["timeout-minutes"] <= HOSTED_JOB_MAX_MINUTES
    assert len(slices) * github.SLICE_TIMEOUT_MINUTES <= gate["timeout-minutes"] - 20


_CONDITION = re.compile(r"^steps\.(\w+)\.outputs\.(\w+) (==|!=) '(\w*)'$")


def _run(steps: list[dict[str, Any]], finishes_in: int | None, cancelled: bool = False,
         fails_in: int | None = None) -> list[str]:
    """Which steps GitHub runs, evaluating each `if:` the generator writes: a slice publishes
    finished=true/false (a skipped step publishes nothing); a step's condition without a status
    function implies success() (docs.github.com, expressions: status check functions)."""
    outputs: dict[str, dict[str, str]] = {}
    ran, failed, slice_no = [], False, 0
    for step in steps:
        condition = step.get("if")
        if condition == "cancelled()":
            go = cancelled
        elif condition is None:
            go = not failed and not cancelled
        else:
            match = _CONDITION.match(condition)
            assert match, f"condition the simulation does not know: {condition}"
            value = outputs.get(match[1], {}).get(match[2], "")  # skipped: no output
            go = not failed and not cancelled and ((value == match[4]) == (match[3] == "=="))
        if not go:
            continue
        label = "login" if _is_login(step) else _nox(step).split()[2]
        ran.append(label)
        if label == "wait_job":
            slice_no += 1
            done = finishes_in is not None and slice_no >= finishes_in
            outputs[step["id"]] = {FINISHED_VARIABLE.lower(): "true" if done else "false"}
            if fails_in == slice_no:
                failed = True
    return ran


@pytest.mark.parametrize("finishes_in", [1, 2, 4])
def test_each_slice_is_preceded_by_a_fresh_login_and_slices_stop_once_finished(workflows,
                                                                               finishes_in):
    steps = _gate_job(workflows)["steps"][2:]
    ran = _run(steps, finishes_in)
    assert ran == ["login", "wait_job"] * finishes_in + ["login", "gate"]


def test_a_job_outlasting_every_slice_reaches_the_gate_which_fails_it(workflows):
    ran = _run(_gate_job(workflows)["steps"][2:], finishes_in=None)
    assert ran == ["login", "wait_job"] * github.WAIT_SLICES + ["login", "gate"]


def test_a_failed_job_stops_the_slices_and_the_gate(workflows):
    ran = _run(_gate_job(workflows)["steps"][2:], finishes_in=2, fails_in=2)
    assert ran == ["login", "wait_job", "login", "wait_job"]


def test_a_cancelled_run_logs_in_again_and_cancels_the_azure_ml_job(workflows):
    for job_id in ("submit", "gate"):
        steps = workflows["model_pr_build"]["jobs"][job_id]["steps"][2:]
        assert _run(steps, finishes_in=None, cancelled=True) == ["login", "cancel_job"]
        cancel = steps[-1]
        assert cancel["run"] == "nox -s cancel_job -- ${{ inputs.model }} --target azure"
        assert cancel["env"][JOB_NAME_VARIABLE].endswith("outputs.azureml_job_name }}")


@pytest.mark.parametrize(("pipeline", "session", "model"), [
    ("model_pr_build", "pr_build", "${{ inputs.model }}"),
    ("london_taxi_ci_dev_pipeline", "ci_build", "london_taxi")])
def test_builds_submit_then_the_gate_job_reads_the_published_job(workflows, pipeline, session,
                                                                 model):
    jobs = workflows[pipeline]["jobs"]
    submit = jobs["submit"]
    [step] = [s for s in submit["steps"] if s.get("id") == "submit"]
    assert step["run"] == f"nox -s {session} -- {model} --target azure --no-wait"
    # ci_build/pr_build write azureml_job_name to $GITHUB_OUTPUT (mlops.cicd.outputs)
    assert submit["outputs"] == {"azureml_job_name": "${{ steps.submit.outputs.azureml_job_name }}"}
    gate = jobs["gate"]
    assert gate["needs"] == "submit"
    assert gate["env"][JOB_NAME_VARIABLE] == "${{ needs.submit.outputs.azureml_job_name }}"
    assert "if" not in gate
    [gate_step] = [s for s in gate["steps"] if s.get("id") == "gate"]
    assert gate_step["run"] == f"nox -s gate -- {model} --target azure"
    assert gate["outputs"] == {name.lower(): f"${{{{ steps.gate.outputs.{name.lower()} }}}}"
                               for name in (*APPROVAL_VARIABLES, VERSION_VARIABLE)}


def test_deploy_needs_the_gate_and_the_approval_shows_its_metadata(workflows):
    jobs = workflows["nyc_taxi_ci_dev_pipeline"]["jobs"]
    assert list(jobs) == ["submit", "gate", "deploy", "approve"]
    calls = {job_id: [_nox(s) for s in job["steps"] if _nox(s)] for job_id, job in jobs.items()}
    assert calls["deploy"] == ["nox -s deploy -- nyc_taxi --target azure",
                               "nox -s invoke -- nyc_taxi --target azure"]
    # the version this run registered (what the reviewers saw), not a newer champion
    assert calls["approve"] == ["nox -s approve -- nyc_taxi --target azure --version "
                                "${{ needs.gate.outputs.registered_version }}"]
    # a failed gate skips deploy and approve: no `if:` overrides the implied success()
    assert jobs["deploy"]["needs"] == "gate" and "if" not in jobs["deploy"]
    assert jobs["approve"]["needs"] == ["gate", "deploy"] and "if" not in jobs["approve"]
    # reviewers approve the environment on the run page, beside the gate job's summary; the
    # environment links the Azure ML job
    assert jobs["approve"]["environment"] == {
        "name": "production", "url": "${{ needs.gate.outputs.azureml_job_url }}"}
    assert all("environment" not in jobs[j] for j in ("submit", "gate", "deploy"))


def test_infra_and_data_workflows_call_their_session(workflows):
    def calls(name: str) -> list[str]:
        return [_nox(s) for job in workflows[name]["jobs"].values() for s in job["steps"]
                if _nox(s)]

    assert calls("infra_provision_pipeline") == ["nox -s provision -- --target azure"]
    assert calls("infra_provision_prod_pipeline") == [
        "nox -s provision -- --target azure --env prod"]
    prod = workflows["infra_provision_prod_pipeline"]["jobs"]["provision"]
    assert prod["env"]["AZURE_CLIENT_ID"] == "${{ secrets.AZURE_INFRA_CLIENT_ID_PROD }}"
    assert calls("data_registration_pipeline") == ["nox -s register_data -- --target azure"]


def test_pull_requests_build_exactly_the_models_the_change_touches(config, workflows):
    """GitHub has no path-filtered required checks: one workflow lists the touched models with
    the branch-policy rule (`pr_build -- --changed`) and calls the per-model build for each."""
    jobs = workflows["pr_build_changed_models"]["jobs"]
    branch = config.infra_env("dev").development_branch
    [listing] = [s for s in jobs["changes"]["steps"] if s.get("id") == "changes"]
    assert listing["run"] == f"nox -s pr_build -- --changed origin/{branch} --list"
    assert jobs["changes"]["steps"][0]["with"]["fetch-depth"] == 0  # BASE must be there
    assert jobs["changes"]["outputs"] == {"models": "${{ steps.changes.outputs.models }}"}
    build = jobs["build"]
    assert build["uses"] == "./.github/workflows/model_pr_build.yml"
    assert build["strategy"]["matrix"]["model"] == "${{ fromJSON(needs.changes.outputs.models) }}"
    assert build["with"] == {"model": "${{ matrix.model }}"} and build["secrets"] == "inherit"
    assert build["if"] == "needs.changes.outputs.models != '[]'"  # nothing touched: no build
    assert not [name for name in workflows if name.endswith("_pr_dev_pipeline")]


def test_cd_follows_a_successful_ci_run_and_waits_for_the_production_reviewers(config,
                                                                              workflows):
    """workflow_run fires when the CI workflow completes, whatever its conclusion, so the job
    checks it (docs.github.com, "Events that trigger workflows": workflow_run, "Running a
    workflow based on the conclusion of another workflow"); a job referencing an environment
    waits for its required reviewers (docs.github.com, "Deployments and environments")."""
    branch = config.infra_env("dev").development_branch  # the branch CI builds
    for model in config.model_names:
        workflow = workflows[f"{model}_cd_prod_pipeline"]
        assert workflow["on"] == {"workflow_run": {
            "workflows": [f"{model}_ci_dev_pipeline"], "types": ["completed"],
            "branches": [branch]}, "workflow_dispatch": {}}
        [job] = workflow["jobs"].values()
        assert job["environment"] == {"name": "production"}
        assert job["if"] == ("github.event_name == 'workflow_dispatch' || "
                             "github.event.workflow_run.conclusion == 'success'")
        assert [_nox(s) for s in job["steps"] if _nox(s)] == [
            f"nox -s promote -- {model} --target azure --from dev --to prod",
            f"nox -s lineage -- {model} --target azure --env prod"]
        # prod's model pipelines: their own client id, not dev's
        login = next(s for s in job["steps"] if _is_login(s))
        assert login["with"]["client-id"] == "${{ secrets.AZURE_CLIENT_ID_PROD }}"
        assert job["env"]["AZURE_CLIENT_ID"] == "${{ secrets.AZURE_CLIENT_ID_PROD }}"
