"""read_workspace: the workspace comes from `terraform output -json` of the target's stack (on
azure through a backend-only folder: read, never plan or apply), and every way of not having one
says what to run; workspace_for provisions local on demand and never azure."""

from __future__ import annotations

import functools
import json
import re
from pathlib import Path

import pytest

import mlops.infra.outputs as outputs_module
import mlops.infra.terraform_dir as terraform_dir
from mlops.config import load_config
from mlops.errors import FactoryError, WorkspaceNotProvisioned
from mlops.infra import read_workspace, workspace_for
from mlops.infra.layout import Layout
from mlops.terraform import CommandResult, Terraform

SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def outputs(config_root, monkeypatch):
    """Answer Terraform: `output -json` with the given outputs, `init` with success (or the
    given failure); record the command lines and the folders they ran in."""
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    monkeypatch.setenv("ARM_SUBSCRIPTION_ID", SUBSCRIPTION)
    answer: dict = {}
    calls: list[list[str]] = []
    folders: list[Path] = []
    init_fails: list[str] = []

    def run(argv, *, cwd, env, on_line=None, timeout=None):
        calls.append(list(argv))
        folders.append(Path(cwd))
        if argv[1] == "init" and init_fails:
            return CommandResult(1, stderr=init_fails[0])
        return CommandResult(0, stdout=json.dumps({k: {"sensitive": False, "value": v}
                                                   for k, v in answer.items()}))

    real = terraform_dir.terraform_for
    monkeypatch.setattr(terraform_dir, "terraform_for",
                        lambda stack, layout, **kw: Terraform(**{**vars(real(stack, layout, **kw)),
                                                                 "run": run}))
    monkeypatch.setattr(outputs_module, "Terraform", functools.partial(Terraform, run=run))
    return answer, calls, load_config(config_root), folders, init_fails


def test_azure_workspace_is_read_from_the_state_backend_only(outputs, azure_workspace_output):
    answer, calls, config, folders, _ = outputs
    answer["workspace"] = azure_workspace_output
    workspace = read_workspace(config, "azure")
    assert (workspace.target, workspace.resource_group, workspace.compute.max_nodes) == \
        ("azure", "rg-mlops-mf-001", 2)
    assert [c[1] for c in calls] == ["init", "output"]  # never plan, never apply
    assert calls[1] == ["terraform", "output", "-no-color", "-json"]
    # The folder Terraform ran in holds a backend and nothing else: no provider, no resource,
    # so nothing there could plan or change the stack.
    reader = json.loads((folders[0] / "main.tf.json").read_text())
    assert set(reader) == {"terraform"} and set(reader["terraform"]) == {"backend"}
    backend = reader["terraform"]["backend"]["azurerm"]
    assert backend["key"] == "azureml/mlops-mf-001.tfstate"
    assert backend["use_azuread_auth"] is True and backend["subscription_id"] == SUBSCRIPTION
    assert not {"access_key", "sas_token", "client_secret"} & set(backend)
    read_workspace(config, "azure")  # initialised once: the second read only asks for outputs
    assert [c[1] for c in calls] == ["init", "output", "output"]


def test_azure_read_without_a_subscription_names_the_variable(outputs, monkeypatch, azure_workspace_output):
    _, calls, config, _, _ = outputs
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID")
    with pytest.raises(FactoryError, match=r"(?s)cannot read the azure workspace:.*"
                                           r"ARM_SUBSCRIPTION_ID is not set"):
        read_workspace(config, "azure")
    assert calls == []


def test_no_workspace_output_says_to_run_the_infrastructure_pipeline(outputs, azure_workspace_output):
    _, _, config, _, _ = outputs
    with pytest.raises(WorkspaceNotProvisioned, match=re.escape(
            "not provisioned: run the infrastructure pipeline "
            "(nox -s provision -- --target azure)")):
        read_workspace(config, "azure")


def test_an_unreadable_state_says_to_run_the_infrastructure_pipeline(outputs, azure_workspace_output):
    _, calls, config, _, init_fails = outputs
    init_fails.append("Error: Failed to get existing workspaces: containers.Client#ListBlobs: "
                      "StatusCode=404")
    with pytest.raises(WorkspaceNotProvisioned,
                       match=r"(?s)cannot read the Terraform state.*not provisioned: run the "
                             r"infrastructure pipeline"):
        read_workspace(config, "azure")
    assert [c[1] for c in calls] == ["init"]


def test_a_workspace_of_the_wrong_target_is_refused(outputs, azure_workspace_output):
    answer, _, config, _, _ = outputs
    answer["workspace"] = {**azure_workspace_output, "target": "local"}
    with pytest.raises(WorkspaceNotProvisioned, match="describes a 'local' workspace"):
        read_workspace(config, "azure")


def test_workspace_for_provisions_local_on_demand_and_never_azure(outputs, monkeypatch, azure_workspace_output):
    import mlops.infra.lifecycle as lifecycle

    answer, calls, config, _, _ = outputs
    provisioned = []
    monkeypatch.setattr(lifecycle, "provision",
                        lambda config, target, layout=None: provisioned.append(target))
    answer["workspace"] = azure_workspace_output
    assert workspace_for(config, "azure").target == "azure"
    assert provisioned == []
    state = Layout.of(config.root).local_state()
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    answer["workspace"] = {**azure_workspace_output, "target": "local", "root": "/w"}
    assert workspace_for(config, "local").target == "local"
    assert provisioned == ["local"]


def test_local_reads_the_state_file_directly(outputs, azure_workspace_output):
    answer, calls, config, _, _ = outputs
    with pytest.raises(WorkspaceNotProvisioned, match="no Terraform state at"):
        read_workspace(config, "local")
    state = Layout.of(config.root).local_state()
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    answer["workspace"] = {**azure_workspace_output, "target": "local", "root": "/w"}
    assert read_workspace(config, "local").root.as_posix() == "/w"
    assert calls[-1] == ["terraform", "output", "-no-color", "-json", f"-state={state}"]
