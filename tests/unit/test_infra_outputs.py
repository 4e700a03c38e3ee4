"""read_workspace: the workspace comes from `terraform output -json` of the target's stack, and
every way of not having one says to run `nox -s provision`."""

from __future__ import annotations

import json

import pytest

import mlops.infra.terraform_dir as terraform_dir
from mlops.config import load_config
from mlops.errors import WorkspaceNotProvisioned
from mlops.infra import read_workspace
from mlops.infra.layout import Layout
from mlops.terraform import CommandResult, Terraform

AZURE_WS = {"target": "azure", "name": "mlw-mlops-mf-001", "location": "westeurope",
            "compute": {"name": "cpu-cluster", "size": "STANDARD_DS3_V2", "max_nodes": 2,
                        "min_nodes": 0},
            "batch_compute": {"name": "batch-cluster", "size": "STANDARD_DS3_V2",
                              "max_nodes": 2, "min_nodes": 0},
            "mlflow_tracking_uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0/x",
            "mlflow_registry_uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0/x",
            "subscription_id": "00000000-0000-0000-0000-000000000000",
            "resource_group": "rg-mlops-mf-001"}


@pytest.fixture
def outputs(config_root, monkeypatch):
    """Answer `terraform output -json` with the given outputs; record the command lines."""
    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    answer: dict = {}
    calls: list[list[str]] = []

    def run(argv, *, cwd, env, on_line=None, timeout=None):
        calls.append(list(argv))
        return CommandResult(0, stdout=json.dumps({k: {"sensitive": False, "value": v}
                                                   for k, v in answer.items()}))

    real = terraform_dir.terraform_for
    monkeypatch.setattr(terraform_dir, "terraform_for",
                        lambda stack, layout, **kw: Terraform(**{**vars(real(stack, layout, **kw)),
                                                                 "run": run}))
    layout = Layout.of(config_root)
    layout.data_dir("azureml").mkdir(parents=True)
    (layout.data_dir("azureml") / "factory-init.json").write_text("{}")
    return answer, calls, load_config(config_root)


def test_azure_workspace_from_the_azureml_stack_outputs(outputs):
    answer, calls, config = outputs
    answer["workspace"] = AZURE_WS
    workspace = read_workspace(config, "azure")
    assert (workspace.target, workspace.resource_group, workspace.compute.max_nodes) == \
        ("azure", "rg-mlops-mf-001", 2)
    assert calls == [["terraform", "output", "-no-color", "-json"]]


def test_no_workspace_output_says_to_provision(outputs):
    _, _, config = outputs
    with pytest.raises(WorkspaceNotProvisioned,
                       match=r"no `workspace` output .* run `nox -s provision -- --target azure`"):
        read_workspace(config, "azure")


def test_a_workspace_of_the_wrong_target_is_refused(outputs):
    answer, _, config = outputs
    answer["workspace"] = {**AZURE_WS, "target": "local"}
    with pytest.raises(WorkspaceNotProvisioned, match="describes a 'local' workspace"):
        read_workspace(config, "azure")


def test_local_reads_the_state_file_directly(outputs):
    answer, calls, config = outputs
    with pytest.raises(WorkspaceNotProvisioned, match="no Terraform state at"):
        read_workspace(config, "local")
    state = Layout.of(config.root).local_state()
    state.parent.mkdir(parents=True)
    state.write_text("{}")
    answer["workspace"] = {**AZURE_WS, "target": "local", "root": "/w"}
    assert read_workspace(config, "local").root.as_posix() == "/w"
    assert calls[-1] == ["terraform", "output", "-no-color", "-json", f"-state={state}"]
