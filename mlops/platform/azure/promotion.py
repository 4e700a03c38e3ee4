"""Promotion on Azure ML, through the Azure ML registry the environments share (the Azure
mechanism for moving models between workspaces; docs: how-to-share-models-pipelines-across-
workspaces-with-registries).

1. The approved version is shared from the source workspace to the registry under the same name
   and version (``models.share``), unless an earlier promotion put it there already. Sharing
   keeps the registry asset's link to the job that trained it.
2. The registry's copy is downloaded and its digest checked against the one recorded at
   registration: a mismatch stops here, before the target changes.
3. The checked files are registered in the target workspace with the promotion's lineage tags
   and the registry asset it stands for. Registry assets keep their tags from creation (share
   sets none) and updating them is unreliable (azure-sdk-for-python#30208), so the lineage and
   the champion marker live on this workspace copy; its digest is checked after the upload too
   (a mismatch archives it: Azure ML models cannot be deleted).
4. The copy becomes the target's champion; the target's deployments then serve the registry
   asset (mlops.platform.azure.endpoints reads REGISTRY_MODEL_TAG).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.errors import DigestMismatch, PromotionError
from mlops.naming import RunNames
from mlops.platform.azure import _assets
from mlops.platform.azure.client import (
    AzureClient,
    AzureNotFound,
    connect,
    connect_registry,
    log,
)
from mlops.platform.promotion_rules import check_approved, check_digest
from mlops.records import ApprovedVersion, Promotion, Workspace
from mlops.registry_names import CHAMPION_TAG, DIGEST_TAG

_TARGET_VERSION_TAG = f"{Promotion.TAG_PREFIX}target_version"


def registry_asset(registry: str, model_name: str, version: str) -> str:
    """The id a deployment in any workspace uses for a registry model."""
    return f"azureml://registries/{registry}/models/{model_name}/versions/{version}"


def training_origin(client: AzureClient, model: Any) -> dict[str, Any]:
    """run_id, data, git_commit, build_id of the pipeline job that registered ``model`` (its
    register step's job is the model's job; that job's parent is the pipeline job)."""
    from mlops.platform.azure.pipeline import data_assets

    if not getattr(model, "job_name", None):
        return {}
    try:
        job = client.jobs.get(model.job_name)
        parent_name = getattr(job, "parent_job_name", None)
        pipeline = client.jobs.get(parent_name) if parent_name else job
    except AzureNotFound:
        return {"run_id": model.job_name}
    tags = dict(pipeline.tags or {})
    return {"run_id": pipeline.name,
            "data": tuple(sorted(data_assets(pipeline).values())),
            "git_commit": tags.get("git_commit"), "build_id": tags.get("build_id")}


def approved(workspace: Workspace, env: str, entry: ModelEnvConfig, names: RunNames,
             version: str | None = None, *,
             client: AzureClient | None = None) -> ApprovedVersion:
    """The version to promote (``version``, else the champion) with where it came from;
    NotApproved when it is not approved for production."""
    client = client or connect(workspace)
    if version is None:
        version = str(_assets.champion(client, names.model_name).version)
    model = _assets.model_version(client, entry.model, names.model_name, version)
    approval, digest = check_approved(entry.model, names.model_name, str(model.version), env,
                                      model.tags)
    came = Promotion.from_tags(model.tags, f"{names.model_name} v{model.version} tags")
    origin = (dataclasses.asdict(came.source) if came else training_origin(client, model))
    return ApprovedVersion(
        env=env, workspace=workspace.name, model=entry.model, model_name=names.model_name,
        version=str(model.version), digest=digest, approval=approval,
        run_id=origin.get("run_id"), data=tuple(origin.get("data") or ()),
        git_commit=origin.get("git_commit"), build_id=origin.get("build_id"))


def _share(source: AzureClient, registry: AzureClient, approved: ApprovedVersion,
           registry_name: str) -> None:
    """The approved version in the registry, same name and version (shared once)."""
    try:
        registry.models.get(name=approved.model_name, version=approved.version)
        log(f"  {approved.model_name}:{approved.version} is in registry {registry_name} already")
    except AzureNotFound:
        log(f"  sharing {approved.model_name}:{approved.version} from {approved.workspace} to "
            f"registry {registry_name}")
        source.models.share(name=approved.model_name, version=approved.version,
                            registry_name=registry_name, share_with_name=approved.model_name,
                            share_with_version=approved.version)


def _files(client: AzureClient, model_name: str, version: str, into: Path) -> Path:
    """The downloaded files of a version: the folder holding MLmodel."""
    client.models.download(name=model_name, version=version, download_path=str(into))
    found = sorted(into.rglob("MLmodel"))
    if not found:
        raise PromotionError(f"{model_name} version {version} downloaded from "
                             f"{client.workspace} holds no MLmodel file ({into}): not an MLflow "
                             "model")
    return found[0].parent




def promoted_copy(client: AzureClient, approved: ApprovedVersion) -> Any | None:
    """The target's version promoted earlier from exactly this source version, or None."""
    for model in client.models.list(name=approved.model_name):
        came = Promotion.from_tags(model.tags)
        if came and (came.source.env, came.source.workspace, came.source.version) == (
                approved.env, approved.workspace, approved.version):
            return model
    return None


def _register(client: AzureClient, files: Path, approved: ApprovedVersion,
              promotion: Promotion) -> Any:
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Model

    tags = {k: v for k, v in promotion.to_tags().items() if k != _TARGET_VERSION_TAG}
    return client.models.create_or_update(Model(
        name=approved.model_name, path=str(files), type=AssetTypes.MLFLOW_MODEL,
        description=(f"{approved.model}: version {approved.version} of {approved.workspace} "
                     f"({approved.env}), promoted; served from {promotion.registry_model}"),
        tags={**tags, DIGEST_TAG: approved.digest}))


def make_champion(client: AzureClient, model_name: str, version: str,
                  extra: dict[str, str]) -> None:
    """Tag ``version`` champion (with ``extra`` tags), then untag the others: a crash in
    between leaves two champions, and the newest wins (mlops.platform.azure._assets)."""
    model = client.models.get(name=model_name, version=version)
    model.tags = {**(model.tags or {}), **extra, CHAMPION_TAG: "true"}
    client.models.create_or_update(model)
    for other in client.models.list(name=model_name):
        tags = dict(other.tags or {})
        if str(other.version) != version and tags.pop(CHAMPION_TAG, None) is not None:
            full = client.models.get(name=model_name, version=str(other.version))
            full.tags = {k: v for k, v in (full.tags or {}).items() if k != CHAMPION_TAG}
            client.models.create_or_update(full)


def promote(source: Workspace, target: Workspace, entry: ModelEnvConfig,
            approved: ApprovedVersion, promotion: Promotion, *,
            source_client: AzureClient | None = None,
            target_client: AzureClient | None = None,
            registry_client: AzureClient | None = None) -> Promotion:
    """Share, check, register with lineage, make champion; the promotion with the target's
    version (the target's deployment is the caller's: EndpointOps.deploy)."""
    registry_name = target.azureml_registry
    if not registry_name or registry_name != source.azureml_registry:
        raise PromotionError(f"{approved.model}: {source.name} and {target.name} share no Azure "
                             f"ML registry (source: {source.azureml_registry or 'none'}, target: "
                             f"{registry_name or 'none'}); give the target PROMOTE_FROM in "
                             "config/infra_config.json and run both infrastructure pipelines")
    target_client = target_client or connect(target)
    promotion = dataclasses.replace(promotion, registry_model=registry_asset(
        registry_name, approved.model_name, approved.version))
    existing = promoted_copy(target_client, approved)
    with tempfile.TemporaryDirectory(prefix="factory-promote-") as tmp:
        if existing is not None:
            version = str(existing.version)
            log(f"  {target.name} holds version {version}, promoted from this version before")
            check_digest(_files(target_client, approved.model_name, version, Path(tmp) / "copy"),
                   approved, f"the earlier copy (version {version})")
            promotion = Promotion.from_tags(existing.tags) or promotion
        else:
            registry = registry_client or connect_registry(target)
            _share(source_client or connect(source), registry, approved, registry_name)
            files = _files(registry, approved.model_name, approved.version, Path(tmp) / "shared")
            check_digest(files, approved, f"the registry's copy ({registry_name})")
            created = _register(target_client, files, approved, promotion)
            version = str(created.version)
            try:
                check_digest(_files(target_client, approved.model_name, version, Path(tmp) / "copy"),
                       approved, f"the copy in {target.name}")
            except DigestMismatch:
                target_client.models.archive(name=approved.model_name, version=version)
                raise
    make_champion(target_client, approved.model_name, version, {_TARGET_VERSION_TAG: version})
    log(f"{approved.model}: {target.name} version {version} is the champion, served from "
        f"{promotion.registry_model}")
    return dataclasses.replace(promotion, target_version=version)
