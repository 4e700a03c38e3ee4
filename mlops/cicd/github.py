"""GitHub Actions workflows for each CI definition: the same set as Azure DevOps, calling the same
nox sessions after an OIDC azure/login.

GitHub has no agentless jobs, so the CI workflow's build job runs `ci_build` without --no-wait:
the runner waits on the Azure ML job, and ci_build then deploys and smoke-tests the new champion
itself (Azure DevOps, whose ci_build only submits, has a deploy stage instead). Cancelling the run signals ci_build, whose interrupt
handler cancels the Azure ML job; as a backstop (the runner kills the step if it lingers), an
`if: cancelled()` step runs `nox -s cancel_job`, which cancels the active Azure ML jobs carrying
this run's display name (built from GITHUB_RUN_ID).
The approval is the `production` environment: give it required reviewers in the repository's
settings (Settings > Environments), and the approve job waits for them.
"""

from __future__ import annotations

from typing import Any

from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import (
    INFRA_ENV,
    INSTALL_NOX,
    NODE_VERSION,
    PYTHON_VERSION,
    TERRAFORM_VERSION,
    nox_call,
)
from mlops.cicd.definitions import PipelineDefinition
from mlops.config import FactoryConfig
from mlops.identities import identity

RUNNER = "ubuntu-latest"
BUILD_TIMEOUT_MINUTES = 360  # the most a GitHub-hosted job may run
APPROVAL_ENVIRONMENT = "production"
# Actions pinned to major versions.
CHECKOUT, SETUP_PYTHON, SETUP_NODE = "actions/checkout@v4", "actions/setup-python@v5", \
    "actions/setup-node@v4"
SETUP_TERRAFORM, AZURE_LOGIN = "hashicorp/setup-terraform@v3", "azure/login@v2"

COMMENTS = {
    "pr": ("Pull-request build for {model}: trains on the pr environment and runs its tests.",),
    "ci": ("CI for {model} on the development branch: train on dev and gate, deploy and",
           "smoke-test, then approval through the '" + APPROVAL_ENVIRONMENT + "' environment",
           "(configure required reviewers on it). Cancelling cancels the Azure ML job."),
    "infra": ("Provisions the Azure ML workspace and the Azure DevOps resources from config/.",),
    "data": ("Registers every model's data assets (versioned by content) in the Azure ML workspace.",),
}
LOGIN_NOTE = ("Azure login is OIDC (federated credential, no client secret): repository secrets",
              "AZURE_CLIENT_ID (model pipelines) or AZURE_INFRA_CLIENT_ID (infrastructure),",
              "AZURE_TENANT_ID and AZURE_SUBSCRIPTION_ID name the identity.")


def _secret(name: str) -> str:
    return "${{ secrets." + name + " }}"


def _client_id_secret(kind: str) -> str:
    """The repository secret naming the identity a workflow logs in as (mlops.identities)."""
    key = "infra_pipeline" if kind == "infra" else "model_pipeline"
    return str(identity(key).github_client_id_secret)


def _setup_steps(kind: str) -> list[dict[str, Any]]:
    secret = _client_id_secret(kind)
    return [
        {"uses": CHECKOUT, "with": {"persist-credentials": False}},
        {"uses": SETUP_PYTHON, "with": {"python-version": PYTHON_VERSION}},
        {"uses": SETUP_NODE, "with": {"node-version": NODE_VERSION}},
        {"uses": SETUP_TERRAFORM, "with": {"terraform_version": TERRAFORM_VERSION,
                                           "terraform_wrapper": False}},
        {"name": "Install nox", "run": INSTALL_NOX},
        {"name": "Azure login (OIDC)", "uses": AZURE_LOGIN, "with": {
            "client-id": _secret(secret),
            "tenant-id": "${{ secrets.AZURE_TENANT_ID }}",
            "subscription-id": "${{ secrets.AZURE_SUBSCRIPTION_ID }}"}},
    ]


def _nox_step(command: str, **extra: Any) -> dict[str, Any]:
    return {"name": command, **extra, "run": command}


def _job_env(kind: str) -> dict[str, str]:
    """Terraform reads the identity and the subscription from the environment (the OIDC token
    itself comes from the runner, see mlops.infra.credentials)."""
    env = {"AZURE_CLIENT_ID": _secret(_client_id_secret(kind)),
           "AZURE_TENANT_ID": "${{ secrets.AZURE_TENANT_ID }}",
           "ARM_SUBSCRIPTION_ID": "${{ secrets.AZURE_SUBSCRIPTION_ID }}"}
    if kind == "infra":
        env["AZDO_ORG_SERVICE_URL"] = _secret("AZDO_ORG_SERVICE_URL")
    return env


def _job(kind: str, name: str, steps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"name": name, **extra, "runs-on": RUNNER, "env": _job_env(kind),
            "steps": [*_setup_steps(kind), *steps]}


def _jobs(definition: PipelineDefinition) -> dict[str, Any]:
    model = definition.model
    if definition.kind == "pr":
        return {"pr_build": _job("pr", "Train on the pr environment and test",
                                 [_nox_step(nox_call("pr_build", model))])}
    if definition.kind == "ci":
        return {
            # ci_build waits here, so it also deploys and smoke-tests (a separate deploy job
            # would roll out the same champion a second time).
            "build": _job("ci", "Train, gate, register, deploy and smoke-test on dev", [
                _nox_step(nox_call("ci_build", model)),
                _nox_step(nox_call("invoke", model)),
                _nox_step(nox_call("cancel_job", model), **{"if": "cancelled()"})],
                **{"timeout-minutes": BUILD_TIMEOUT_MINUTES}),
            "approve": _job("ci", "Tag the champion for production",
                            [_nox_step(nox_call("approve", model))],
                            needs="build", environment=APPROVAL_ENVIRONMENT),
        }
    if definition.kind == "infra":
        return {"provision": _job("infra", "Provision the infrastructure",
                                  [_nox_step(nox_call("provision"))])}
    if definition.kind == "data":
        return {"register_data": _job("data", "Register data assets",
                                      [_nox_step(nox_call("register_data"))])}
    raise ValueError(f"unknown pipeline kind {definition.kind!r}")


def render(definition: PipelineDefinition, config: FactoryConfig) -> dict[str, Any]:
    """The workflow document for one definition."""
    branch = config.infra_env(INFRA_ENV).development_branch
    event = "pull_request" if definition.kind == "pr" else "push"
    return {
        "name": definition.name,
        "on": {event: {"branches": [branch], "paths": trigger_globs(definition.path_filters)},
               "workflow_dispatch": {}},
        "permissions": {"contents": "read", "id-token": "write"},
        "concurrency": {"group": "${{ github.workflow }}-${{ github.ref }}",
                        "cancel-in-progress": True},
        "jobs": _jobs(definition),
    }


def comments(definition: PipelineDefinition) -> tuple[str, ...]:
    return tuple(line.format(model=definition.model)
                 for line in (*COMMENTS[definition.kind], *LOGIN_NOTE))
