"""Shared fixtures: a throw-away copy of the factory's configuration to break on purpose."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mlops.pipeline.kept import KEEP_ENV
from mlops.testkit.config_tree import copy_config_tree

REPO = Path(__file__).resolve().parents[1]
# The suite starts kept warm servers under many start-up environments (a test's PYTHONPATH, its
# thread counts): none should outlive it by the default quarter of an hour.
os.environ.setdefault(KEEP_ENV, "120")


def _rank(item: pytest.Item) -> int:
    return 0 if item.get_closest_marker("slow") else 1 if item.get_closest_marker(
        "integration") else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Modules holding a slow test first, then other integration modules, then the unit tests,
    each keeping its own order. `nox -s tests` hands whole modules to its workers in this order
    (mlops/sessions.py: --no-loadscope-reorder; pytest-xdist would otherwise start with the
    modules of most tests, the quick unit ones), so the longest start first and the quick ones
    even out the end of the run."""
    module_rank: dict[str, int] = {}
    for item in items:
        module = item.nodeid.split("::")[0]
        module_rank[module] = min(module_rank.get(module, 2), _rank(item))
    items.sort(key=lambda item: module_rank[item.nodeid.split("::")[0]])
@pytest.fixture
def config_root(tmp_path: Path) -> Path:
    return copy_config_tree(tmp_path)


@pytest.fixture
def plugin_factory(tmp_path: Path):
    """plugin_factory(task, features, target) -> a staged ModelKit of a minimal plugin."""
    from mlops.testkit.kit import ModelKit, write_plugin

    def make(task: str, features: list[str], target: str, name: str = "tiny") -> ModelKit:
        folder = write_plugin(tmp_path / "plugins" / name, task, features, target)
        return ModelKit.staged(folder, tmp_path / "stage")

    return make


@pytest.fixture
def edit_json(config_root: Path) -> Callable[[str, Callable[[Any], Any]], None]:
    """edit_json("config/model_config.json", fn): fn mutates the parsed JSON in place."""

    def edit(relative: str, change: Callable[[Any], Any]) -> None:
        path = config_root / relative
        data = json.loads(path.read_text())
        change(data)
        path.write_text(json.dumps(data, indent=2))

    return edit


# A subscription and organisation for synthesising the Azure stacks offline (never applied).
TEST_SUBSCRIPTION = "11111111-2222-3333-4444-555555555555"
TEST_ORGANIZATION = "https://dev.azure.com/contoso"


@pytest.fixture(scope="session")
def azure_settings():
    from mlops.azure_names import AzureSettings

    return AzureSettings(TEST_SUBSCRIPTION, TEST_ORGANIZATION)


@pytest.fixture(scope="session")
def azure_stacks(tmp_path_factory, azure_settings) -> Path:
    """The Azure stacks of the repository's config, synthesised once per test run (node takes
    seconds): <dir>/<stack>/cdk.tf.json."""
    from cdktf_app.app import synth
    from mlops.config import load_config

    outdir = tmp_path_factory.mktemp("cdktf-azure")
    synth(load_config(), "azure", outdir, settings=azure_settings)
    return outdir / "stacks"


@pytest.fixture
def azure_workspace_output() -> dict:
    """The value of a provisioned azureml stack's `workspace` output (mlops.records.Workspace)."""
    return {"target": "azure", "name": "mlw-mlops-mf-001", "location": "westeurope",
            "compute": {"name": "cpu-cluster", "size": "STANDARD_DS3_V2", "max_nodes": 2,
                        "min_nodes": 0},
            "batch_compute": {"name": "batch-cluster", "size": "STANDARD_DS3_V2",
                              "max_nodes": 2, "min_nodes": 0},
            "mlflow_tracking_uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0/x",
            "mlflow_registry_uri": "azureml://westeurope.api.azureml.ms/mlflow/v1.0/x",
            "subscription_id": TEST_SUBSCRIPTION, "resource_group": "rg-mlops-mf-001",
            "endpoint_suffix": "0a1b2c"}
