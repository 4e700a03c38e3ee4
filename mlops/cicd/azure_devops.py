"""Azure DevOps pipeline YAML for each CI definition, plus the one step template every agent job
starts with (templates/setup.yml: checkout, Python, Node.js, Terraform, nox, the factory
environment). Every working step is a `nox -s` call under an AzureCLI@2 task, so the sessions
run with the service connection's Azure login.

No agent job waits on training. AzureCLI@2 with workload identity federation logs in once per
task and cannot renew the token (about an hour), so the PR and CI builds submit with
`--no-wait`, which publishes the job name (output variable AZUREML_JOB_NAME of the submitting
step, see mlops.platform.azure.pipeline); an agentless job (`pool: server`) then waits with
AzureMLJobWaitTask@1 from the Azure Machine Learning extension (ms-air-aiagility.azureml-v2),
which subscribes an Azure DevOps webhook to the job and ends with the job's status. After it, job
`gate` runs `nox -s gate`: it reads the job's gate decision, fails the run when the build's rule
is not met (PR: threshold; CI: registered as new champion), so the deploy stage is skipped, and
publishes the run's metadata, which the manual approval shows. Cancelling the run does not reach
Azure ML by itself, so a `condition: canceled()` job runs `nox -s cancel_job`.
"""

from __future__ import annotations

from typing import Any

from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import (
    APPROVAL_VARIABLES,
    INSTALL_NOX,
    INSTALL_TERRAFORM,
    JOB_NAME_VARIABLE,
    NODE_VERSION,
    PREPARE,
    PYTHON_VERSION,
    TERRAFORM_VERSION,
    VERSION_VARIABLE,
    nox_call,
)
from mlops.cicd.definitions import (
    AZURE_DIR,
    AZURE_SETUP_TEMPLATE,
    PipelineDefinition,
    ci_pipeline_name,
)
from mlops.config import FactoryConfig, InfraConfig

VM_IMAGE = "ubuntu-latest"
WAIT_TASK = "AzureMLJobWaitTask@1"
WAIT_TIMEOUT_MINUTES = 2880  # the extension's wait is capped at two days by Azure DevOps
APPROVAL_TIMEOUT_MINUTES = 4320
CI_RESOURCE = "ci"  # the CD pipeline's name for the CI pipeline it follows
SUBMIT_JOB, WAIT_JOB, GATE_JOB, GATE_STEP = "submit", "wait_for_azureml_job", "gate", "gate"
BUILD_STAGE = "build"
# `- template:` paths are relative to the including file (pipelines live in AZURE_DIR).
SETUP_REF = AZURE_SETUP_TEMPLATE.removeprefix(f"{AZURE_DIR}/")

COMMENTS = {
    "pr": ("Build validation for {model}: the development branch's policy runs it for pull requests",
           "touching its path filters (the Azure DevOps stack sets the same filters). Submits the",
           "training on pr without waiting, waits agentlessly, then fails on a missed threshold."),
    "ci": ("CI for {model} on the development branch: train on dev (Azure ML job, waited on by an",
           "agentless job), gate (fails unless a new champion was registered), deploy and",
           "smoke-test, then manual approval showing the run's metadata.",
           "Needs the Azure Machine Learning extension (ms-air-aiagility.azureml-v2) for",
           "AzureMLJobWaitTask; cancelling the run cancels the Azure ML job (cancel_job)."),
    "infra": ("Provisions the {env} environment's Azure ML workspace and Azure DevOps resources",
              "from config/, as its infrastructure identity (its own service connection; the only",
              "pipeline that plans and applies)."),
    "data": ("Registers every model's data assets (versioned by content) in the Azure ML workspace.",),
    "cd": ("CD for {model} to {env}: after its CI pipeline succeeds on the development branch (its",
           "approval included), a deployment job on the Azure DevOps environment '{env}' waits",
           "for that environment's approval check (the Azure DevOps stack creates both), then",
           "promotes the approved version from {source}: the same artifact, digest-checked,",
           "through the shared Azure ML registry; never retrained. It runs as {env}'s model",
           "pipelines (its own service connection and variable group)."),
    "monitor": ("Scheduled monitoring of {model} (MONITOR_CRON, UTC, development branch): keeps",
                "Azure ML model monitoring of its online endpoint configured (data drift of the",
                "collected model inputs against the training data, at DRIFT_THRESHOLD)."),
    "setup": ("Set-up steps every agent job starts with: checkout, Python, Node.js, Terraform,",
              "nox, then the factory environment (built before any Azure login: a federated",
              "token is valid for minutes, so the first Azure call must follow its login)."),
}


