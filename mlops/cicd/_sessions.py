"""The nox sessions CI calls, as command lines, and the facts CI and sessions share (versions,
variable names, wait budgets). CI YAML does no work of its own: every working step is one of
these sessions."""

from __future__ import annotations

from mlops.config.loader import DEFAULT_INFRA_ENV

PYTHON_VERSION = "3.11"
NODE_VERSION = "20"
# Setup, not work: the only non-nox commands any generated pipeline runs.
INSTALL_NOX = 'python -m pip install "nox[uv]>=2025.2.9"'
TERRAFORM_VERSION = "1.11.4"
# Azure DevOps' ubuntu-latest (24.04) image has no Terraform and Azure Pipelines has no built-in
# installer task: HashiCorp's signed apt repository, as HashiCorp documents it. (GitHub uses
# hashicorp/setup-terraform.)
INSTALL_TERRAFORM = (
    "set -euo pipefail\n"
    "wget -qO- https://apt.releases.hashicorp.com/gpg"
    " | sudo gpg --batch --yes --dearmor -o /usr/share/keyrings/hashicorp-archive-keyring.gpg\n"
    'echo "deb [signed-by=/usr/share/keyrings/hashicorp-archive-keyring.gpg]'
    ' https://apt.releases.hashicorp.com $(lsb_release -cs) main"'
    " | sudo tee /etc/apt/sources.list.d/hashicorp.list\n"
    f"sudo apt-get update -q && sudo apt-get install -y -q terraform={TERRAFORM_VERSION}-1\n")
# The last set-up step builds the factory environment (and checks config) BEFORE any Azure
# login: a federated (OIDC) assertion is valid for minutes only, so the first Azure call of a
# step must come right after its login, not after a multi-minute environment build.
PREPARE = "nox -s check_config"
# The pipelines act on the development environment (the seed's *_dev_pipeline, mlops_platform_dev_vg).
INFRA_ENV = DEFAULT_INFRA_ENV
# The output variable `pr_build/ci_build --no-wait` publishes (mlops.platform.azure.pipeline).
JOB_NAME_VARIABLE = "AZUREML_JOB_NAME"
# What `nox -s gate` publishes for the approval (output variables; lower-case on GitHub):
# variable -> label shown to the approver.
JOB_URL_VARIABLE = "AZUREML_JOB_URL"
APPROVAL_VARIABLES = {
    "MODEL_VERSION": "Model version",
    "GATE_DECISION": "Gate",
    "METRICS": "Metrics",
    "DATA_ASSETS": "Data",
    JOB_URL_VARIABLE: "Azure ML job",
}
# What `nox -s wait_job` publishes: "true" once the job is finished.
FINISHED_VARIABLE = "FINISHED"
# GitHub waits in slices, re-running azure/login before each: an Azure access token lasts 60-90
# minutes and the CLI cannot renew it without a fresh federated assertion. 50 minutes stays
# under the shortest lifetime with room for the login and the session's start.
WAIT_SLICE_MINUTES = 50


# What `nox -s gate` publishes besides the approval's table: the version the CI build
# registered (empty when none), which the approve job passes on as `--version`.
VERSION_VARIABLE = "REGISTERED_VERSION"


def nox_call(session: str, model: str | None = None, *extra: str, env: str = INFRA_ENV) -> str:
    """`nox -s <session> -- [<model>] --target azure [extra...] [--env ENV]` (the environment
    named only when it is not the pipelines' default one)."""
    args = [*([model] if model else []), "--target", "azure", *extra,
            *(["--env", env] if env != INFRA_ENV else [])]
    return f"nox -s {session} -- {' '.join(args)}"
