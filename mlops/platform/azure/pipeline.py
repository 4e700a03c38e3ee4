"""Submit a model's pipeline.yml (the same YAML the local runner executes) as an Azure ML
pipeline job: compute, environment and names from config, raw_data bound to the registered data
asset. Waits with status polling, or returns the job name at once for the CI's wait (an
agentless job on Azure DevOps, re-authenticated slices on GitHub: ``wait_slice``); CI then reads
the finished job's results and gate decision with ``finished_job``.

Metrics come from the score step's ``score_report`` output (metrics.json) and the gate from the
register step's ``registration`` output (decision.json), downloaded with ``jobs.download``: the
same files the local runner reads, with no Azure ML MLflow plugin needed on the client."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from mlops.cicd._sessions import JOB_NAME_VARIABLE
from mlops.cicd.outputs import publish
from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.paths import state_dir
from mlops.platform.azure import _assets, data
from mlops.platform.azure.client import AzureClient, AzureMLError, connect, log
from mlops.records import GateDecision, PipelineResult, StepResult, Workspace
from mlops.staging import (
    BOUND_INPUTS,
    GATE_FILE,
    GATE_OUTPUT,
    GATE_STEP,
    METRICS_FILE,
    METRICS_OUTPUT,
    METRICS_STEP,
    stage_entry,
)

LOG_TAIL_LINES = 30
# A data input's path: azureml:<name>:<version> as submitted, or the ARM id Azure ML resolves it
# to (.../data/<name>/versions/<version>) when the job is read back.
_ASSET_SHORT = re.compile(r"^azureml:(?P<name>[^:/]+):(?P<version>[^:/]+)$")
_ASSET_ID = re.compile(r"/data/(?P<name>[^/]+)/versions/(?P<version>[^/]+)$")


def pipeline_path(entry: ModelEnvConfig) -> Path:
    """The staged pipeline YAML (mlops/staging.py): the same the local runner executes."""
    return stage_entry(entry).pipeline


def data_purpose(entry: ModelEnvConfig) -> str:
    """PR builds train on the small pr_data, every other environment on training_data."""
    return "pr_data" if entry.env == "pr" else "training_data"


def _schema_problems(text: str) -> str:
    """'field: message' lines from azure-ai-ml's schema report (a JSON block inside prose)."""
    try:
        report = json.loads(text[text.index("{"):text.rindex("}") + 1])
        problems = [f"{e.get('path')}: {str(e.get('message', '')).split(';')[0]}"
                    for e in report.get("errors", [])]
    except (ValueError, AttributeError):
        problems = []
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return "; ".join(problems) or (lines[0] if lines else "unreadable")


def load_pipeline(path: Path) -> Any:
    """The PipelineJob of a pipeline YAML; a broken file fails naming the file."""
    from azure.ai.ml import load_job
    from azure.ai.ml.entities import PipelineJob

    if not path.is_file():
        raise FactoryError(f"{path}: no pipeline YAML (staged from the model folder by "
                           f"mlops/staging.py)")
    try:
        job = load_job(source=path)
    except Exception as exc:  # noqa: BLE001 - marshmallow/yaml/azure errors all mean a bad file
        raise FactoryError(f"{path}: not a valid Azure ML pipeline job: "
                           f"{_schema_problems(str(exc))}") from exc
    if not isinstance(job, PipelineJob):
        raise FactoryError(f"{path}: type is {getattr(job, 'type', '?')!r}; expected 'pipeline'")
    missing = [name for name in BOUND_INPUTS if name not in job.inputs]
    if missing:
        raise FactoryError(f"{path}: inputs lack {', '.join(missing)}; the platform binds "
                           f"{', '.join(BOUND_INPUTS)}")
    return job