def setup_template() -> dict[str, Any]:
    """The step template: the only place the pipelines install their tools."""
    return {"steps": [
        {"checkout": "self"},
        {"task": "UsePythonVersion@0", "displayName": f"Use Python {PYTHON_VERSION}",
         "inputs": {"versionSpec": PYTHON_VERSION}},
        {"task": "NodeTool@0", "displayName": f"Use Node.js {NODE_VERSION}",
         "inputs": {"versionSpec": f"{NODE_VERSION}.x"}},
        {"script": INSTALL_TERRAFORM, "displayName": f"Install Terraform {TERRAFORM_VERSION}"},
        {"script": INSTALL_NOX, "displayName": "Install nox"},
        {"script": PREPARE, "displayName": "Build the factory environment, check config"},
    ]}


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
            "steps": [{"template": SETUP_REF}, *steps]}


def _triggers(definition: PipelineDefinition, infra: InfraConfig) -> dict[str, Any]:
    filters = {"branches": {"include": [infra.development_branch]},
               "paths": {"include": trigger_globs(definition.path_filters)}}
    if definition.kind == "pr":
        return {"trigger": "none", "pr": filters}
    if definition.kind == "monitor":  # on its schedule only, even without new commits
        return {"trigger": "none", "pr": "none", "schedules": [{
            "cron": definition.schedule, "displayName": f"{definition.model} monitoring",
            "branches": {"include": [infra.development_branch]},
            "always": "true"}]}  # the schema types it a string
    return {"trigger": filters, "pr": "none"}


def _training_jobs(session: str, model: str, infra: InfraConfig) -> list[dict[str, Any]]:
    """Submit (no wait) -> agentless wait -> gate, and the cancel job of a cancelled run."""
    job_name = f"$[ dependencies.{SUBMIT_JOB}.outputs['{session}.{JOB_NAME_VARIABLE}'] ]"
    job_env = {JOB_NAME_VARIABLE: f"$({JOB_NAME_VARIABLE})"}
    submit = _agent_job(SUBMIT_JOB, f"Submit the training pipeline ({session}, no wait)", [
        _nox_step(infra, nox_call(session, model, "--no-wait"), name=session)])
    wait = {
        "job": WAIT_JOB, "displayName": "Wait for the Azure ML job (agentless)",
        "dependsOn": SUBMIT_JOB, "pool": "server", "timeoutInMinutes": WAIT_TIMEOUT_MINUTES,
        "variables": {JOB_NAME_VARIABLE: job_name},
        "steps": [{"task": WAIT_TASK, "displayName": "AzureML Job Wait", "inputs": {
            "serviceConnection": infra.azure_rm_svc_connection,
            "resourceGroupName": infra.resource_group_name,
            "azureMLWorkspaceName": infra.workspace_name,
            "azureMLJobName": f"$({JOB_NAME_VARIABLE})"}}],
    }
    gate = _agent_job(GATE_JOB, "Read the gate decision; fail the run when it is not met", [
        _nox_step(infra, nox_call("gate", model), name=GATE_STEP, env=job_env)],
        dependsOn=[SUBMIT_JOB, WAIT_JOB], variables={JOB_NAME_VARIABLE: job_name})
    cancel = _agent_job(
        "cancel_azureml_job", "Cancel the Azure ML job of a cancelled run",
        [_nox_step(infra, nox_call("cancel_job", model), env=job_env)],
        dependsOn=[SUBMIT_JOB, WAIT_JOB, GATE_JOB], condition="canceled()",
        variables={JOB_NAME_VARIABLE: job_name})
    return [submit, wait, gate, cancel]


def approval_instructions(model: str) -> str:
    lines = [f"Approve the {model} model this run registered and deployed, for production."]
    lines += [f"{label}: $({name})" for name, label in APPROVAL_VARIABLES.items()]
    lines.append("The run's summary shows the same table (gate job).")
    return "\n".join(lines) + "\n"


