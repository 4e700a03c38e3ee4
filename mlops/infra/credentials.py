"""How Terraform authenticates to Azure and Azure DevOps, from what the CI system provides.

Azure DevOps: the AzureCLI@2 task with ``addSpnToEnvironment: true`` on a workload identity
federation service connection exposes ``servicePrincipalId``, ``tenantId`` and ``idToken`` to its
script. The Azure CLI login it also makes is no use to Terraform: azurerm's Azure CLI
authentication works for user accounts only ("Authenticating using the Azure CLI is only
supported as a User (not a Service Principal)"). So the factory hands the federated token to
Terraform as ``ARM_USE_OIDC``/``ARM_OIDC_TOKEN``/``ARM_CLIENT_ID``/``ARM_TENANT_ID``, which azurerm,
its azurerm backend and the azuredevops provider (>= 1.0: ``use_oidc``, ``oidc_token``,
``client_id``, ``tenant_id`` from the same ARM_* variables) all read.

GitHub Actions: azurerm and azuredevops read ``ACTIONS_ID_TOKEN_REQUEST_URL``/``_TOKEN``
themselves; the workflow names the identity with ``AZURE_CLIENT_ID``/``AZURE_TENANT_ID``.

Locally (``az login`` as a person) nothing is mapped. The token is passed to the Terraform
subprocess only, never printed or written.
"""

from __future__ import annotations

from collections.abc import Mapping

# AzureCLI@2 addSpnToEnvironment -> azurerm / azuredevops provider variables
_ADO = {"servicePrincipalId": "ARM_CLIENT_ID", "tenantId": "ARM_TENANT_ID",
        "idToken": "ARM_OIDC_TOKEN"}
_GITHUB = {"AZURE_CLIENT_ID": "ARM_CLIENT_ID", "AZURE_TENANT_ID": "ARM_TENANT_ID"}


def terraform_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` plus the ARM_* variables the CI system's federated identity maps to; variables
    already set are kept (an explicit configuration wins)."""
    result = dict(env)
    if result.get("ARM_USE_OIDC", "").lower() == "true" or result.get("ARM_CLIENT_SECRET"):
        return result
    if all(result.get(k) for k in _ADO):
        mapping = _ADO
    elif result.get("ACTIONS_ID_TOKEN_REQUEST_URL") and all(result.get(k) for k in _GITHUB):
        mapping = _GITHUB
    else:
        return result
    for source, target in mapping.items():
        result.setdefault(target, result[source])
    result["ARM_USE_OIDC"] = "true"
    result.setdefault("ARM_USE_CLI", "false")  # a service principal's CLI login cannot be used
    return result


def devops_credential_problems(env: Mapping[str, str]) -> list[str]:
    """What the azuredevops provider lacks: a PAT, or an OIDC service principal."""
    env = terraform_env(env)
    if env.get("AZDO_PERSONAL_ACCESS_TOKEN"):
        return []
    oidc = env.get("ARM_USE_OIDC", "").lower() == "true" and env.get("ARM_CLIENT_ID") \
        and env.get("ARM_TENANT_ID") and any(env.get(k) for k in (
            "ARM_OIDC_TOKEN", "ARM_OIDC_TOKEN_FILE_PATH", "ARM_OIDC_REQUEST_URL",
            "ACTIONS_ID_TOKEN_REQUEST_URL"))
    if oidc:
        return []
    return ["no Azure DevOps credential for the azure_devops stack: export "
            "AZDO_PERSONAL_ACCESS_TOKEN (a PAT of a Project Administrator, from a secret store, "
            "never a file in the repository), or run in the infrastructure pipeline whose "
            "AzureCLI@2 step has addSpnToEnvironment: true (ARM_USE_OIDC with the federated "
            "token)"]