def build_pipeline_job(entry: ModelEnvConfig, names: RunNames, *, compute: str,
                       environment: str, raw_data: str, path: Path | None = None) -> Any:
    """The PipelineJob to submit (no network): names, default compute, every command
    component's environment, and the platform-bound inputs set."""
    from azure.ai.ml import Input
    from azure.ai.ml.entities import CommandComponent

    path = path or pipeline_path(entry)
    job = load_pipeline(path)
    job.experiment_name = names.experiment_name
    job.display_name = names.display_name
    job.settings.default_compute = compute
    job.tags = {**(job.tags or {}), "model": entry.model, "env": entry.env,
                "branch": names.branch, "build_id": names.build_id,
                **({"git_commit": names.commit} if names.commit else {})}
    job.inputs.raw_data = Input(type="uri_folder", path=raw_data)
    job.inputs.model_name = names.model_name
    job.inputs.gate_metric = entry.gate_metric
    job.inputs.gate_threshold = entry.gate_threshold
    for name, value in entry.training_params.items():  # TRAINING_PARAMS of this environment
        job.inputs[name] = value
    for step, node in job.jobs.items():
        component = node.component
        if not isinstance(component, CommandComponent):
            raise FactoryError(f"{path}: jobs.{step}.component must be a command component "
                               f"YAML (components/<step>.yml), got {component!r}")
        # The component, not the node, carries the environment in the submitted request.
        component.environment = environment
    return job


def _announce(job_name: str) -> None:
    """Hand the job name to the CI's wait and gate (Azure DevOps output variable, GitHub step
    output)."""
    publish({JOB_NAME_VARIABLE: job_name})


def asset_ref(path: Any) -> str | None:
    """'name:version' of a data input's path, or None when it is not a registered data asset."""
    if not isinstance(path, str):
        return None
    match = _ASSET_SHORT.match(path) or _ASSET_ID.search(path)
    return f"{match['name']}:{match['version']}" if match else None


def data_assets(job: Any) -> dict[str, str]:
    """Pipeline input -> the data asset a job was bound to."""
    found = {}
    for key, value in dict(job.inputs or {}).items():
        try:
            path = value.path
        except Exception:  # noqa: BLE001 - a literal input (str, number) has no path and says so
            continue
        ref = asset_ref(path)
        if ref:
            found[key] = ref
    return found


def _status(job: Any) -> str:
    """A job's status as Azure ML names it ('Running', not the SDK enum's 'JobStatus.RUNNING')."""
    return str(getattr(job.status, "value", job.status))


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None


def _step_result(step: str, child: Any) -> StepResult:
    props = child.properties or {}
    reused = str(props.get("azureml.isreused", "")).lower() == "true"
    status = _assets.TERMINAL.get(child.status, str(child.status).lower())
    start, end = _parse_time(props.get("StartTimeUtc")), _parse_time(props.get("EndTimeUtc"))
    seconds = (end - start).total_seconds() if start and end else 0.0
    return StepResult(name=step,
                      status="reused" if reused and status == "completed" else status,
                      reused=reused, seconds=seconds, run_id=child.name)


def _log_tail(client: AzureClient, child: Any, target: Path, lines: int = LOG_TAIL_LINES
              ) -> str:
    """The end of a failed step's user log (downloaded with the job's default artifacts)."""
    folder = target / "logs" / child.name
    client.jobs.download(name=child.name, download_path=str(folder))
    logs = sorted(folder.rglob("std_log*.txt"))
    if not logs:
        return ""
    text = logs[-1].read_text(encoding="utf-8", errors="replace").strip().splitlines()
    return "\n".join(text[-lines:])


def _with_log_tail(client: AzureClient, step: StepResult, child: Any,
                   job_name: str) -> StepResult:
    try:
        tail = _log_tail(client, child, state_dir() / "azure" / "jobs" / job_name)
    except AzureMLError as exc:
        tail = f"(could not fetch the log: {exc})"
    log(f"  step {step.name} failed; end of its log:\n{tail or '(empty)'}")
    return dataclasses.replace(step, log_tail=tail)


def failure(result: PipelineResult) -> str:
    """What went wrong in a job that did not complete: the failed step and its log's end."""
    failed = next((step for step in result.steps if step.status == "failed"), None)
    where = f"step {failed.name!r} failed" if failed else f"the job ended {result.status}"
    tail = (f"\n--- last lines of {failed.name}'s log ---\n{failed.log_tail}"
            if failed and failed.log_tail else "")
    studio = result.outputs.get("studio_url") or "the studio"
    return f"Azure ML job {result.run_id}: {where}; see {studio}{tail}"


def _raise_failed(result: PipelineResult) -> None:
    """Fail as the local runner does (StepFailed carrying the steps), naming the failed step."""
    from mlops.pipeline.runner import PipelineRun, StepFailed

    run = PipelineRun(run_id=result.run_id, experiment_id=result.experiment_name,
                      status=result.status, steps=result.steps, outputs={},
                      seconds=sum(step.seconds for step in result.steps))
    raise StepFailed(failure(result), run)


