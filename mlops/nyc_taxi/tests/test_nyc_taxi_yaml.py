"""The component and pipeline YAML load offline with azure-ai-ml, every ${{...}} binding names a
declared port, and the wiring is the contract's prep -> ... -> register."""

import re
from pathlib import Path

import pytest
import yaml

MODEL_DIR = Path(__file__).resolve().parents[1]
STEPS = ["prep", "transform", "train", "predict", "score", "register"]
PIPELINE_INPUTS = {"raw_data", "model_name", "gate_metric", "gate_threshold"}
_BINDING = re.compile(r"\$\{\{\s*(inputs|outputs)\.(\w+)\s*\}\}")
_PARENT = re.compile(r"^\$\{\{parent\.(?:inputs\.(\w+)|jobs\.(\w+)\.outputs\.(\w+))\}\}$")


def _component(step):
    return yaml.safe_load((MODEL_DIR / "components" / f"{step}.yml").read_text())


@pytest.fixture(scope="module")
def pipeline():
    return yaml.safe_load((MODEL_DIR / "pipeline.yml").read_text())


@pytest.mark.parametrize("step", STEPS)
def test_component_command_binds_only_declared_ports(step):
    component = _component(step)
    used = set(_BINDING.findall(component["command"]))
    declared = {("inputs", n) for n in component.get("inputs", {})}
    declared |= {("outputs", n) for n in component.get("outputs", {})}
    assert used == declared  # nothing undeclared, nothing declared but unused
    assert component["type"] == "command"
    code = (MODEL_DIR / "components" / component["code"]).resolve()
    script = component["command"].split()[1]
    if step != "register":  # the shared register step lives in mlops/steps (another part)
        assert (code / script).is_file()
    assert component["$schema"].endswith("commandComponent.schema.json")


def test_pipeline_wires_the_contract(pipeline):
    assert list(pipeline["jobs"]) == STEPS
    assert set(pipeline["inputs"]) >= PIPELINE_INPUTS
    assert pipeline["inputs"]["raw_data"]["type"] == "uri_folder"
    for name, job in pipeline["jobs"].items():
        component = _component(name)
        assert job["component"] == f"./components/{name}.yml"
        for port, binding in job.get("inputs", {}).items():
            assert port in component["inputs"], f"{name}.{port} is not a component input"
            match = _PARENT.match(binding)
            assert match, f"{name}.{port}: {binding}"
            parent_input, source_job, source_port = match.groups()
            if parent_input:
                assert parent_input in pipeline["inputs"], binding
            else:
                assert STEPS.index(source_job) < STEPS.index(name), binding
                assert source_port in _component(source_job)["outputs"], binding
        required = {p for p, spec in component["inputs"].items() if "default" not in spec}
        assert required <= set(job.get("inputs", {})), f"{name}: unbound {required}"


def test_training_defaults_agree_between_pipeline_and_component(pipeline):
    train = _component("train")
    for name, spec in train["inputs"].items():
        if "default" in spec:
            assert pipeline["inputs"][name] == spec["default"], name


def test_environment_is_the_configured_one():
    from mlops.config import load_config

    entry = next(e for (model, _), e in load_config().entries.items() if model == MODEL_DIR.name)
    for step in STEPS:
        assert _component(step)["environment"] == f"azureml:{entry.environment_name}@latest"


def test_azure_ai_ml_builds_the_pipeline_job_offline():
    from azure.ai.ml import load_component, load_job
    from azure.ai.ml.entities import CommandComponent, PipelineJob

    for step in STEPS:
        assert isinstance(load_component(MODEL_DIR / "components" / f"{step}.yml"),
                          CommandComponent)
    job = load_job(MODEL_DIR / "pipeline.yml")
    assert isinstance(job, PipelineJob)
    assert job.settings.default_compute == "cpu-cluster"
    assert list(job.jobs) == STEPS
    assert job._validate().passed
    assert job.jobs["train"].inputs["max_iter"]._data == "${{parent.inputs.max_iter}}"
