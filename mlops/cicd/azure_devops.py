"""Azure DevOps pipeline YAML for each CI definition. Every working step is a `nox -s` call
under an AzureCLI@2 task, so the sessions run with the service connection's Azure login.

The CI pipeline's training wait does not hold an agent: `ci_build --no-wait` submits the Azure
ML pipeline job and publishes its name (output variable AZUREML_JOB_NAME of the step named
ci_build, see mlops.platform.azure.pipeline); an agentless job (`pool: server`) then waits with AzureMLJobWaitTask@1 from
the Azure Machine Learning extension (ms-air-aiagility.azureml-v2), which subscribes an Azure DevOps
webhook to the job and finishes with the job's status (the seed's optional step 11). Cancelling
the run does not reach Azure ML by itself, so a `condition: canceled()` job runs
`nox -s cancel_job`, which cancels that job by name (or, if submission was interrupted before the
name was published, every active job with this build's display name).
"""

from __future__ import annotations

from typing import Any

from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import (
    INFRA_ENV,
    INSTALL_NOX,
    INSTALL_TERRAFORM,
    JOB_NAME_VARIABLE,
    NODE_VERSION,
    PYTHON_VERSION,
    TERRAFORM_VERSION,
    nox_call,
)
from mlops.cicd.definitions import PipelineDefinition
from mlops.config import FactoryConfig, InfraConfig

VM_IMAGE = "ubuntu-latest"
WAIT_TASK = "AzureMLJobWaitTask@1"
WAIT_TIMEOUT_MINUTES = 2880  # Azure DevOps caps an agentless wait at two days
APPROVAL_TIMEOUT_MINUTES = 4320
SUBMIT_JOB, SUBMIT_STEP = "submit", "ci_build"

COMMENTS = {
    "pr": ("Build validation for {model}: the development branch's policy runs it for pull requests",
           "touching its path filters (the Azure DevOps stack sets the same filters)."),
    "ci": ("CI for {model} on the development branch: train on dev and gate (Azure ML job,",
           "waited on by an agentless job), deploy and smoke-test, then manual approval.",
           "Needs the Azure Machine Learning extension (ms-air-aiagility.azureml-v2) for",
           "AzureMLJobWaitTask; cancelling the run cancels the Azure ML job (cancel_job)."),
    "infra": ("Provisions the Azure ML workspace and the Azure DevOps resources from config/, as",
              "the infrastructure identity (its own service connection; the only pipeline that",
              "plans and applies)."),
    "data": ("Registers every model's data assets (versioned by content) in the Azure ML workspace.",),
}


def _setup_steps() -> list[dict[str, Any]]:
    return [
        {"checkout": "self"},
        {"task": "UsePythonVersion@0", "displayName": f"Use Python {PYTHON_VERSION}",
         "inputs": {"versionSpec": PYTHON_VERSION}},
        {"task": "UseNode@1", "displayName": f"Use Node.js {NODE_VERSION}",
         "inputs": {"version": f"{NODE_VERSION}.x"}},
        {"script": INSTALL_TERRAFORM, "displayName": f"Install Terraform {TERRAFORM_VERSION}"},
        {"script": INSTALL_NOX, "displayName": "Install nox"},
    ]


def _nox_step(infra: InfraConfig, command: str, name: str | None = None,
              env: dict[str, str] | None = None, connection: str | None = None
              ) -> dict[str, Any]:
    # addSpnToEnvironment: the federated token Terraform authenticates with (it cannot use the
    # task's Azure CLI login of a service principal; see mlops.infra.credentials).
    step: dict[str, Any] = {"task": "AzureCLI@2"}
    if name:
        step["name"] = name
    step["displayName"] = command
    step["inputs"] = {"azureSubscription": connection or infra.azure_rm_svc_connection,
                      "scriptType": "bash", "scriptLocation": "inlineScript",
                      "inlineScript": command, "addSpnToEnvironment": True}
    if env:
        step["env"] = env
    return step


def _agent_job(job: str, display: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"job": job, "displayName": display, **extra, "pool": {"vmImage": VM_IMAGE},
            "steps": [*_setup_steps(), *steps]}


def _triggers(definition: PipelineDefinition, infra: InfraConfig) -> dict[str, Any]:
    filters = {"branches": {"include": [infra.development_branch]},
               "paths": {"include": trigger_globs(definition.path_filters)}}
    if definition.kind == "pr":
        return {"trigger": "none", "pr": filters}
    return {"trigger": filters, "pr": "none"}


