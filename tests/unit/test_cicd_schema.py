"""Every file in .azure-pipelines/ (pipelines and the step template) validates against the
official Azure Pipelines YAML schema (Draft 7), and the schema is strict enough to refuse a
misspelt key, an unknown task or a wrong extension-task input."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from mlops.cicd.definitions import AZURE_DIR, AZURE_SETUP_TEMPLATE

REPO = Path(__file__).resolve().parents[2]
VENDORED = REPO / "tests" / "fixtures" / "schemas" / "azure-pipelines-service-schema.json.gz"
# The shared copy beside the main checkout (../shared/schemas, see its README), when present.
SHARED = [root / "shared" / "schemas" / "azure-pipelines-service-schema.json"
          for root in (REPO.parent, REPO.parent.parent)]

# AzureMLJobWaitTask@1 comes from the Azure Machine Learning extension
# (ms-air-aiagility.azureml-v2), so the schema of built-in tasks does not list it. Its inputs,
# as Azure ML documents them: "The task has four inputs: Service Connection, Azure Resource Group
# Name, AzureML Workspace Name, and AzureML Job Name" (learn.microsoft.com/azure/machine-learning/
# how-to-devops-machine-learning, step 6). All four are required; nothing else is accepted.
WAIT_TASK = "AzureMLJobWaitTask@1"
WAIT_TASK_INPUTS = ("serviceConnection", "resourceGroupName", "azureMLWorkspaceName",
                    "azureMLJobName")


def _official() -> bytes:
    return gzip.decompress(VENDORED.read_bytes())


@cache
def schema() -> dict[str, Any]:
    official = json.loads(_official())
    task = official["definitions"]["task"]
    task["properties"]["task"]["anyOf"].append({"enum": [WAIT_TASK]})
    task["anyOf"].append({
        "properties": {
            "task": {"pattern": f"^{WAIT_TASK}$"},
            "inputs": {"properties": {name: {"type": "string"} for name in WAIT_TASK_INPUTS},
                       "additionalProperties": False, "required": list(WAIT_TASK_INPUTS)}},
        "required": ["task", "inputs"]})
    return official


def as_strings(value: Any) -> Any:
    """The schema types most scalars as strings (see the shared README); booleans stay as they
    are: where the schema wants a boolean (AzureCLI@2's addSpnToEnvironment) it says so, and
    where it wants a string a boolean fails, as Azure Pipelines would read it as text."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, dict):
        return {key: as_strings(item) for key, item in value.items()}
    if isinstance(value, list):
        return [as_strings(item) for item in value]
    return value


def problems(document: Any) -> list[str]:
    """The deepest reason of each schema error ('where: message'), readable in a failure."""
    def leaves(error: jsonschema.ValidationError):
        if not error.context:
            yield error
        for child in error.context:
            yield from leaves(child)

    found = []
    for error in jsonschema.Draft7Validator(schema()).iter_errors(as_strings(document)):
        deepest = max(leaves(error), key=lambda e: len(e.absolute_path))
        found.append(f"{'/'.join(map(str, deepest.absolute_path))}: {deepest.message[:200]}")
    return found


def azure_files() -> list[Path]:
    return sorted((REPO / AZURE_DIR).rglob("*.yml"))


def test_the_vendored_schema_is_the_official_one():
    assert hashlib.sha256(_official()).hexdigest() == (
        "f00a9630f6550204148634d9a13f634b5750a225559886effe09a751482f0459")
    for shared in SHARED:
        if shared.is_file():
            assert shared.read_bytes() == _official()
    assert jsonschema.Draft7Validator.META_SCHEMA["$schema"] == schema()["$schema"]


@pytest.mark.parametrize("path", azure_files(), ids=lambda p: p.relative_to(REPO).as_posix())
def test_every_azure_pipelines_file_validates(path):
    assert problems(yaml.safe_load(path.read_text(encoding="utf-8"))) == []


def test_the_step_template_is_among_them():
    assert REPO / AZURE_SETUP_TEMPLATE in azure_files()
    assert len(azure_files()) == len(list((REPO / AZURE_DIR).glob("*.yml"))) + 1


def _ci() -> dict[str, Any]:
    return yaml.safe_load((REPO / AZURE_DIR / "nyc_taxi_ci_dev_pipeline.yml").read_text())


def _wait_step(doc: dict[str, Any]) -> dict[str, Any]:
    return next(step for stage in doc["stages"] for job in stage["jobs"]
                for step in job["steps"] if step.get("task") == WAIT_TASK)


def test_the_schema_refuses_broken_pipelines():
    misspelt = _ci()
    misspelt["stages"][1]["dependsOnn"] = misspelt["stages"][1].pop("dependsOn")
    assert any("dependsOnn" in p for p in problems(misspelt))

    unknown = _ci()
    _wait_step(unknown)["task"] = "AzureMLJobWaitTask@9"
    assert problems(unknown)

    wrong_input = _ci()
    inputs = _wait_step(wrong_input)["inputs"]
    inputs["azureMLJob"] = inputs.pop("azureMLJobName")
    assert problems(wrong_input)

    template = yaml.safe_load((REPO / AZURE_SETUP_TEMPLATE).read_text())
    broken = copy.deepcopy(template)
    broken["steps"][1]["inputs"]["versionSpec"] = ["3.11"]  # not a string
    assert problems(template) == [] and problems(broken)