def _children(client: AzureClient, job_name: str, steps: dict[str, str]) -> dict[str, Any]:
    """Child jobs by step name; ``steps`` maps each node's display name to its step (Azure ML
    names a child job after its node's display name, the node name by default)."""
    found = {}
    for child in client.jobs.list(parent_job_name=job_name):
        label = child.display_name or child.name
        found[steps.get(label, label)] = child
    return found


def _download(client: AzureClient, child: Any, output: str, target: Path) -> Path:
    client.jobs.download(name=child.name, output_name=output, download_path=str(target))
    return target / "named-outputs" / output


def _read_json(path: Path, what: str) -> dict[str, Any]:
    try:
        value = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FactoryError(f"{what}: cannot read {path}: {exc}") from exc
    if not isinstance(value, dict):
        raise FactoryError(f"{what}: {path} is not a JSON object")
    return value


def _collect(client: AzureClient, job: Any, children: dict[str, Any]
             ) -> tuple[dict[str, float], GateDecision | None, dict[str, Path | str]]:
    """Metrics and gate decision from the finished steps' outputs (missing when a step did not
    complete)."""
    target = state_dir() / "azure" / "jobs" / job.name
    outputs: dict[str, Path | str] = {"studio_url": job.studio_url or ""}
    metrics: dict[str, float] = {}
    gate = None
    score, register = children.get(METRICS_STEP), children.get(GATE_STEP)
    if score is not None and score.status == "Completed":
        folder = _download(client, score, METRICS_OUTPUT, target)
        outputs[METRICS_OUTPUT] = folder
        raw = _read_json(folder / METRICS_FILE, f"job {job.name} step {METRICS_STEP}")
        metrics = {k: float(v) for k, v in raw.items() if isinstance(v, int | float)}
    if register is not None and register.status == "Completed":
        folder = _download(client, register, GATE_OUTPUT, target)
        outputs[GATE_OUTPUT] = folder
        gate = GateDecision.from_decision(
            _read_json(folder / GATE_FILE, f"job {job.name} step {GATE_STEP}"))
    return metrics, gate, outputs


def _step_names(job: Any) -> dict[str, str]:
    """Node display name -> step name of a pipeline job definition."""
    return {(node.display_name or step): step for step, node in job.jobs.items()}


def _progress(client: AzureClient, job_name: str, step_names: dict[str, str]
              ) -> Callable[[Any], None]:
    """A poll callback that logs each step's status changes."""
    seen: dict[str, str] = {}

    def on_poll(_: Any) -> None:
        for step, child in _children(client, job_name, step_names).items():
            if seen.get(step) != child.status:
                seen[step] = child.status
                log(f"    {step}: {child.status}")

    return on_poll


def _result(client: AzureClient, final: Any, definition: Any, base: dict[str, Any]
            ) -> PipelineResult:
    """The result of a finished job: steps in pipeline order, metrics and gate from the step
    outputs, a failed step's log tail."""
    status = _assets.TERMINAL[final.status]
    children = _children(client, final.name, _step_names(definition))
    try:
        metrics, gate, outputs = _collect(client, final, children)
    except AzureMLError as exc:  # the run's status stands; say what could not be fetched
        log(f"  could not fetch step outputs of {final.name}: {exc}")
        metrics, gate, outputs = {}, None, {"studio_url": final.studio_url or ""}
    order = {step: index for index, step in enumerate(definition.jobs)}
    steps = [_step_result(step, child) for step, child in
             sorted(children.items(), key=lambda item: order.get(item[0], len(order)))]
    steps = [_with_log_tail(client, step, children[step.name], final.name)
             if step.status == "failed" else step for step in steps]
    return PipelineResult(status=status, **base, metrics=metrics, gate=gate, steps=steps,
                          outputs=outputs)


