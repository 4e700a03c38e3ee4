"""The Azure stacks' remote state: an ``azurerm`` backend read from the environment's partial
backend file ``terraform/backends/<env>.azurerm.tfbackend`` (names only, no secrets)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mlops.errors import FactoryError

BACKENDS_DIR = Path(__file__).resolve().parents[1] / "terraform" / "backends"
BACKEND_KEYS = ("resource_group_name", "storage_account_name", "container_name", "key")
# Credentials belong to the environment (az login, OIDC), never to a committed file.
_FORBIDDEN = ("access_key", "sas_token", "client_secret", "client_certificate_password",
              "oidc_token", "oidc_request_token")


def backend_file(env_name: str, backends_dir: Path | None = None) -> Path:
    return (backends_dir or BACKENDS_DIR) / f"{env_name}.azurerm.tfbackend"


def read_backend(env_name: str, backends_dir: Path | None = None) -> dict[str, str]:
    """The four names of the environment's backend file; a missing file or key, or a secret,
    fails naming the file."""
    import hcl2

    path = backend_file(env_name, backends_dir)
    if not path.is_file():
        raise FactoryError(f"{path}: no azurerm backend configuration for infrastructure "
                           f"environment {env_name!r}; create it (see terraform/backends/README.md)")
    try:
        parsed = hcl2.loads(path.read_text(encoding="utf-8"))
    except Exception as exc:  # python-hcl2 raises lark errors of many kinds
        raise FactoryError(f"{path}: not a valid backend configuration: {exc}") from exc
    values = {key: str(value).strip('"') for key, value in parsed.items()}
    secrets = sorted(set(values) & set(_FORBIDDEN))
    if secrets:
        raise FactoryError(f"{path}: {', '.join(secrets)} must not be in a committed file; "
                           f"authenticate with az login or OIDC instead")
    missing = [key for key in BACKEND_KEYS if not values.get(key)]
    if missing:
        raise FactoryError(f"{path}: missing {', '.join(missing)} "
                           f"(expected {', '.join(BACKEND_KEYS)})")
    return {key: values[key] for key in BACKEND_KEYS}


def azurerm_backend(stack: Any, stack_id: str, env_name: str,
                    backends_dir: Path | None = None) -> dict[str, str]:
    """Configure ``stack``'s backend; each stack keeps its own blob ``<stack>/<key>``."""
    from cdktn import AzurermBackend

    values = read_backend(env_name, backends_dir)
    values["key"] = f"{stack_id}/{values['key']}"
    AzurermBackend(stack, use_azuread_auth=True, **values)
    return values
