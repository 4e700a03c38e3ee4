from __future__ import annotations

from typing import Any

import pytest
import yaml

from mlops.cicd import azure_devops
from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import INSTALL_NOX, INSTALL_TERRAFORM, JOB_NAME_VARIABLE
from mlops.cicd.definitions import pipeline_definitions
from mlops.cicd.generate import render_all
from mlops.config import load_config

SETUP_TASKS = {"UsePythonVersion@0", "UseNode@1"}


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def documents(config) -> dict[str, dict[str, Any]]:
    files = render_all(config)
    return {d.name: yaml.safe_load(files[d.azure_path]) for d in pipeline_definitions(config)}


def _jobs(doc: dict[str, Any]) -> list[dict[str, Any]]:
    if "stages" in doc:
        return [job for stage in doc["stages"] for job in stage["jobs"]]
    return doc["jobs"]


def _steps(doc: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in _jobs(doc) for step in job["steps"]]


def test_one_file_per_definition_with_the_variable_group(config, documents):
    infra = config.infra_env("dev")
    assert set(documents) == {d.name for d in pipeline_definitions(config)}
    for name, doc in documents.items():
        assert doc["variables"] == [{"group": infra.variable_group_name}], name
        assert infra.variable_group_name == "mlops_platform_dev_vg"


def test_path_filters_and_branch_equal_the_definitions(config, documents):
    branch = config.infra_env("dev").development_branch
    for definition in pipeline_definitions(config):
        doc = documents[definition.name]
        trigger = doc["pr"] if definition.kind == "pr" else doc["trigger"]
        assert trigger["paths"]["include"] == trigger_globs(definition.path_filters)
        assert trigger["branches"]["include"] == [branch]
        other = "trigger" if definition.kind == "pr" else "pr"
        assert doc[other] == "none", definition.name
        if definition.model:  # the model's PATH_FILTERS from config/model_config.json
            assert definition.path_filters == config.entry(definition.model, "pr").path_filters
            assert f"mlops/{definition.model}/**" in trigger["paths"]["include"]


def test_every_working_step_is_a_nox_session_under_the_service_connection(config, documents):
    infra = config.infra_env("dev")
    for name, doc in documents.items():
        # the infrastructure pipeline has its own, privileged connection; no other uses it
        connection = (infra.infra_svc_connection if name.startswith("infra_")
                      else infra.azure_rm_svc_connection)
        for step in _steps(doc):
            if "checkout" in step:
                assert step["checkout"] == "self"
            elif "script" in step:
                assert step["script"] in (INSTALL_TERRAFORM, INSTALL_NOX), name  # setup only
            elif step["task"] == "AzureCLI@2":
                assert step["inputs"]["inlineScript"].startswith("nox -s "), name
                assert "\n" not in step["inputs"]["inlineScript"]
                assert step["inputs"]["azureSubscription"] == connection, name
                # the federated token Terraform authenticates with (mlops.infra.credentials)
                assert step["inputs"]["addSpnToEnvironment"] is True
            else:
                assert step["task"] in SETUP_TASKS | {"AzureMLJobWaitTask@1",
                                                      "ManualValidation@0"}, (name, step)


def _nox_calls(doc: dict[str, Any]) -> list[str]:
    return [s["inputs"]["inlineScript"] for s in _steps(doc) if s.get("task") == "AzureCLI@2"]


def test_sessions_called_per_pipeline(documents):
    assert _nox_calls(documents["nyc_taxi_pr_dev_pipeline"]) == [
        "nox -s pr_build -- nyc_taxi --target azure"]
    assert _nox_calls(documents["nyc_taxi_ci_dev_pipeline"]) == [
        "nox -s ci_build -- nyc_taxi --target azure --no-wait",
        "nox -s cancel_job -- nyc_taxi --target azure",
        "nox -s deploy -- nyc_taxi --target azure",
        "nox -s invoke -- nyc_taxi --target azure",
        "nox -s approve -- nyc_taxi --target azure"]
    assert _nox_calls(documents["infra_provision_pipeline"]) == [
        "nox -s provision -- --target azure"]
    assert _nox_calls(documents["data_registration_pipeline"]) == [
        "nox -s register_data -- --target azure"]


def test_ci_waits_agentlessly_on_the_job_the_submit_step_published(config, documents):
    infra = config.infra_env("dev")
    build = documents["london_taxi_ci_dev_pipeline"]["stages"][0]
    jobs = {job["job"]: job for job in build["jobs"]}
    submit_step = [s for s in jobs["submit"]["steps"] if s.get("task") == "AzureCLI@2"][0]
    wait = jobs["wait_for_azureml_job"]
    assert wait["pool"] == "server" and wait["dependsOn"] == "submit"
    # the output reference names the real job and step, and the variable ci_build publishes
    expected = (f"$[ dependencies.submit.outputs['{submit_step['name']}.{JOB_NAME_VARIABLE}'] ]")
    assert wait["variables"] == {JOB_NAME_VARIABLE: expected}
    [task] = wait["steps"]
    assert task["task"] == "AzureMLJobWaitTask@1"
    assert task["inputs"] == {"serviceConnection": infra.azure_rm_svc_connection,
                              "resourceGroupName": infra.resource_group_name,
                              "azureMLWorkspaceName": infra.workspace_name,
                              "azureMLJobName": f"$({JOB_NAME_VARIABLE})"}
    assert wait["timeoutInMinutes"] <= 2880


def test_job_name_variable_matches_what_ci_build_publishes():
    from mlops.platform.azure import pipeline

    assert pipeline.JOB_NAME_VARIABLE == JOB_NAME_VARIABLE


def test_cancelled_run_cancels_the_azure_ml_job(documents):
    build = documents["nyc_taxi_ci_dev_pipeline"]["stages"][0]
    cancel = {job["job"]: job for job in build["jobs"]}["cancel_azureml_job"]
    assert cancel["condition"] == "canceled()"
    assert set(cancel["dependsOn"]) == {"submit", "wait_for_azureml_job"}
    step = cancel["steps"][-1]
    assert step["inputs"]["inlineScript"] == "nox -s cancel_job -- nyc_taxi --target azure"
    assert step["env"] == {JOB_NAME_VARIABLE: f"$({JOB_NAME_VARIABLE})"}
    assert cancel["variables"][JOB_NAME_VARIABLE].startswith("$[ dependencies.submit.outputs")


def test_deploy_then_manual_approval_stage(documents):
    stages = documents["nyc_taxi_ci_dev_pipeline"]["stages"]
    assert [(s["stage"], s.get("dependsOn")) for s in stages] == [
        ("build", None), ("deploy", "build"), ("approval", "deploy")]
    validation, approve = stages[2]["jobs"]
    assert validation["pool"] == "server"
    assert validation["steps"][0]["task"] == "ManualValidation@0"
    assert validation["steps"][0]["inputs"]["onTimeout"] == "reject"
    assert approve["dependsOn"] == validation["job"]


def test_unknown_kind_is_rejected(config):
    from mlops.cicd.definitions import PipelineDefinition

    with pytest.raises(ValueError, match="unknown pipeline kind 'nightly'"):
        azure_devops.render(PipelineDefinition("x", "nightly", None, ()), config)
