"""Before any Terraform run against Azure: fail fast, saying exactly what is missing — Azure
credentials (ARM_* variables or an `az login` session) or provider downloads — instead of
hanging on a network that is not there (init runs with a timeout)."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from mlops.errors import FactoryError

INIT_TIMEOUT_ENV = "FACTORY_TF_INIT_TIMEOUT"
DEFAULT_INIT_TIMEOUT = 90.0
INIT_HINT = ("init of an Azure stack failed: check the ARM_* credentials (or `az login`), the "
             "state storage account (created by `nox -s bootstrap -- --target azure`, see "
             "docs/azure.md) and network access to registry.terraform.io")


class AzurePrerequisiteError(FactoryError):
    """Provisioning Azure cannot start on this machine; the message lists why."""


def credential_problems(env: Mapping[str, str] | None = None,
                        home: Path | None = None) -> list[str]:
    """What azurerm's authentication lacks: ARM_* for a service principal (secret, OIDC or
    managed identity), or an Azure CLI login."""
    from mlops.infra.credentials import terraform_env

    env = terraform_env(os.environ if env is None else env)
    home = home or Path.home()
    if env.get("ARM_USE_CLI", "true").lower() != "false" and _az_logged_in(env, home):
        return []
    # The subscription is not a credential: the synthesised provider block carries it.
    uses_msi = env.get("ARM_USE_MSI", "").lower() == "true"
    missing = [name for name in ("ARM_TENANT_ID", "ARM_CLIENT_ID")
               if not env.get(name) and not uses_msi]
    has_secret = any(env.get(name) for name in (
        "ARM_CLIENT_SECRET", "ARM_CLIENT_CERTIFICATE_PATH", "ARM_OIDC_TOKEN",
        "ARM_OIDC_TOKEN_FILE_PATH", "ARM_OIDC_REQUEST_TOKEN", "ACTIONS_ID_TOKEN_REQUEST_TOKEN"))
    if not missing and (has_secret or uses_msi):
        return []
    what = ", ".join(missing) if missing else "a credential"
    return [f"no Azure credentials: {what} not set. Run `az login` (a person), or set "
            "ARM_TENANT_ID, ARM_CLIENT_ID plus ARM_CLIENT_SECRET (or ARM_USE_OIDC=true with an "
            "OIDC token, or ARM_USE_MSI=true); in Azure DevOps, addSpnToEnvironment: true on the "
            "AzureCLI@2 step provides the federated token"]


def _az_logged_in(env: Mapping[str, str], home: Path) -> bool:
    config_dir = Path(env.get("AZURE_CONFIG_DIR") or home / ".azure")
    profile = config_dir / "azureProfile.json"
    try:
        return bool(json.loads(profile.read_text(encoding="utf-8-sig")).get("subscriptions"))
    except (OSError, ValueError, AttributeError):
        return False


def init_timeout() -> float:
    raw = os.environ.get(INIT_TIMEOUT_ENV)
    try:
        return float(raw) if raw else DEFAULT_INIT_TIMEOUT
    except ValueError:
        raise AzurePrerequisiteError(f"{INIT_TIMEOUT_ENV}={raw!r}: expected seconds") from None


def provider_problem(message: str) -> str:
    """A readable reason for a failed provider download (init output)."""
    return ("cannot download the Terraform providers (azurerm, azuredevops) from "
            "registry.terraform.io: this machine has no route to it, or it timed out. Provision "
            "Azure from a machine or CI agent with internet access (or configure a provider "
            f"mirror in TF_CLI_CONFIG_FILE). Terraform said: {message}")
