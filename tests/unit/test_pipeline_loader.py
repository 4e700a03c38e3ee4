"""Pipeline + component YAML parsing: bindings, component resolution, and clear errors."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from mlops.pipeline.graph import PipelineCycleError
from mlops.pipeline.loader import PipelineSpecError, load_pipeline

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_pipeline"


@pytest.fixture
def tiny(tmp_path) -> Path:
    target = tmp_path / "tiny"
    shutil.copytree(FIXTURE, target)
    return target


def edit(folder: Path, change) -> Path:
    path = folder / "pipeline.yml"
    data = yaml.safe_load(path.read_text())
    change(data)
    path.write_text(yaml.safe_dump(data))
    return path


def test_fixture_pipeline_parses_with_bindings_and_components(tiny):
    spec = load_pipeline(tiny / "pipeline.yml")
    assert list(spec.jobs) == ["make", "left", "right", "join"]
    assert spec.inputs["raw_data"].type == "uri_folder"
    assert spec.inputs["raw_data"].value == str((tiny / "data").resolve())
    assert spec.inputs["scale"].value == 2 and spec.inputs["scale"].type == "integer"
    left = spec.jobs["left"]
    assert left.inputs["upstream"].upstream == ("make", "data")
    assert left.inputs["data"].parent_input == "raw_data"
    assert left.inputs["side"].literal == "left"
    assert left.depends_on == {"make"}
    assert spec.jobs["join"].depends_on == {"left", "right"}
    assert left.component.code == (tiny / "src").resolve()
    assert left.component.inputs["fail_step"].optional
    assert left.component.inputs["sleep"].default == 0
    assert spec.outputs == {"result": ("join", "result")}
    assert spec.find_output("result") == ("join", "result")


def test_unknown_job_reference_names_file_job_and_known_jobs(tiny):
    path = edit(tiny, lambda d: d["jobs"]["join"]["inputs"].update(
        left="${{parent.jobs.lefty.outputs.out}}"))
    with pytest.raises(PipelineSpecError, match=r"pipeline.yml: job 'join': inputs.left: "
                                                r"refers to job 'lefty', which does not exist"):
        load_pipeline(path)


def test_unknown_upstream_output_is_named(tiny):
    path = edit(tiny, lambda d: d["jobs"]["join"]["inputs"].update(
        left="${{parent.jobs.left.outputs.nope}}"))
    with pytest.raises(PipelineSpecError, match="job 'left' has no output 'nope'"):
        load_pipeline(path)


def test_unknown_pipeline_input_is_named(tiny):
    path = edit(tiny, lambda d: d["jobs"]["make"]["inputs"].update(
        scale="${{parent.inputs.scaling}}"))
    with pytest.raises(PipelineSpecError, match="pipeline input 'scaling'"):
        load_pipeline(path)


def test_missing_component_file_names_the_job(tiny):
    path = edit(tiny, lambda d: d["jobs"]["make"].update(component="file:components/nope.yml"))
    with pytest.raises(PipelineSpecError, match=r"job 'make': component file .*nope.yml not found"):
        load_pipeline(path)


def test_input_the_component_does_not_declare(tiny):
    path = edit(tiny, lambda d: d["jobs"]["make"]["inputs"].update(colour="red"))
    with pytest.raises(PipelineSpecError, match="make.yml has no input 'colour'"):
        load_pipeline(path)


def test_required_input_left_unbound(tiny):
    path = edit(tiny, lambda d: d["jobs"]["join"]["inputs"].pop("right"))
    with pytest.raises(PipelineSpecError, match="required input 'right' of join.yml is not bound"):
        load_pipeline(path)


def test_cycle_is_reported_with_the_file_and_jobs(tiny):
    path = edit(tiny, lambda d: d["jobs"]["make"]["inputs"].update(
        raw_data="${{parent.jobs.join.outputs.result}}"))
    with pytest.raises(PipelineCycleError, match=r"pipeline.yml: jobs .*join.*make.* cycle"):
        load_pipeline(path)


def test_malformed_reference_expression(tiny):
    path = edit(tiny, lambda d: d["jobs"]["make"]["inputs"].update(scale="${{inputs.scale}}"))
    with pytest.raises(PipelineSpecError, match="job 'make': inputs.scale"):
        load_pipeline(path)


def test_component_without_command_and_missing_code_folder(tiny):
    component = tiny / "components" / "join.yml"
    data = yaml.safe_load(component.read_text())
    component.write_text(yaml.safe_dump({**data, "code": "../missing"}))
    with pytest.raises(PipelineSpecError, match=r"join.yml: code: folder .*missing does not exist"):
        load_pipeline(tiny / "pipeline.yml")
    component.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "command"}))
    with pytest.raises(PipelineSpecError, match="join.yml: command"):
        load_pipeline(tiny / "pipeline.yml")


def test_not_yaml_and_missing_file(tiny):
    (tiny / "pipeline.yml").write_text("jobs: [unclosed")
    with pytest.raises(PipelineSpecError, match="pipeline.yml: not valid YAML"):
        load_pipeline(tiny / "pipeline.yml")
    with pytest.raises(PipelineSpecError, match="pipeline file not found"):
        load_pipeline(tiny / "absent.yml")


def set_tags(tiny: Path, component: str, tags) -> None:
    path = tiny / "components" / f"{component}.yml"
    data = yaml.safe_load(path.read_text())
    data["tags"] = tags
    path.write_text(yaml.safe_dump(data))


def test_factory_tags_are_read_from_the_component(tiny):
    set_tags(tiny, "join", {"factory.effect": "registry", "factory.spawn": True, "team": "x"})
    component = load_pipeline(tiny / "pipeline.yml").jobs["join"].component
    assert component.effect == "registry" and component.spawn
    assert component.tags["team"] == "x"
    make = load_pipeline(tiny / "pipeline.yml").jobs["make"].component
    assert make.effect is None and not make.spawn


@pytest.mark.parametrize(("tags", "message"), [
    ({"factory.efect": "registry"}, r"join.yml: tags.factory.efect: not a factory tag"),
    ({"factory.effect": "endpoint"}, r"join.yml: tags.factory.effect: 'endpoint' is not an "
                                     r"effect the runner can verify .*known: registry"),
    ({"factory.spawn": "sometimes"}, r"join.yml: tags.factory.spawn: expected true or false"),
    (["factory.spawn"], r"join.yml: tags: expected a mapping"),
    ({"factory.effect": ["registry"]}, r"join.yml: tags.factory.effect: expected a single value"),
])
def test_a_bad_factory_tag_is_named(tiny, tags, message):
    set_tags(tiny, "join", tags)
    with pytest.raises(PipelineSpecError, match=message):
        load_pipeline(tiny / "pipeline.yml")


def test_azure_ml_accepts_the_factory_tags_on_a_command_component(tiny):
    # Azure ML command component YAML has `tags: object` ("Dictionary of tags for the
    # component"): https://learn.microsoft.com/azure/machine-learning/reference-yaml-component-command
    from azure.ai.ml import load_component

    set_tags(tiny, "join", {"factory.effect": "registry", "factory.spawn": "true"})
    component = load_component(tiny / "components" / "join.yml")
    assert component.tags == {"factory.effect": "registry", "factory.spawn": "true"}
