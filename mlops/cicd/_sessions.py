"""The nox sessions CI calls, as command lines. CI YAML does no work of its own: every working
step is one of these."""

from __future__ import annotations

PYTHON_VERSION = "3.11"
NODE_VERSION = "20"
# Setup, not work: the only non-nox command any generated pipeline runs.
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
# The pipelines act on the development environment (the seed's *_dev_pipeline, mlops_platform_dev_vg).
INFRA_ENV = "dev"
# The output variable `ci_build --no-wait` publishes (mlops.platform.azure.pipeline).
JOB_NAME_VARIABLE = "AZUREML_JOB_NAME"


def nox_call(session: str, model: str | None = None, *extra: str) -> str:
    """`nox -s <session> -- [<model>] --target azure [extra...]`."""
    args = [*([model] if model else []), "--target", "azure", *extra]
    return f"nox -s {session} -- {' '.join(args)}"
