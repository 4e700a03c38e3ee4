"""Azure ML pipeline-job and command-component YAML -> PipelineSpec. Every problem raises one
PipelineSpecError naming the file, the job and the key, and saying what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from mlops.errors import FactoryError
from mlops.pipeline.effects import EFFECTS
from mlops.pipeline.graph import order
from mlops.pipeline.spec import (
    DATA_TYPES,
    EFFECT_TAG,
    FACTORY_TAGS,
    JOB_OUTPUT,
    LITERAL_TYPES,
    PARENT_INPUT,
    PARENT_OUTPUT,
    SPAWN_TAG,
    Binding,
    ComponentSpec,
    JobSpec,
    PipelineInput,
    PipelineSpec,
    PortSpec,
)
from mlops.staging import value_type


class PipelineSpecError(FactoryError):
    """The pipeline or component YAML is not something the runner can execute."""


def _read_yaml(path: Path, what: str) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise PipelineSpecError(f"{path}: {what} file not found") from None
    except yaml.YAMLError as exc:
        raise PipelineSpecError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PipelineSpecError(f"{path}: expected a mapping at the top level of the {what}")
    return data


def _ports(file: Path, data: dict[str, Any], key: str) -> dict[str, PortSpec]:
    ports: dict[str, PortSpec] = {}
    for name, decl in (data.get(key) or {}).items():
        if not isinstance(decl, dict) or "type" not in decl:
            raise PipelineSpecError(f"{file}: {key}.{name}: expected a mapping with 'type'")
        kind = str(decl["type"])
        if kind not in DATA_TYPES + LITERAL_TYPES:
            raise PipelineSpecError(f"{file}: {key}.{name}.type: {kind!r} is not one of "
                                    f"{', '.join(DATA_TYPES + LITERAL_TYPES)}")
        ports[name] = PortSpec(name, kind, decl.get("default"), bool(decl.get("optional", False)))
    return ports


def _tags(file: Path, data: dict[str, Any]) -> dict[str, str]:
    """The component's tags as strings; the factory's own tags are checked by name and value."""
    raw = data.get("tags") or {}
    if not isinstance(raw, dict):
        raise PipelineSpecError(f"{file}: tags: expected a mapping of tag name -> value")
    tags: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, (dict, list)) or value is None:
            raise PipelineSpecError(f"{file}: tags.{key}: expected a single value, got "
                                    f"{type(value).__name__}")
        tags[str(key)] = str(value).lower() if isinstance(value, bool) else str(value)
        if str(key).startswith("factory.") and key not in FACTORY_TAGS:
            raise PipelineSpecError(f"{file}: tags.{key}: not a factory tag (known: "
                                    f"{', '.join(FACTORY_TAGS)})")
    if EFFECT_TAG in tags and tags[EFFECT_TAG] not in EFFECTS:
        raise PipelineSpecError(f"{file}: tags.{EFFECT_TAG}: {tags[EFFECT_TAG]!r} is not an "
                                f"effect the runner can verify before reuse (known: "
                                f"{', '.join(EFFECTS)})")
    if tags.get(SPAWN_TAG, "false").lower() not in ("true", "false"):
        raise PipelineSpecError(f"{file}: tags.{SPAWN_TAG}: expected true or false, got "
                                f"{tags[SPAWN_TAG]!r}")
    return tags


def load_component(path: Path) -> ComponentSpec:
    """One command component file."""
    return _component(path, _read_yaml(path, "component"), path.parent)


def _component(file: Path, data: dict[str, Any], base: Path) -> ComponentSpec:
    kind = data.get("type", "command")
    if kind != "command":
        raise PipelineSpecError(f"{file}: type: only command components run locally, got {kind!r}")
    command = data.get("command")
    if not isinstance(command, str) or not command.strip():
        raise PipelineSpecError(f"{file}: command: expected the command line to run")
    code = data.get("code", ".")
    if not isinstance(code, str) or code.startswith(("azureml:", "http://", "https://")):
        raise PipelineSpecError(f"{file}: code: expected a local folder, got {code!r}")
    code_dir = (base / code.removeprefix("file:")).resolve()
    if not code_dir.is_dir():
        raise PipelineSpecError(f"{file}: code: folder {code_dir} does not exist")
    return ComponentSpec(
        name=str(data.get("name") or file.stem), version=str(data.get("version", "1")),
        file=file, code=code_dir, command=" ".join(command.split()),
        inputs=_ports(file, data, "inputs"), outputs=_ports(file, data, "outputs"),
        is_deterministic=bool(data.get("is_deterministic", True)), tags=_tags(file, data))


def _pipeline_inputs(file: Path, data: dict[str, Any]) -> dict[str, PipelineInput]:
    inputs: dict[str, PipelineInput] = {}
    for name, value in (data.get("inputs") or {}).items():
        if isinstance(value, dict):
            kind = str(value.get("type", "uri_folder"))
            if kind in DATA_TYPES:
                path = value.get("path")
                if path is not None and not str(path).startswith("azureml:"):
                    path = str((file.parent / str(path)).resolve())
                inputs[name] = PipelineInput(name, kind, path)
            elif kind in LITERAL_TYPES:
                inputs[name] = PipelineInput(name, kind, value.get("default", value.get("value")))
            else:
                raise PipelineSpecError(f"{file}: inputs.{name}.type: {kind!r} is not one of "
                                        f"{', '.join(DATA_TYPES + LITERAL_TYPES)}")
        else:
            inputs[name] = PipelineInput(name, value_type(value), value)
    return inputs


def _binding(file: Path, job: str, name: str, value: Any, pipeline_inputs: dict[str, Any],
             job_names: set[str]) -> Binding:
    where = f"{file}: job {job!r}: inputs.{name}"
    if isinstance(value, dict):
        if "path" in value:
            return Binding(path=str(value["path"]))
        value = value.get("value", value.get("default"))
    if isinstance(value, str) and "${{" in value:
        if m := PARENT_INPUT.match(value.strip()):
            if m.group(1) not in pipeline_inputs:
                raise PipelineSpecError(f"{where}: refers to pipeline input {m.group(1)!r}, which "
                                        f"the pipeline does not declare (inputs: "
                                        f"{', '.join(pipeline_inputs) or 'none'})")
            return Binding(parent_input=m.group(1))
        if m := JOB_OUTPUT.match(value.strip()):
            if m.group(1) not in job_names:
                raise PipelineSpecError(f"{where}: refers to job {m.group(1)!r}, which does not "
                                        f"exist (jobs: {', '.join(sorted(job_names))})")
            return Binding(upstream=(m.group(1), m.group(2)))
        raise PipelineSpecError(f"{where}: {value!r} is not ${{{{parent.inputs.<name>}}}} or "
                                f"${{{{parent.jobs.<job>.outputs.<name>}}}}")
    return Binding(literal=value)


def load_pipeline(path: Path) -> PipelineSpec:
    """The pipeline job at ``path`` with its components, checked and ordered."""
    path = Path(path).resolve()
    data = _read_yaml(path, "pipeline")
    if data.get("type", "pipeline") != "pipeline":
        raise PipelineSpecError(f"{path}: type: expected 'pipeline', got {data.get('type')!r}")
    raw_jobs = data.get("jobs")
    if not isinstance(raw_jobs, dict) or not raw_jobs:
        raise PipelineSpecError(f"{path}: jobs: expected a mapping of job name -> job")
    inputs = _pipeline_inputs(path, data)
    job_names = set(raw_jobs)
    jobs: dict[str, JobSpec] = {}
    pipeline_outputs: dict[str, tuple[str, str]] = {}
    for name, raw in raw_jobs.items():
        if not isinstance(raw, dict):
            raise PipelineSpecError(f"{path}: job {name!r}: expected a mapping")
        component = _job_component(path, name, raw.get("component"))
        bindings = {key: _binding(path, name, key, value, inputs, job_names)
                    for key, value in (raw.get("inputs") or {}).items()}
        for key in bindings:
            if key not in component.inputs:
                raise PipelineSpecError(
                    f"{path}: job {name!r}: inputs.{key}: component {component.file.name} has no "
                    f"input {key!r} (it has: {', '.join(component.inputs) or 'none'})")
        for key, port in component.inputs.items():
            if key not in bindings and port.default is None and not port.optional:
                raise PipelineSpecError(f"{path}: job {name!r}: required input {key!r} of "
                                        f"{component.file.name} is not bound")
        outputs: dict[str, str | None] = {}
        for key, value in (raw.get("outputs") or {}).items():
            if key not in component.outputs:
                raise PipelineSpecError(
                    f"{path}: job {name!r}: outputs.{key}: component {component.file.name} has no "
                    f"output {key!r} (it has: {', '.join(component.outputs) or 'none'})")
            m = PARENT_OUTPUT.match(value.strip()) if isinstance(value, str) else None
            outputs[key] = m.group(1) if m else None
            if m:
                pipeline_outputs[m.group(1)] = (name, key)
        jobs[name] = JobSpec(name, component, bindings, outputs)
    for job in jobs.values():
        for key, binding in job.inputs.items():
            if binding.upstream and binding.upstream[1] not in jobs[binding.upstream[0]].component.outputs:
                up, out = binding.upstream
                raise PipelineSpecError(
                    f"{path}: job {job.name!r}: inputs.{key}: job {up!r} has no output {out!r} "
                    f"(it has: {', '.join(jobs[up].component.outputs) or 'none'})")
    spec = PipelineSpec(path, data.get("display_name"), data.get("experiment_name"), inputs,
                        jobs, pipeline_outputs)
    order(spec)  # raises on cycles, naming the file and the jobs involved
    return spec


def _job_component(path: Path, job: str, ref: Any) -> ComponentSpec:
    if isinstance(ref, dict):  # inline component
        return _component(path, ref, path.parent)
    if not isinstance(ref, str) or not ref.strip():
        raise PipelineSpecError(f"{path}: job {job!r}: component: expected file:<path> of a "
                                f"command component YAML")
    if ref.startswith("azureml:"):
        raise PipelineSpecError(f"{path}: job {job!r}: component: {ref!r} is a registered "
                                f"component; the local runner needs file:<path>")
    file = (path.parent / ref.removeprefix("file:")).resolve()
    if not file.is_file():
        raise PipelineSpecError(f"{path}: job {job!r}: component file {file} not found")
    return load_component(file)
