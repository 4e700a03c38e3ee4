"""Stage a model's pipeline: one code folder (the factory's step files plus the model's own, the
model's winning on the same name), the component YAML of each step and the pipeline YAML, all
generated from the step graph below and the plugin's facts (mlops/plugins.py).

The staged folder is what the local runner runs and what Azure ML uploads: one thing, so the
two platforms cannot drift. It is content-addressed (.factory/staged/<model>/<digest>/) and
written once, atomically, so concurrent builds share it and a step's reuse key (which hashes
the code folder's content) is the same from one build to the next.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from mlops.paths import state_dir
from mlops.plugins import STEPS_DIR, ModelPlugin
from mlops.tasks import task

# Neutral factory modules the steps read too: staged into factory_steps/ under the same name.
SHARED_MODULES = tuple(Path(__file__).resolve().with_name(name)
                       for name in ("tasks.py", "registry_names.py"))
PIPELINE_FILE = "pipeline.yml"
CODE_DIR = "code"
COMPONENTS_DIR = "components"
KEEP_STAGED = 3  # older staged folders of a model are removed...
PRUNE_AFTER_S = 3600  # ...once nothing started from them recently
_SKIP = {"__pycache__", ".pytest_cache", ".ruff_cache"}

# Inputs the platform binds on every run (data asset, registered name, the model's gate).
BOUND_INPUTS = ("raw_data", "model_name", "gate_metric", "gate_threshold")
SPLIT_INPUTS = {"test_size": 0.3, "random_state": 42}  # step_train.SPLIT, as pipeline inputs
COMPONENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/commandComponent.schema.json"
PIPELINE_SCHEMA = "https://azuremlschemas.azureedge.net/latest/pipelineJob.schema.json"


@dataclass(frozen=True)
class Port:
    type: str  # uri_folder | mlflow_model | string | number | integer | boolean
    source: str | None = None  # "parent.<input>" or "<job>.<output>"; None: a component output


@dataclass(frozen=True)
class StepDef:
    name: str
    description: str
    inputs: dict[str, Port]
    outputs: dict[str, str]  # name -> type
    tags: dict[str, str] | None = None


# The factory's pipeline, one home: prep -> transform -> train -> predict -> score -> register.
# train's estimator parameters and split are added per model (see _train_inputs).
STEPS: tuple[StepDef, ...] = (
    StepDef("prep", "Read the model's raw files, check them, write clean rows",
            {"raw_data": Port("uri_folder", "parent.raw_data")}, {"prep_data": "uri_folder"}),
    StepDef("transform", "Build the model's input features and target",
            {"clean_data": Port("uri_folder", "prep.prep_data")},
            {"transformed_data": "uri_folder"}),
    StepDef("train", "Fit the model's estimator on a held-out split; save the MLflow model",
            {"training_data": Port("uri_folder", "transform.transformed_data")},
            {"model_output": "mlflow_model", "test_data": "uri_folder"}),
    StepDef("predict", "Predict the held-out rows with the trained model",
            {"model_input": Port("mlflow_model", "train.model_output"),
             "test_data": Port("uri_folder", "train.test_data")},
            {"predictions": "uri_folder"}),
    StepDef("score", "Compute the task's metrics of the predictions",
            {"predictions": Port("uri_folder", "predict.predictions")},
            {"score_report": "uri_folder"}),
    StepDef("register", "Register the candidate as champion only if it passes the gate and "
                        "beats the champion",
            {"model_path": Port("mlflow_model", "train.model_output"),
             "test_data": Port("uri_folder", "train.test_data"),
             "score_report": Port("uri_folder", "score.score_report"),
             "model_name": Port("string", "parent.model_name"),
             "gate_metric": Port("string", "parent.gate_metric"),
             "gate_threshold": Port("number", "parent.gate_threshold")},
            {"registration": "uri_folder"},
            # its effect (a registry entry) lives outside its outputs: see mlops/pipeline
            tags={"factory.effect": "registry"}),
)
STEP_NAMES = tuple(step.name for step in STEPS)
METRICS_STEP, METRICS_OUTPUT, METRICS_FILE = "score", "score_report", "metrics.json"
GATE_STEP, GATE_OUTPUT, GATE_FILE = "register", "registration", "decision.json"


@dataclass(frozen=True)
class StagedModel:
    model: str
    folder: Path
    digest: str

    @property
    def pipeline(self) -> Path:
        return self.folder / PIPELINE_FILE

    @property
    def code(self) -> Path:
        return self.folder / CODE_DIR


def script(step: str) -> str:
    """The file name of a step's entry script (factory's, or the model's own override)."""
    return f"step_{step}.py"


def value_type(value: Any) -> str:
    """The Azure ML input type of a literal value."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return "string"


def _train_inputs(plugin: ModelPlugin) -> dict[str, Any]:
    return {**SPLIT_INPUTS, **plugin.params}


def code_files(plugin: ModelPlugin) -> dict[str, Path]:
    """Relative name in the staged code folder -> source file: the factory's step files, the
    shared neutral modules under factory_steps/, then the model's src/ (winning on a name)."""
    files: dict[str, Path] = {}
    for base in (STEPS_DIR, plugin.src):
        for path in sorted(base.rglob("*")):
            relative = path.relative_to(base)
            if path.is_file() and not _SKIP & set(relative.parts) and path.suffix != ".pyc":
                files[relative.as_posix()] = path
        if base == STEPS_DIR:
            files.update({f"factory_steps/{m.name}": m for m in SHARED_MODULES})
    return dict(sorted(files.items()))


