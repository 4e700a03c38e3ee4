"""Run a model's pipeline YAML on this machine with the local runner, bound to the workspace:
raw_data -> the registered data asset of the environment, MLflow -> the workspace store,
parallelism -> the compute cluster's max_nodes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.records import GateDecision, PipelineResult, Workspace
from mlops.staging import GATE_FILE, GATE_OUTPUT, METRICS_FILE, METRICS_OUTPUT, stage_entry
from mlops.tasks import task

DATA_PURPOSE = {"pr": "pr_data"}  # every other environment trains on training_data


def data_purpose(env: str) -> str:
    return DATA_PURPOSE.get(env, "training_data")


def pipeline_inputs(workspace: Workspace, entry: ModelEnvConfig,
                    names: RunNames) -> dict[str, Any]:
    """The pipeline-level inputs the platform binds (the rest keep pipeline.yml's values)."""
    from mlops.platform.local.data import latest_asset

    asset = latest_asset(workspace, entry.data.by_purpose(data_purpose(entry.env)))
    return {"raw_data": asset.uri, "model_name": names.model_name,
            "gate_metric": entry.gate_metric, "gate_threshold": entry.gate_threshold,
            **entry.training_params}


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise FactoryError(f"{what} {path}: cannot be read ({exc})") from None


def read_metrics(folder: Path, task_name: str) -> dict[str, float]:
    data = _read_json(folder / METRICS_FILE, "metrics file")
    return {k: float(data[k]) for k in task(task_name).metric_names if data.get(k) is not None}


def read_decision(folder: Path) -> GateDecision:
    data = _read_json(folder / GATE_FILE, "gate decision")
    version = data.get("model_version")
    return GateDecision(passed=bool(data.get("passed")), registered=bool(data.get("registered")),
                        reason=str(data.get("reason", "")), metric=str(data.get("metric", "")),
                        candidate=data.get("candidate"), champion=data.get("champion"),
                        model_version=None if version is None else str(version))


def run_pipeline(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, *,
                 wait: bool = True) -> PipelineResult:
    """Run ``entry``'s pipeline; ``wait`` is accepted for the protocol (local always waits)."""
    from mlops.pipeline.loader import load_pipeline
    from mlops.pipeline.runner import RunSettings
    from mlops.pipeline.runner import run_pipeline as execute

    if workspace.root is None:
        raise FactoryError(f"workspace {workspace.name} is not a local workspace")
    spec = load_pipeline(stage_entry(entry).pipeline)
    inputs = {k: v for k, v in pipeline_inputs(workspace, entry, names).items()
              if k in spec.inputs or k == "raw_data"}
    settings = RunSettings(
        runs_root=workspace.root / "runs", experiment=names.experiment_name,
        display_name=names.display_name, tracking_uri=workspace.mlflow_tracking_uri,
        registry_uri=workspace.mlflow_registry_uri, artifact_root=workspace.artifact_root,
        max_nodes=workspace.compute.max_nodes, label=entry.model,
        parent_tags={"factory.model": entry.model, "factory.env": entry.env,
                     "factory.branch": names.branch, "factory.build_id": names.build_id,
                     "factory.model_name": names.model_name,
                     "factory.data": str(inputs["raw_data"]),
                     **({"factory.git_commit": names.commit} if names.commit else {})})
    run = execute(spec, settings, inputs)
    metrics: dict[str, float] = {}
    gate = None
    outputs: dict[str, Path | str] = {f"{j}.{o}": p for (j, o), p in run.outputs.items()}
    try:
        job, out = spec.find_output(METRICS_OUTPUT)
        metrics = read_metrics(run.output(job, out), entry.task)
        outputs[METRICS_OUTPUT] = run.output(job, out)
    except KeyError:
        pass
    try:
        job, out = spec.find_output(GATE_OUTPUT)
        gate = read_decision(run.output(job, out))
        outputs[GATE_OUTPUT] = run.output(job, out)
    except KeyError:
        pass
    if metrics:
        _log_parent_metrics(workspace, names, run.run_id, metrics, gate)
    return PipelineResult(model=entry.model, env=entry.env,
                          experiment_name=names.experiment_name, display_name=names.display_name,
                          run_id=run.run_id, status=run.status, metrics=metrics, gate=gate,
                          steps=run.steps, outputs=outputs)


def _log_parent_metrics(workspace: Workspace, names: RunNames, run_id: str,
                        metrics: dict[str, float], gate: GateDecision | None) -> None:
    """The pipeline's headline metrics and gate outcome on the parent run (as Azure ML shows)."""
    from mlops.pipeline.tracking import open_tracker

    tracker = open_tracker(workspace.mlflow_tracking_uri, names.experiment_name,
                           workspace.artifact_root)
    tracker.log_metrics(run_id, metrics)
    if gate is not None:
        tracker.set_tags(run_id, {"gate.passed": str(gate.passed),
                                  "gate.registered": str(gate.registered),
                                  "gate.reason": gate.reason})