def _ci_stages(model: str, infra: InfraConfig) -> list[dict[str, Any]]:
    deploy = _agent_job("deploy", "Deploy batch and online endpoints, smoke-test", [
        _nox_step(infra, nox_call("deploy", model)),
        _nox_step(infra, nox_call("invoke", model))])
    # The approver sees what `nox -s gate` published: output variables of the build stage's
    # gate step, mapped into the agentless job (a stage reads only stages it depends on).
    published = {name: f"$[ stageDependencies.{BUILD_STAGE}.{GATE_JOB}.outputs"
                       f"['{GATE_STEP}.{name}'] ]" for name in APPROVAL_VARIABLES}
    validation = {
        "job": "manual_validation", "displayName": "Approve for production",
        "pool": "server", "timeoutInMinutes": APPROVAL_TIMEOUT_MINUTES,
        "variables": published,
        "steps": [{"task": "ManualValidation@0", "displayName": "Manual approval", "inputs": {
            "notifyUsers": "$(Build.RequestedForEmail)",
            "instructions": approval_instructions(model),
            "onTimeout": "reject"}}],
    }
    # the version the build registered (what the approver saw), not whatever is champion now
    registered = {VERSION_VARIABLE: f"$[ stageDependencies.{BUILD_STAGE}.{GATE_JOB}.outputs"
                                    f"['{GATE_STEP}.{VERSION_VARIABLE}'] ]"}
    approve = _agent_job("approve", "Tag the version this run registered for production",
                         [_nox_step(infra, nox_call("approve", model, "--version",
                                                    f"$({VERSION_VARIABLE})"))],
                         dependsOn="manual_validation", variables=registered)
    return [
        {"stage": BUILD_STAGE, "displayName": "Train on dev, wait, gate",
         "jobs": _training_jobs("ci_build", model, infra)},
        {"stage": "deploy", "displayName": "Deploy and smoke-test", "dependsOn": BUILD_STAGE,
         "jobs": [deploy]},
        {"stage": "approval", "displayName": "Manual approval",
         "dependsOn": [BUILD_STAGE, "deploy"], "jobs": [validation, approve]},
    ]


def _cd_document(definition: PipelineDefinition, infra: InfraConfig) -> dict[str, Any]:
    """Triggered by the model's CI pipeline completing on the development branch; one
    deployment job on the target's Azure DevOps environment (its approval check gates it)."""
    model, env = definition.model, definition.env
    steps = [{"template": SETUP_REF},
             _nox_step(infra, nox_call("promote", model, "--from", str(definition.source_env),
                                       "--to", env)),
             _nox_step(infra, nox_call("lineage", model, env=env))]
    deployment = {
        "deployment": "promote", "displayName": f"Promote {model} to {env}",
        "environment": env, "pool": {"vmImage": VM_IMAGE},
        "strategy": {"runOnce": {"deploy": {"steps": steps}}},
    }
    return {
        "trigger": "none", "pr": "none",
        "resources": {"pipelines": [{
            "pipeline": CI_RESOURCE, "source": ci_pipeline_name(model),
            "trigger": {"branches": {"include": [infra.development_branch]}}}]},
        "variables": [{"group": infra.variable_group_name}],
        "stages": [{"stage": "promote", "displayName": f"Promote {model} from "
                    f"{definition.source_env} to {env}", "jobs": [deployment]}],
    }


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
    infra = config.infra_env(definition.env)
    if definition.kind == "cd":
        return _cd_document(definition, infra)
    doc: dict[str, Any] = {**_triggers(definition, infra),
                           "variables": [{"group": infra.variable_group_name}]}
    model = definition.model
    if definition.kind == "ci":
        doc["stages"] = _ci_stages(model, infra)
    elif definition.kind == "pr":
        doc["jobs"] = _training_jobs("pr_build", model, infra)
    elif definition.kind == "infra":
        doc["jobs"] = [_agent_job("provision", "Provision the infrastructure", [_nox_step(
            infra, nox_call("provision", env=definition.env), env=_infra_env(infra),
            connection=infra.infra_svc_connection)])]
    elif definition.kind == "data":
        doc["jobs"] = [_agent_job("register_data", "Register data assets",
                                  [_nox_step(infra, nox_call("register_data"))])]
    elif definition.kind == "monitor":
        doc["jobs"] = [_agent_job("monitor", "Configure model monitoring",
                                  [_nox_step(infra, nox_call("monitor", model))])]
    else:
        raise ValueError(f"unknown pipeline kind {definition.kind!r}")
    return doc


def comments(definition: PipelineDefinition) -> tuple[str, ...]:
    return tuple(line.format(model=definition.model, env=definition.env,
                             source=definition.source_env) for line in COMMENTS[definition.kind])