def _ci_stages(model: str, infra: InfraConfig) -> list[dict[str, Any]]:
    job_name = f"$[ dependencies.{SUBMIT_JOB}.outputs['{SUBMIT_STEP}.{JOB_NAME_VARIABLE}'] ]"
    submit = _agent_job(SUBMIT_JOB, "Submit the training pipeline on dev", [
        _nox_step(infra, nox_call("ci_build", model, "--no-wait"), name=SUBMIT_STEP)])
    wait = {
        "job": "wait_for_azureml_job", "displayName": "Wait for the Azure ML job (agentless)",
        "dependsOn": SUBMIT_JOB, "pool": "server", "timeoutInMinutes": WAIT_TIMEOUT_MINUTES,
        "variables": {JOB_NAME_VARIABLE: job_name},
        "steps": [{"task": WAIT_TASK, "displayName": "AzureML Job Wait", "inputs": {
            "serviceConnection": infra.azure_rm_svc_connection,
            "resourceGroupName": infra.resource_group_name,
            "azureMLWorkspaceName": infra.workspace_name,
            "azureMLJobName": f"$({JOB_NAME_VARIABLE})"}}],
    }
    cancel = _agent_job(
        "cancel_azureml_job", "Cancel the Azure ML job of a cancelled run",
        [_nox_step(infra, nox_call("cancel_job", model),
                   env={JOB_NAME_VARIABLE: f"$({JOB_NAME_VARIABLE})"})],
        dependsOn=[SUBMIT_JOB, "wait_for_azureml_job"], condition="canceled()",
        variables={JOB_NAME_VARIABLE: job_name})
    deploy = _agent_job("deploy", "Deploy batch and online endpoints, smoke-test", [
        _nox_step(infra, nox_call("deploy", model)),
        _nox_step(infra, nox_call("invoke", model))])
    validation = {
        "job": "manual_validation", "displayName": "Approve for production",
        "pool": "server", "timeoutInMinutes": APPROVAL_TIMEOUT_MINUTES,
        "steps": [{"task": "ManualValidation@0", "displayName": "Manual approval", "inputs": {
            "notifyUsers": "$(Build.RequestedForEmail)",
            "instructions": f"Approve the {model} champion deployed by this run for production.",
            "onTimeout": "reject"}}],
    }
    approve = _agent_job("approve", "Tag the champion for production",
                         [_nox_step(infra, nox_call("approve", model))],
                         dependsOn="manual_validation")
    return [
        {"stage": "build", "displayName": "Train, gate and register on dev",
         "jobs": [submit, wait, cancel]},
        {"stage": "deploy", "displayName": "Deploy and smoke-test", "dependsOn": "build",
         "jobs": [deploy]},
        {"stage": "approval", "displayName": "Manual approval", "dependsOn": "deploy",
         "jobs": [validation, approve]},
    ]


def _infra_env(infra: InfraConfig) -> dict[str, str] | None:
    """What Terraform needs besides the credential, when config/infra_config.json does not give
    it: the subscription and organisation, from the variable group (the first apply wrote them)."""
    env = {}
    if not infra.subscription_id:
        env["ARM_SUBSCRIPTION_ID"] = "$(ARM_SUBSCRIPTION_ID)"
    if not infra.devops_organization_url:
        env["AZDO_ORG_SERVICE_URL"] = "$(AZDO_ORG_SERVICE_URL)"
    return env or None


def render(definition: PipelineDefinition, config: FactoryConfig) -> dict[str, Any]:
    """The pipeline document for one definition."""
    infra = config.infra_env(INFRA_ENV)
    doc: dict[str, Any] = {**_triggers(definition, infra),
                           "variables": [{"group": infra.variable_group_name}]}
    model = definition.model
    if definition.kind == "ci":
        doc["stages"] = _ci_stages(model, infra)
    elif definition.kind == "pr":
        doc["jobs"] = [_agent_job("pr_build", "Train on the pr environment and test",
                                  [_nox_step(infra, nox_call("pr_build", model))])]
    elif definition.kind == "infra":
        doc["jobs"] = [_agent_job("provision", "Provision the infrastructure", [_nox_step(
            infra, nox_call("provision"), env=_infra_env(infra),
            connection=infra.infra_svc_connection)])]
    elif definition.kind == "data":
        doc["jobs"] = [_agent_job("register_data", "Register data assets",
                                  [_nox_step(infra, nox_call("register_data"))])]
    else:
        raise ValueError(f"unknown pipeline kind {definition.kind!r}")
    return doc


def comments(definition: PipelineDefinition) -> tuple[str, ...]:
    return tuple(line.format(model=definition.model) for line in COMMENTS[definition.kind])
