"""Lineage on the local platform, read from the workspace's MLflow store: the registered
version (digest, approval, champion), the promotion that brought it here (its tags), or else the
pipeline run that trained it: the parent run's data asset, build, branch and commit, its step
runs, and the register step's gate decision (decision.json, logged with both metrics)."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from mlops.config import ModelEnvConfig
from mlops.naming import RunNames
from mlops.platform.local.approval import registry_client, version_or_champion
from mlops.platform.local.promotion import PARENT_RUN_TAG, data_ref, training_run
from mlops.records import Approval, GateDecision, Promotion, StepResult, VersionLineage, Workspace
from mlops.registry_names import CHAMPION_ALIAS, DIGEST_TAG
from mlops.staging import GATE_FILE

_STATUS = {"FINISHED": "completed", "FAILED": "failed", "KILLED": "cancelled",
           "RUNNING": "running", "SCHEDULED": "queued"}


def _steps(client, parent) -> tuple[StepResult, ...]:
    """The pipeline run's step runs, in the order they started."""
    runs = client.search_runs([parent.info.experiment_id],
                              filter_string=f"tags.`{PARENT_RUN_TAG}` = '{parent.info.run_id}'",
                              order_by=["attributes.start_time ASC"])
    steps = []
    for run in runs:
        tags, info = run.data.tags, run.info
        reused = tags.get("azureml.isreused") == "true"
        status = _STATUS.get(info.status, info.status.lower())
        seconds = ((info.end_time or info.start_time) - info.start_time) / 1000.0
        steps.append(StepResult(name=info.run_name, status="reused" if reused else status,
                                reused=reused, seconds=round(seconds, 2), run_id=info.run_id))
    return tuple(steps)


def _gate(client, run_id: str | None) -> GateDecision | None:
    """The register step's decision (decision.json in its run's artifacts)."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    with tempfile.TemporaryDirectory(prefix="factory-lineage-") as tmp:
        try:
            path = Path(client.download_artifacts(run_id, GATE_FILE, tmp))
            return GateDecision.from_decision(json.loads(path.read_text()))
        except (MlflowException, OSError, ValueError):
            return None


def _is_champion(client, model_name: str, version: str) -> bool:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(model_name, CHAMPION_ALIAS).version) == \
            version
    except MlflowException:
        return False


def lineage(workspace: Workspace, env: str, entry: ModelEnvConfig, names: RunNames,
            version: str | None = None) -> VersionLineage:
    """The lineage of ``version`` of MODEL_NAME (default: the champion) in this workspace."""
    client = registry_client(workspace)
    found = version_or_champion(client, entry.model, names.model_name, version)
    number, tags = str(found.version), dict(found.tags or {})
    base = dict(env=env, workspace=workspace.name, target=workspace.target, model=entry.model,
                model_name=names.model_name, version=number, digest=tags.get(DIGEST_TAG),
                champion=_is_champion(client, names.model_name, number),
                approval=Approval.from_tags(tags))
    came = Promotion.from_tags(tags, f"{names.model_name} v{number} tags")
    if came is not None:  # trained elsewhere: its origin is in the source environment
        origin = came.source
        return VersionLineage(**base, data=origin.data, run_id=origin.run_id,
                              build_id=origin.build_id, git_commit=origin.git_commit,
                              promoted_from=came)
    run = training_run(client, found.run_id)
    if run is None:
        return VersionLineage(**base)
    run_tags = run.data.tags
    experiment = client.get_experiment(run.info.experiment_id)
    data = (data_ref(run_tags["factory.data"], workspace),) if run_tags.get("factory.data") \
        else ()
    return VersionLineage(
        **base, data=data, run_id=run.info.run_id, run_name=run.info.run_name,
        experiment=experiment.name if experiment else None,
        build_id=run_tags.get("factory.build_id"), branch=run_tags.get("factory.branch"),
        git_commit=run_tags.get("factory.git_commit"), steps=_steps(client, run),
        gate=_gate(client, found.run_id))


def promotions(workspace: Workspace, model_name: str) -> list[Promotion]:
    """Every promotion recorded on a version of MODEL_NAME in this workspace."""
    from mlflow.exceptions import MlflowException

    try:
        versions = registry_client(workspace).search_model_versions(f"name='{model_name}'")
    except MlflowException:
        return []
    found = [Promotion.from_tags(v.tags, f"{model_name} v{v.version} tags") for v in versions]
    # an unfinished copy (interrupted before its version was recorded) is no promotion yet
    return sorted((p for p in found if p and p.target_version), key=lambda p: int(p.target_version))
