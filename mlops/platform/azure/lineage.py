"""Lineage on Azure ML: the registered version (digest, approval, champion tags), the promotion
that brought it (its tags), or else the pipeline job that trained it: the model's job is the
register step, whose parent is the pipeline job; that job's data inputs, tags (build, branch,
commit), steps and gate decision are read as CI's `gate` reads them
(mlops.platform.azure.pipeline.finished_job)."""

from __future__ import annotations

from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.platform.azure import _assets
from mlops.platform.azure.client import AzureClient, AzureMLError, connect, log
from mlops.records import Approval, Promotion, VersionLineage, Workspace
from mlops.registry_names import CHAMPION_TAG, DIGEST_TAG


def _pipeline_job(client: AzureClient, model) -> object | None:
    job_name = getattr(model, "job_name", None)
    if not job_name:
        return None
    job = client.jobs.get(job_name)
    parent = getattr(job, "parent_job_name", None)
    return client.jobs.get(parent) if parent else job


def lineage(workspace: Workspace, env: str, entry: ModelEnvConfig, names: RunNames,
            version: str | None = None, *,
            client: AzureClient | None = None) -> VersionLineage:
    """The lineage of ``version`` of MODEL_NAME (default: the champion) in this workspace."""
    from mlops.platform.azure.pipeline import finished_job

    client = client or connect(workspace)
    if version is None:
        version = str(_assets.champion(client, names.model_name).version)
    model = _assets.model_version(client, entry.model, names.model_name, version)
    tags = dict(model.tags or {})
    base = dict(env=env, workspace=workspace.name, target=workspace.target, model=entry.model,
                model_name=names.model_name, version=str(model.version),
                digest=tags.get(DIGEST_TAG),
                champion=str(tags.get(CHAMPION_TAG, "")).lower() == "true",
                approval=Approval.from_tags(tags))
    came = Promotion.from_tags(tags, f"{names.model_name} v{model.version} tags")
    if came is not None:
        origin = came.source
        return VersionLineage(**base, data=origin.data, run_id=origin.run_id,
                              build_id=origin.build_id, git_commit=origin.git_commit,
                              promoted_from=came)
    try:
        job = _pipeline_job(client, model)
        if job is None:
            return VersionLineage(**base)
        result = finished_job(workspace, entry, job.name, client=client)
    except (AzureMLError, FactoryError) as exc:  # the version stands; say what is missing
        log(f"  {names.model_name} v{model.version}: its training job cannot be read ({exc})")
        return VersionLineage(**base, run_id=getattr(model, "job_name", None))
    job_tags = dict(job.tags or {})
    return VersionLineage(
        **base, data=tuple(sorted(result.data.values())), run_id=job.name,
        run_name=result.display_name or None, experiment=result.experiment_name or None,
        build_id=job_tags.get("build_id"), branch=job_tags.get("branch"),
        git_commit=job_tags.get("git_commit"), steps=tuple(result.steps), gate=result.gate)


def promotions(workspace: Workspace, model_name: str, *,
               client: AzureClient | None = None) -> list[Promotion]:
    """Every promotion recorded on a version of MODEL_NAME in this workspace."""
    client = client or connect(workspace)
    try:
        versions = client.models.list(name=model_name)
    except AzureMLError:
        return []
    found = [Promotion.from_tags(m.tags, f"{model_name} v{m.version} tags") for m in versions]
    # an unfinished copy (interrupted before its version was recorded) is no promotion yet
    return sorted((p for p in found if p and p.target_version), key=lambda p: int(p.target_version))