def component(plugin: ModelPlugin, step: StepDef, environment: str) -> dict[str, Any]:
    inputs: dict[str, Any] = {name: {"type": port.type} for name, port in step.inputs.items()}
    if step.name == "train":
        for name, default in _train_inputs(plugin).items():
            inputs[name] = {"type": value_type(default), "default": default}
    args = [f"--{name} ${{{{inputs.{name}}}}}" for name in inputs]
    args += [f"--{name} ${{{{outputs.{name}}}}}" for name in step.outputs]
    document: dict[str, Any] = {
        "$schema": COMPONENT_SCHEMA,
        "name": f"{plugin.name}_{step.name}",
        "display_name": step.name,
        "version": "1",
        "type": "command",
        "description": step.description,
        "inputs": inputs,
        "outputs": {name: {"type": kind} for name, kind in step.outputs.items()},
        "code": f"../{CODE_DIR}",
        "environment": f"azureml:{environment}@latest",
        "command": " ".join([f"python {script(step.name)}", *args]),
    }
    if step.tags:
        document["tags"] = dict(step.tags)
    return document


def pipeline(plugin: ModelPlugin, gate_metric: str | None = None,
             gate_threshold: float | None = None) -> dict[str, Any]:
    kind = task(plugin.task)
    inputs: dict[str, Any] = {
        "raw_data": {"type": "uri_folder"},
        "model_name": f"{plugin.name}-model",
        "gate_metric": gate_metric or kind.default_gate_metric,
        "gate_threshold": kind.default_gate_threshold if gate_threshold is None
        else gate_threshold,
        **_train_inputs(plugin),
    }
    jobs: dict[str, Any] = {}
    for step in STEPS:
        bindings = {}
        for name, port in step.inputs.items():
            origin, _, member = port.source.partition(".")
            bindings[name] = (f"${{{{parent.inputs.{member}}}}}" if origin == "parent"
                              else f"${{{{parent.jobs.{origin}.outputs.{member}}}}}")
        if step.name == "train":
            bindings.update({name: f"${{{{parent.inputs.{name}}}}}"
                             for name in _train_inputs(plugin)})
        jobs[step.name] = {"type": "command",
                           "component": f"./{COMPONENTS_DIR}/{step.name}.yml",
                           "inputs": bindings}
    return {
        "$schema": PIPELINE_SCHEMA,
        "type": "pipeline",
        "display_name": f"{plugin.name}-training",
        "experiment_name": plugin.name,
        "description": f"{plugin.name} ({plugin.task}): " + " -> ".join(STEP_NAMES),
        "inputs": inputs,
        "settings": {"continue_on_step_failure": False},
        "jobs": jobs,
    }


def documents(plugin: ModelPlugin, environment: str) -> dict[str, str]:
    """Relative path -> YAML text of the pipeline and its components."""
    dump = lambda doc: yaml.safe_dump(doc, sort_keys=False, width=100)  # noqa: E731
    docs = {PIPELINE_FILE: dump(pipeline(plugin))}
    for step in STEPS:
        docs[f"{COMPONENTS_DIR}/{step.name}.yml"] = dump(component(plugin, step, environment))
    return docs


def _digest(files: dict[str, Path], docs: dict[str, str]) -> str:
    digest = hashlib.sha256()
    for name, source in files.items():
        digest.update(f"{CODE_DIR}/{name}\0".encode())
        digest.update(source.read_bytes())
    digest.update(json.dumps(docs, sort_keys=True).encode())
    return digest.hexdigest()


def stage(plugin: ModelPlugin, environment: str, root: Path | None = None) -> StagedModel:
    """The staged pipeline of ``plugin`` (written now unless an identical one exists)."""
    files = code_files(plugin)
    docs = documents(plugin, environment)
    digest = _digest(files, docs)
    base = (root or state_dir()) / "staged" / plugin.name
    final = base / digest[:16]
    if not (final / PIPELINE_FILE).is_file():
        base.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=base, prefix=".staging-"))
        try:
            for name, source in files.items():
                (tmp / CODE_DIR / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source, tmp / CODE_DIR / name)
            for name, text in docs.items():
                (tmp / name).parent.mkdir(parents=True, exist_ok=True)
                (tmp / name).write_text(text)
            try:
                os.rename(tmp, final)
            except OSError:  # another build staged the same content first: use that one
                if not (final / PIPELINE_FILE).is_file():
                    raise
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        _prune(base, keep=final)
    return StagedModel(plugin.name, final, digest)


def stage_entry(entry: Any) -> StagedModel:
    """The staged pipeline of a config entry's model (a ModelEnvConfig)."""
    from mlops.plugins import read_plugin

    return stage(read_plugin(entry.model_dir), entry.environment_name)


def _prune(base: Path, keep: Path) -> None:
    staged = sorted((p for p in base.iterdir() if p.is_dir() and not p.name.startswith(".")),
                    key=lambda p: p.stat().st_mtime, reverse=True)
    now = time.time()
    for old in [p for p in staged if p != keep][KEEP_STAGED - 1:]:
        if now - old.stat().st_mtime > PRUNE_AFTER_S:
            shutil.rmtree(old, ignore_errors=True)
