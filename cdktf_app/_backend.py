"""The Azure stacks' remote state: an ``azurerm`` backend read from the environment's partial
backend file ``terraform/backends/<env>.azurerm.tfbackend`` (names only, no secrets). Without a
``storage_account_name`` there, the account is named from the subscription (storage account
names are global: mlops.azure_names.state_storage_account); the bootstrap creates it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.azure_names import state_storage_account
from mlops.config import InfraConfig
from mlops.errors import FactoryError

BACKENDS_DIR = Path(__file__).resolve().parents[1] / "terraform" / "backends"
BACKEND_KEYS = ("resource_group_name", "storage_account_name", "container_name", "key")
OPTIONAL_KEYS = ("storage_account_name",)
# Credentials belong to the environment (az login, OIDC), never to a committed file.
_FORBIDDEN = ("access_key", "sas_token", "client_secret", "client_certificate_password",
              "oidc_token", "oidc_request_token")


def backend_file(env_name: str, backends_dir: Path | None = None) -> Path:
    return (backends_dir or BACKENDS_DIR) / f"{env_name}.azurerm.tfbackend"


def read_backend(env_name: str, backends_dir: Path | None = None, *,
                 default_account: str | None = None) -> dict[str, str]:
    """The four names of the environment's backend file (the account defaults to
    ``default_account``); a missing file or key, or a secret, fails naming the file."""
    import hcl2

    path = backend_file(env_name, backends_dir)
    if not path.is_file():
        raise FactoryError(f"{path}: no azurerm backend configuration for infrastructure "
                           f"environment {env_name!r}; create it (see docs/azure.md)")
    try:
        parsed = hcl2.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # python-hcl2 raises lark errors of many kinds
        raise FactoryError(f"{path}: not a valid backend configuration: {exc}") from exc
    values = {key: str(value).strip('"') for key, value in parsed.items()}
    secrets = sorted(set(values) & set(_FORBIDDEN))
    if secrets:
        raise FactoryError(f"{path}: {', '.join(secrets)} must not be in a committed file; "
                           f"authenticate with az login or OIDC instead")
    if default_account and not values.get("storage_account_name"):
        values["storage_account_name"] = default_account
    missing = [key for key in BACKEND_KEYS if not values.get(key)]
    if missing:
        raise FactoryError(f"{path}: missing {', '.join(missing)} "
                           f"(expected {', '.join(BACKEND_KEYS)})")
    return {key: values[key] for key in BACKEND_KEYS}


def backend_settings(infra: InfraConfig, subscription_id: str,
                     backends_dir: Path | None = None) -> dict[str, str]:
    """The environment's backend names, the state account defaulted from the subscription."""
    return read_backend(infra.env_name, backends_dir,
                        default_account=state_storage_account(subscription_id, infra))


def state_key(stack_id: str, values: dict[str, str]) -> str:
    """Each stack keeps its own blob ``<stack>/<key>``."""
    return f"{stack_id}/{values['key']}"


def state_container_id(values: dict[str, str], subscription_id: str) -> str:
    """The ARM id of the state container: the scope of the state's role assignments."""
    return (f"/subscriptions/{subscription_id}/resourceGroups/{values['resource_group_name']}"
            f"/providers/Microsoft.Storage/storageAccounts/{values['storage_account_name']}"
            f"/blobServices/default/containers/{values['container_name']}")


def azurerm_backend(stack: Any, stack_id: str, infra: InfraConfig, subscription_id: str,
                    backends_dir: Path | None = None) -> dict[str, str]:
    """Configure ``stack``'s backend (Entra ID auth, never a key); returns its settings."""
    from cdktn import AzurermBackend

    values = backend_settings(infra, subscription_id, backends_dir)
    values["key"] = state_key(stack_id, values)
    AzurermBackend(stack, use_azuread_auth=True, subscription_id=subscription_id, **values)
    return values
