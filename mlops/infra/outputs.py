"""read_workspace: the provisioned workspace, from `terraform output -json` (never guessed)."""

from __future__ import annotations

from mlops.config import FactoryConfig
from mlops.errors import WorkspaceNotProvisioned
from mlops.infra.layout import Layout
from mlops.records import RecordError, Workspace
from mlops.terraform import TerraformError

_STACK = {"local": "local", "azure": "azureml"}  # the stack whose output `workspace` counts


def _provision_hint(target: str) -> str:
    return "run `nox -s provision" + (" -- --target azure`" if target == "azure" else "`")


def read_workspace(config: FactoryConfig, target: str, *, layout: Layout | None = None
                   ) -> Workspace:
    from mlops.infra.terraform_dir import terraform_for

    layout = layout or Layout.of(config.root)
    stack = _STACK[target]
    tf = terraform_for(stack, layout, progress=None)
    state = None
    if target == "local":
        state = layout.local_state()
        if not state.is_file():
            raise WorkspaceNotProvisioned(f"the local workspace is not provisioned (no Terraform "
                                          f"state at {state}); {_provision_hint(target)}")
        # -state reads the local state file directly: no init, no synth folder needed
        tf.working_dir = state.parent
        tf.data_dir = layout.root / "terraform" / ".outputs"
    elif not (layout.data_dir(stack) / "factory-init.json").is_file():
        raise WorkspaceNotProvisioned(f"the azure workspace has not been provisioned from "
                                      f"this checkout; {_provision_hint(target)}")
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
