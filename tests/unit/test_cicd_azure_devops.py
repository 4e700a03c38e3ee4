"""The generated Azure DevOps pipelines, checked against how Azure Pipelines and the Azure ML
extension behave (each rule names its source)."""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from mlops.cicd import azure_devops
from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import (
    APPROVAL_VARIABLES,
    INSTALL_NOX,
    INSTALL_TERRAFORM,
    JOB_NAME_VARIABLE,
    PREPARE,
    VERSION_VARIABLE,
)
from mlops.cicd.definitions import AZURE, AZURE_SETUP_TEMPLATE, definitions_for
from mlops.cicd.generate import render_all
from mlops.config import load_config
from mlops.plugins import model_filters

# Server (agentless) jobs run only agentless tasks: the built-in ones Azure Pipelines lists for
# agentless jobs (learn.microsoft.com/azure/devops/pipelines/process/phases, "Agentless jobs
# supported tasks": Delay, Invoke Azure Function, Invoke REST API, Manual Validation, Publish To
# Azure Service Bus, Query Azure Monitor Alerts, Query Work Items) and extension tasks built to
# run on the server, such as the Azure ML extension's AzureMLJobWaitTask (its docs: "runs on a
# server job").
AGENTLESS_TASKS = {"Delay@1", "AzureFunction@1", "InvokeRESTAPI@1", "ManualValidation@0",
                   "ManualValidation@1", "PublishToAzureServiceBus@2", "AzureMonitor@1",
                   "queryWorkItems@0", "AzureMLJobWaitTask@1"}
# "The Azure Machine Learning job wait task can wait for a maximum of two days. This limit is a
# hard limit set by Azure DevOps pipelines." (how-to-devops-machine-learning, step 6); "The
# maximum time for a server job is 30 days" (phases, "Server jobs").
WAIT_TASK_MAX_MINUTES = 2 * 24 * 60
SERVER_JOB_MAX_MINUTES = 30 * 24 * 60
# Its four inputs, as documented there.
WAIT_TASK_INPUTS = {"serviceConnection", "resourceGroupName", "azureMLWorkspaceName",
                    "azureMLJobName"}
# Sessions that wait on an Azure ML job unless told --no-wait. An agent job must never run one:
# AzureCLI@2 with workload identity federation logs in once per task and cannot renew the token;
# after about an hour Azure answers AADSTS700024 ("Client assertion is not within its valid time
# range"; learn.microsoft.com/azure/devops/pipelines/release/troubleshoot-workload-identity,
# Azure/azure-cli#28708: "Azure CLI cannot get a new OIDC token after the OIDC token expires").
WAITING_SESSIONS = ("pr_build", "ci_build", "wait_job")
# Setup tasks: only the step template may hold them.
SETUP_TASKS = {"UsePythonVersion@0", "NodeTool@0", "UseNode@1"}


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def files(config) -> dict[str, str]:
    return render_all(config)


@pytest.fixture(scope="module")
def documents(config, files) -> dict[str, dict[str, Any]]:
    return {d.name: yaml.safe_load(files[d.azure_path]) for d in definitions_for(config, AZURE)}


