"""read_workspace: the provisioned workspace, from `terraform output -json` (never guessed), and
workspace_for, the one door the model sessions use to get it.

The provisioning boundary: on ``local`` the model sessions provision on demand (one command from
a fresh clone does everything; a no-op provision costs about a second). On ``azure`` they only
read: a backend-only Terraform configuration (the azureml stack's state blob, no providers, no
resources) is initialised and asked for its outputs. Nothing in that folder can plan or apply
the stack, and reading needs only Storage Blob Data Reader on the state container
(mlops.identities). Only the infrastructure pipeline's `provision` changes infrastructure.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from mlops.config import FactoryConfig
from mlops.errors import WorkspaceNotProvisioned
from mlops.infra.layout import Layout
from mlops.records import RecordError, Workspace
from mlops.terraform import Terraform, TerraformError

_STACK = {"local": "local", "azure": "azureml"}  # the stack whose output `workspace` counts
AZURE_HINT = "not provisioned: run the infrastructure pipeline (nox -s provision -- --target azure)"
_READER_STAMP = "factory-reader.json"


def _provision_hint(target: str) -> str:
    return AZURE_HINT if target == "azure" else "run `nox -s provision`"


def workspace_for(config: FactoryConfig, target: str, *, env: str | None = None,
                  layout: Layout | None = None) -> Workspace:
    """The workspace model sessions work in, of infrastructure environment ``env`` (default:
    the selected one). local: provisioned on demand first; azure: read from the Terraform
    outputs only, never planned or applied."""
    layout = layout or Layout.of(config.root, env)
    if target == "local":
        from mlops.infra.lifecycle import provision_on_demand

        provision_on_demand(config, layout)
    return read_workspace(config, target, layout=layout)


def read_workspace(config: FactoryConfig, target: str, *, env: str | None = None,
                   layout: Layout | None = None) -> Workspace:
    """The provisioned workspace of ``env`` from its Terraform outputs; never provisions."""
    from mlops.infra.terraform_dir import terraform_for

    layout = layout or Layout.of(config.root, env)
    stack = _STACK[target]
    state = None
    if target == "local":
        tf = terraform_for(stack, layout, progress=None)
        state = layout.local_state()
        if not state.is_file():
            raise WorkspaceNotProvisioned(f"the local workspace is not provisioned (no Terraform "
                                          f"state at {state}); {_provision_hint(target)}")
        # -state reads the local state file directly: no init, no synth folder needed
        tf.working_dir = state.parent
        tf.data_dir = layout.root / "terraform" / ".outputs"
    else:
        tf = azure_outputs_reader(config, layout)
    try:
        outputs = tf.output(state=state)
    except TerraformError as exc:
        raise WorkspaceNotProvisioned(f"cannot read the {target} workspace outputs: {exc}; "
                                      f"{_provision_hint(target)}") from exc
    if not outputs.get("workspace"):
        raise WorkspaceNotProvisioned(f"the {target} stack has no `workspace` output (not "
                                      f"provisioned, or destroyed); {_provision_hint(target)}")
    try:
        workspace = Workspace.from_output(outputs["workspace"])
    except RecordError as exc:
        raise WorkspaceNotProvisioned(f"{exc}; {_provision_hint(target)}") from None
    if workspace.target != target:
        raise WorkspaceNotProvisioned(f"the {stack} stack describes a {workspace.target!r} "
                                      f"workspace, expected {target!r}; {_provision_hint(target)}")
    return workspace


def reader_config(config: FactoryConfig, env: str | None = None) -> dict:
    """The backend-only configuration of the azureml stack's state: no provider, no resource."""
    from cdktf_app._backend import backend_settings, state_key
    from mlops.azure_names import AzureSettings
    from mlops.config.loader import selected_infra_env

    infra = config.infra_env(env or selected_infra_env())
    subscription = AzureSettings.resolve(infra, organization=False,
                                         purpose="read the azure workspace").subscription_id
    values = backend_settings(infra, subscription)
    values["key"] = state_key(_STACK["azure"], values)
    return {"terraform": {"backend": {"azurerm": {
        **values, "use_azuread_auth": True, "subscription_id": subscription}}}}


def azure_outputs_reader(config: FactoryConfig, layout: Layout) -> Terraform:
    """Terraform over the backend-only folder, initialised (backend only) when it changed."""
    from mlops._environment import tool_environment
    from mlops.infra import azure_preflight
    from mlops.infra.credentials import terraform_env
    from mlops.infra.layout import lock_timeout

    folder = layout.root / "outputs" / "azureml"
    data_dir = layout.root / "terraform" / "azureml-outputs"
    folder.mkdir(parents=True, exist_ok=True)
    data_dir.mkdir(parents=True, exist_ok=True)
    text = json.dumps(reader_config(config, layout.env), indent=2, sort_keys=True)
    main = folder / "main.tf.json"
    if not main.is_file() or main.read_text() != text:
        main.write_text(text)
    tf = Terraform(folder, env=terraform_env(tool_environment()), data_dir=data_dir,
                   lock_timeout=lock_timeout(), progress=None)
    stamp = data_dir / _READER_STAMP
    fingerprint = hashlib.sha256(text.encode()).hexdigest()
    if not _stamped(stamp, fingerprint):
        stamp.unlink(missing_ok=True)
        try:
            tf.init(reconfigure=True, timeout=azure_preflight.init_timeout(),
                    hint=azure_preflight.INIT_HINT)
        except TerraformError as exc:
            raise WorkspaceNotProvisioned(f"cannot read the Terraform state of the azure "
                                          f"workspace: {exc}; {AZURE_HINT}") from exc
        stamp.write_text(json.dumps({"fingerprint": fingerprint}))
    return tf


def _stamped(stamp: Path, fingerprint: str) -> bool:
    try:
        return json.loads(stamp.read_text())["fingerprint"] == fingerprint
    except (OSError, ValueError, KeyError):
        return False