def run_pipeline(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, *,
                 wait: bool = True, client: AzureClient | None = None,
                 interval: float | None = None, timeout: float | None = None,
                 sleep: Callable[[float], None] = time.sleep) -> PipelineResult:
    """Submit the model's pipeline; with ``wait`` poll it to the end and collect its results
    (a failed or cancelled job raises StepFailed, as the local runner does), else return at once
    with status "submitted" and the job name as run_id."""
    client = client or connect(workspace)
    log(f"{entry.model} ({entry.env}): submitting {pipeline_path(entry)} to {workspace.name}")
    raw_data = data.resolve_asset(client, entry, data_purpose(entry))
    environment = _assets.environment_ref(client, entry)
    job = build_pipeline_job(entry, names, compute=workspace.compute.name,
                             environment=environment, raw_data=raw_data)
    submitted: dict[str, str] = {}

    with _assets.cancel_on_interrupt(client, lambda: submitted.get("name")):
        created = client.jobs.create_or_update(job, experiment_name=names.experiment_name)
        submitted["name"] = created.name
        log(f"  submitted job {created.name} (raw_data {raw_data}, compute "
            f"{workspace.compute.name}, environment {environment})")
        if created.studio_url:
            log(f"  {created.studio_url}")
        _announce(created.name)
        bound = asset_ref(raw_data)
        base = dict(model=entry.model, env=entry.env, experiment_name=names.experiment_name,
                    display_name=names.display_name, run_id=created.name,
                    data={"raw_data": bound} if bound else {})
        if not wait:
            return PipelineResult(status="submitted", **base,
                                  outputs={"studio_url": created.studio_url or ""})
        final = _assets.wait_for_job(
            client, created.name, on_poll=_progress(client, created.name, _step_names(job)),
            sleep=sleep, interval=_assets.poll_seconds() if interval is None else interval,
            timeout=_assets.timeout_seconds() if timeout is None else timeout)
    result = _result(client, final, job, base)
    log(f"{entry.model} ({entry.env}): job {created.name} {result.status}")
    if result.status != "completed":
        _raise_failed(result)
    return result


def wait_slice(workspace: Workspace, entry: ModelEnvConfig, job_name: str, *, seconds: float,
               client: AzureClient | None = None, interval: float | None = None,
               sleep: Callable[[float], None] = time.sleep,
               clock: Callable[[], float] = time.monotonic) -> str | None:
    """Wait at most ``seconds`` for a submitted job, logging its steps; its final status
    ("completed", "failed", "cancelled") once it has ended, None while it still runs. The end of
    a slice is not a timeout: nothing is cancelled here (a cancelled CI run runs cancel_job)."""
    client = client or connect(workspace)
    step_names = _step_names(load_pipeline(pipeline_path(entry)))
    job = _assets.wait_for_job(
        client, job_name, on_poll=_progress(client, job_name, step_names), sleep=sleep,
        clock=clock, interval=_assets.poll_seconds() if interval is None else interval,
        timeout=max(seconds, 0.0), cancel_on_timeout=False)
    if job.status not in _assets.TERMINAL:
        log(f"{entry.model}: job {job_name} still {_status(job)} at the end of this "
            f"{seconds / 60:.0f}-minute slice")
        return None
    return _assets.TERMINAL[job.status]


def finished_job(workspace: Workspace, entry: ModelEnvConfig, job_name: str, *,
                 client: AzureClient | None = None) -> PipelineResult:
    """The results of a job submitted earlier (``--no-wait``) that has finished: status, steps,
    metrics, gate decision and the data assets it was bound to. ``entry`` names the model (its
    pipeline YAML maps child jobs to steps); the environment comes from the job's tags."""
    client = client or connect(workspace)
    job = client.jobs.get(job_name)
    tags = dict(job.tags or {})
    if tags.get("model") and tags["model"] != entry.model:
        raise FactoryError(f"Azure ML job {job_name} is a build of model {tags['model']}, not "
                           f"{entry.model}; check {JOB_NAME_VARIABLE}")
    if job.status not in _assets.TERMINAL:
        raise FactoryError(f"Azure ML job {job_name} is still {_status(job)}; its results are "
                           "read once it has finished (the CI waits for it first)")
    base = dict(model=entry.model, env=tags.get("env") or entry.env,
                experiment_name=job.experiment_name or "", display_name=job.display_name or "",
                run_id=job.name, data=data_assets(job))
    result = _result(client, job, load_pipeline(pipeline_path(entry)), base)
    log(f"{entry.model} ({result.env}): job {job_name} {result.status}")
    return result