def _stages(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return doc["stages"] if "stages" in doc else [{"stage": None, "jobs": doc["jobs"]}]


def _jobs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """Every job, a deployment job as {job: <name>, steps: <its strategy's steps>, ...}."""
    jobs = []
    for stage in _stages(doc):
        for job in stage["jobs"]:
            if "deployment" in job:
                job = {**job, "job": job["deployment"],
                       "steps": job["strategy"]["runOnce"]["deploy"]["steps"]}
            jobs.append(job)
    return jobs


def _by_name(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {job["job"]: job for job in _jobs(doc)}


def _is_server(job: dict[str, Any]) -> bool:
    return job.get("pool") == "server"


def _nox_calls(job: dict[str, Any]) -> list[str]:
    return [s["inputs"]["inlineScript"] for s in job["steps"] if s.get("task") == "AzureCLI@2"]


def _depends(item: dict[str, Any]) -> list[str]:
    value = item.get("dependsOn", [])
    return [value] if isinstance(value, str) else list(value)


def test_one_file_per_definition_with_its_environments_variable_group(config, documents):
    assert set(documents) == {d.name for d in definitions_for(config, AZURE)}
    for definition in definitions_for(config, AZURE):
        group = config.infra_env(definition.env).variable_group_name
        assert documents[definition.name]["variables"] == [{"group": group}], definition.name
    assert config.infra_env("dev").variable_group_name == "mlops_platform_dev_vg"
    envs = {d.env for d in definitions_for(config, AZURE)}
    assert envs == set(config.infra)  # every environment has pipelines (its infra one at least)


def test_path_filters_and_branch_equal_the_definitions(config, documents):
    branch = config.infra_env("dev").development_branch
    for definition in definitions_for(config, AZURE):
        if definition.kind == "cd":  # triggered by its CI pipeline, not by paths
            continue
        doc = documents[definition.name]
        if definition.kind == "monitor":
            continue  # scheduled, no trigger (test_monitor_pipelines_run_on_the_models_cron)
        trigger = doc["pr"] if definition.kind == "pr" else doc["trigger"]
        assert trigger["paths"]["include"] == trigger_globs(definition.path_filters)
        assert trigger["branches"]["include"] == [branch]
        other = "trigger" if definition.kind == "pr" else "pr"
        assert doc[other] == "none", definition.name
        if definition.model:  # the model's PATH_FILTERS from config/model_config.json
            assert definition.path_filters == model_filters(
                config.entry(definition.model, "pr").path_filters)
            assert f"mlops/{definition.model}/**" in trigger["paths"]["include"]


def test_setup_lives_once_in_the_step_template_every_agent_job_starts_with(files, documents):
    template = yaml.safe_load(files[AZURE_SETUP_TEMPLATE])
    steps = template["steps"]
    assert steps[0] == {"checkout": "self"}
    assert {s.get("task") for s in steps} >= {"UsePythonVersion@0", "NodeTool@0"}
    assert [s["script"] for s in steps if "script" in s] == [INSTALL_TERRAFORM, INSTALL_NOX,
                                                              PREPARE]
    reference = AZURE_SETUP_TEMPLATE.removeprefix(".azure-pipelines/")
    for name, doc in documents.items():
        for job in _jobs(doc):
            if _is_server(job):
                continue
            assert job["steps"][0] == {"template": reference}, (name, job["job"])
            rest = job["steps"][1:]
            assert not [s for s in rest if "script" in s or "checkout" in s
                        or s.get("task") in SETUP_TASKS], (name, job["job"])


def test_every_working_step_is_a_nox_session_under_the_service_connection(config, documents):
    for definition in definitions_for(config, AZURE):
        name, doc = definition.name, documents[definition.name]
        infra = config.infra_env(definition.env)  # each environment's own connections
        # the infrastructure pipeline has its own, privileged connection; no other uses it
        connection = (infra.infra_svc_connection if definition.kind == "infra"
                      else infra.azure_rm_svc_connection)
        for job in _jobs(doc):
            for step in job["steps"][0 if _is_server(job) else 1:]:
                if _is_server(job):
                    assert step["task"] in AGENTLESS_TASKS, (name, job["job"], step)
                    continue
                assert step["task"] == "AzureCLI@2", (name, step)
                assert step["inputs"]["inlineScript"].startswith("nox -s "), name
                assert "\n" not in step["inputs"]["inlineScript"]
                assert step["inputs"]["azureSubscription"] == connection, name
                # the federated token Terraform authenticates with (mlops.infra.credentials)
                assert step["inputs"]["addSpnToEnvironment"] is True


def test_no_agent_job_waits_on_an_azure_ml_job(documents):
    for name, doc in documents.items():
        for job in _jobs(doc):
            if _is_server(job):
                continue
            for call in _nox_calls(job):
                session = call.split()[2]
                assert session not in WAITING_SESSIONS or "--no-wait" in call.split(), \
                    f"{name}/{job['job']}: `{call}` would hold a workload-identity token " \
                    "past its lifetime; submit with --no-wait and wait agentlessly"


@pytest.mark.parametrize(("pipeline", "session"), [("nyc_taxi_pr_dev_pipeline", "pr_build"),
                                                   ("london_taxi_ci_dev_pipeline", "ci_build")])
def test_builds_submit_then_wait_agentlessly_on_the_job_they_published(config, documents,
                                                                       pipeline, session):
    infra = config.infra_env("dev")
    jobs = _by_name(documents[pipeline])
    submit = jobs["submit"]
    [submit_step] = [s for s in submit["steps"] if s.get("task") == "AzureCLI@2"]
    assert submit_step["inputs"]["inlineScript"].split()[2:4] == [session, "--"]
    assert submit_step["inputs"]["inlineScript"].endswith("--no-wait")
    wait = jobs["wait_for_azureml_job"]
    assert _is_server(wait) and _depends(wait) == ["submit"]
    # an output variable is read as dependencies.<job>.outputs['<step name>.<variable>']
    expected = f"$[ dependencies.submit.outputs['{submit_step['name']}.{JOB_NAME_VARIABLE}'] ]"
    assert wait["variables"] == {JOB_NAME_VARIABLE: expected}
    [task] = wait["steps"]
    assert task["task"] == "AzureMLJobWaitTask@1"
    assert set(task["inputs"]) == WAIT_TASK_INPUTS
    assert task["inputs"] == {"serviceConnection": infra.azure_rm_svc_connection,
                              "resourceGroupName": infra.resource_group_name,
                              "azureMLWorkspaceName": infra.workspace_name,
                              "azureMLJobName": f"$({JOB_NAME_VARIABLE})"}
    assert 0 < wait["timeoutInMinutes"] <= WAIT_TASK_MAX_MINUTES


def test_server_jobs_hold_only_agentless_tasks_within_their_time_limit(documents):
    for name, doc in documents.items():
        for job in _jobs(doc):
            tasks = {s.get("task") for s in job["steps"]}
            if _is_server(job):
                assert tasks <= AGENTLESS_TASKS, (name, job["job"])
                assert 0 < job["timeoutInMinutes"] <= SERVER_JOB_MAX_MINUTES
            else:  # ManualValidation "can only be used in an agentless job" (its task docs)
                assert not tasks & (AGENTLESS_TASKS - {None}), (name, job["job"])


@pytest.mark.parametrize("pipeline", ["nyc_taxi_pr_dev_pipeline", "nyc_taxi_ci_dev_pipeline"])
def test_the_gate_runs_after_the_wait_on_the_published_job(documents, pipeline):
    jobs = _by_name(documents[pipeline])
    gate = jobs["gate"]
    assert set(_depends(gate)) == {"submit", "wait_for_azureml_job"}
    assert "condition" not in gate  # default: only when the wait (the job) succeeded
    assert _nox_calls(gate) == ["nox -s gate -- nyc_taxi --target azure"]
    step = gate["steps"][-1]
    assert step["name"] == "gate"  # its outputs are read as gate.<VARIABLE>
    assert step["env"] == {JOB_NAME_VARIABLE: f"$({JOB_NAME_VARIABLE})"}
    assert gate["variables"] == jobs["wait_for_azureml_job"]["variables"]


def test_every_output_reference_names_a_dependency(documents):
    """Azure Pipelines resolves dependencies.<job> only for jobs in dependsOn, and
    stageDependencies.<stage> only for stages the stage depends on
    (learn.microsoft.com/azure/devops/pipelines/process/expressions, "Dependencies")."""
    job_ref = re.compile(r"\bdependencies\.(\w+)\.outputs\['(\w+)\.(\w+)'\]")
    stage_ref = re.compile(r"stageDependencies\.(\w+)\.(\w+)\.outputs\['(\w+)\.(\w+)'\]")
    steps_named = {(job["job"], step.get("name")) for doc in documents.values()
                   for job in _jobs(doc) for step in job["steps"]}
    checked = 0
    for doc in documents.values():
        for stage in _stages(doc):
            for job in stage["jobs"]:
                for value in job.get("variables", {}).values():
                    for other, step, _ in job_ref.findall(value):
                        assert other in _depends(job) and (other, step) in steps_named
                        checked += 1
                    for other_stage, other, step, _ in stage_ref.findall(value):
                        assert other_stage in _depends(stage) and (other, step) in steps_named
                        checked += 1
    assert checked >= 10


def test_a_failed_gate_skips_deploy_and_approval(documents):
    stages = documents["nyc_taxi_ci_dev_pipeline"]["stages"]
    assert [(s["stage"], _depends(s)) for s in stages] == [
        ("build", []), ("deploy", ["build"]), ("approval", ["build", "deploy"])]
    # the gate job is in stage build; no stage or job overrides the default succeeded()
    assert "gate" in {job["job"] for job in stages[0]["jobs"]}
    for stage in stages[1:]:
        assert "condition" not in stage
        assert all("condition" not in job for job in stage["jobs"])
    deploy = stages[1]["jobs"][0]
    assert _nox_calls(deploy) == ["nox -s deploy -- nyc_taxi --target azure",
                                  "nox -s invoke -- nyc_taxi --target azure"]


def test_the_approval_shows_what_the_gate_published(documents):
    validation, approve = documents["nyc_taxi_ci_dev_pipeline"]["stages"][2]["jobs"]
    assert _is_server(validation)
    [task] = validation["steps"]
    assert task["task"] == "ManualValidation@0" and task["inputs"]["onTimeout"] == "reject"
    instructions = task["inputs"]["instructions"]
    shown = re.findall(r"\$\((\w+)\)", instructions)
    assert shown == list(APPROVAL_VARIABLES)  # every value the gate publishes, in order
    for name, label in APPROVAL_VARIABLES.items():
        assert f"{label}: $({name})" in instructions
        # a server job's inputs expand job variables mapped from dependencies (the Azure ML docs
        # pass the job name to InvokeRESTAPI/AzureMLJobWaitTask this way)
        assert validation["variables"][name] == (
            f"$[ stageDependencies.build.gate.outputs['gate.{name}'] ]")
    assert approve["dependsOn"] == validation["job"]
    # the version this run registered, as the gate published it: not whatever is champion when
    # the approval comes (a later build may have registered a newer one meanwhile)
    assert approve["variables"] == {VERSION_VARIABLE: (
        f"$[ stageDependencies.build.gate.outputs['gate.{VERSION_VARIABLE}'] ]")}
    assert _nox_calls(approve) == [
        f"nox -s approve -- nyc_taxi --target azure --version $({VERSION_VARIABLE})"]


@pytest.mark.parametrize("pipeline", ["london_taxi_pr_dev_pipeline", "nyc_taxi_ci_dev_pipeline"])
def test_cancelled_run_cancels_the_azure_ml_job(documents, pipeline):
    jobs = _by_name(documents[pipeline])
    cancel = jobs["cancel_azureml_job"]
    model = pipeline.split("_pr_")[0].split("_ci_")[0]
    assert cancel["condition"] == "canceled()"
    assert set(_depends(cancel)) == {"submit", "wait_for_azureml_job", "gate"}
    step = cancel["steps"][-1]
    assert step["inputs"]["inlineScript"] == f"nox -s cancel_job -- {model} --target azure"
    assert step["env"] == {JOB_NAME_VARIABLE: f"$({JOB_NAME_VARIABLE})"}
    assert cancel["variables"] == jobs["wait_for_azureml_job"]["variables"]


def test_infra_and_data_pipelines_call_their_session(documents):
    assert [_nox_calls(j) for j in _jobs(documents["infra_provision_pipeline"])] == [
        ["nox -s provision -- --target azure"]]
    assert [_nox_calls(j) for j in _jobs(documents["infra_provision_prod_pipeline"])] == [
        ["nox -s provision -- --target azure --env prod"]]
    assert [_nox_calls(j) for j in _jobs(documents["data_registration_pipeline"])] == [
        ["nox -s register_data -- --target azure"]]


def test_cd_follows_the_ci_pipeline_and_deploys_on_the_approved_environment(config, documents):
    """A pipeline resource trigger runs the CD pipeline when the CI pipeline completes
    successfully on the branch (learn.microsoft.com/azure/devops/pipelines/process/
    pipeline-triggers); a deployment job targeting an environment waits for the environment's
    checks, the approval included (.../process/approvals), which the Azure DevOps stack puts on
    the environment of this name."""
    from cdktf_app.devops_stack import approval_environment

    cds = [d for d in definitions_for(config, AZURE) if d.kind == "cd"]
    assert {(d.model, d.env, d.source_env) for d in cds} == {
        (model, "prod", "dev") for model in config.model_names}
    for definition in cds:
        doc, infra = documents[definition.name], config.infra_env(definition.env)
        assert (doc["trigger"], doc["pr"]) == ("none", "none")
        [resource] = doc["resources"]["pipelines"]
        assert resource["source"] == f"{definition.model}_ci_dev_pipeline"
        assert resource["trigger"] == {"branches": {"include": [infra.development_branch]}}
        [stage] = doc["stages"]
        [job] = stage["jobs"]
        assert job["deployment"] == "promote"
        assert job["environment"] == approval_environment(config, definition.env) == "prod"
        steps = job["strategy"]["runOnce"]["deploy"]["steps"]
        assert steps[0] == {"template": "templates/setup.yml"}  # its checkout included
        model = definition.model
        assert [s["inputs"]["inlineScript"] for s in steps[1:]] == [
            f"nox -s promote -- {model} --target azure --from dev --to prod",
            f"nox -s lineage -- {model} --target azure --env prod"]
        assert {s["inputs"]["azureSubscription"] for s in steps[1:]} == {
            infra.azure_rm_svc_connection}  # prod's model pipelines, not dev's


def test_generated_yaml_has_no_anchors(files):
    # Azure Pipelines does not accept YAML anchors and aliases; a dict used twice by the
    # generator must not become one.
    for relative, text in files.items():
        assert not re.search(r"(^|\s)[&*]id\d+", text), relative


def test_job_name_variable_matches_what_the_submit_step_publishes():
    from mlops.platform.azure import pipeline

    assert pipeline.JOB_NAME_VARIABLE == JOB_NAME_VARIABLE


def test_unknown_kind_is_rejected(config):
    from mlops.cicd.definitions import PipelineDefinition

    with pytest.raises(ValueError, match="unknown pipeline kind 'nightly'"):
        azure_devops.render(PipelineDefinition("x", "nightly", None, ()), config)


def test_monitor_pipelines_run_on_the_models_cron(config, documents):
    """One scheduled monitoring pipeline per model, on its MONITOR_CRON, on the development
    branch, whether or not the branch changed (Azure Pipelines runs a schedule only when the
    branch changed since the last run unless `always` is set: learn.microsoft.com/azure/devops/
    pipelines/process/scheduled-triggers, "always")."""
    monitors = [d for d in definitions_for(config, AZURE) if d.kind == "monitor"]
    assert sorted(d.model for d in monitors) == config.model_names
    for definition in monitors:
        doc = documents[definition.name]
        assert doc["trigger"] == "none" and doc["pr"] == "none"
        (schedule,) = doc["schedules"]
        assert schedule["cron"] == config.entry(definition.model, "dev").monitor_cron
        assert schedule["branches"]["include"] == [config.infra_env("dev").development_branch]
        assert schedule["always"] == "true"
        steps = [s for job in doc["jobs"] for s in job["steps"] if "task" in s]
        assert [s["inputs"]["inlineScript"] for s in steps] == [
            f"nox -s monitor -- {definition.model} --target azure"]
