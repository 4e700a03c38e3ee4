"""Promotion on the local platform: the approved version's files, copied from the source
workspace's MLflow store into the target's, never retrained.

The copy is logged as the artifacts of a run in the target (experiment <MODEL_NAME>_promotions)
and registered under the same MODEL_NAME with the promotion's lineage tags (mlops.records
.Promotion). Its digest is checked twice against the one recorded at registration: over the
source's files before copying, over the target's files after. A mismatch removes the copy, so
the target's registry and champion are as they were. A version promoted before is found by its
tags and reused (a second promotion registers nothing new).
"""

from __future__ import annotations

import dataclasses
import tempfile
from pathlib import Path

from mlops.config import ModelEnvConfig
from mlops.errors import DigestMismatch
from mlops.naming import RunNames
from mlops.platform.local.approval import registry_client, version_or_champion
from mlops.platform.promotion_rules import check_approved, check_digest
from mlops.records import ApprovedVersion, Promotion, Workspace
from mlops.registry_names import (
    CHAMPION_ALIAS,
    CHAMPION_TAG,
    DIGEST_TAG,
)

PARENT_RUN_TAG = "mlflow.parentRunId"


def data_ref(path: str, workspace: Workspace) -> str:
    """'name:version' of a data asset folder of the workspace's store, else the path itself."""
    store = workspace.data_store
    try:
        relative = Path(path).resolve().relative_to(Path(store).resolve()) if store else None
    except ValueError:
        relative = None
    return f"{relative.parts[0]}:{relative.parts[1]}" if relative and \
        len(relative.parts) == 2 else path


def training_run(client, run_id: str | None):
    """The pipeline (parent) run of the step run that registered a version, or None."""
    from mlflow.exceptions import MlflowException

    if not run_id:
        return None
    try:
        step = client.get_run(run_id)
        parent = step.data.tags.get(PARENT_RUN_TAG)
        return client.get_run(parent) if parent else step
    except MlflowException:
        return None


def approved(workspace: Workspace, env: str, entry: ModelEnvConfig, names: RunNames,
             version: str | None = None) -> ApprovedVersion:
    """The version to promote (``version``, else the champion) with where it came from;
    NotApproved when it is not approved for production."""
    client = registry_client(workspace)
    found = version_or_champion(client, entry.model, names.model_name, version)
    number = str(found.version)
    approval, digest = check_approved(entry.model, names.model_name, number, env, found.tags)
    came = Promotion.from_tags(found.tags, f"{names.model_name} v{number} tags")
    if came is not None:  # promoted here itself: its origin travels on
        origin = came.source
        run_id, data, commit, build = (origin.run_id, origin.data, origin.git_commit,
                                       origin.build_id)
    else:
        run = training_run(client, found.run_id)
        tags = run.data.tags if run else {}
        run_id = run.info.run_id if run else found.run_id
        data = (data_ref(tags["factory.data"], workspace),) if tags.get("factory.data") else ()
        commit, build = tags.get("factory.git_commit"), tags.get("factory.build_id")
    return ApprovedVersion(env=env, workspace=workspace.name, model=entry.model,
                           model_name=names.model_name, version=number, digest=digest,
                           approval=approval, run_id=run_id, data=tuple(data),
                           git_commit=commit, build_id=build)


def download(workspace: Workspace, model_name: str, version: str, into: Path) -> Path:
    """The version's files in a folder of ``into`` (the folder holding MLmodel)."""
    import mlflow.artifacts

    client = registry_client(workspace)
    # the version's storage location: a models:/ URI would resolve through mlflow's global
    # registry URI, not this workspace's
    source = client.get_model_version_download_uri(model_name, version)
    into.mkdir(parents=True, exist_ok=True)
    return Path(mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(into), tracking_uri=workspace.mlflow_tracking_uri))


def promoted_copy(client, approved: ApprovedVersion):
    """The target's version promoted earlier from exactly this source version, or None."""
    for version in client.search_model_versions(f"name='{approved.model_name}'"):
        came = Promotion.from_tags(version.tags)
        if came and (came.source.env, came.source.workspace, came.source.version) == (
                approved.env, approved.workspace, approved.version):
            return version
    return None


def _register_copy(client, target: Workspace, approved: ApprovedVersion, files: Path,
                   promotion: Promotion) -> str:
    """Log ``files`` as a run's artifacts in the target and register them; the version."""
    from mlflow.exceptions import MlflowException

    experiment = f"{approved.model_name}_promotions"
    found = client.get_experiment_by_name(experiment)
    experiment_id = found.experiment_id if found else client.create_experiment(
        experiment, artifact_location=(target.artifact_root / experiment).as_uri()
        if target.artifact_root else None)
    tags = {k: v for k, v in promotion.to_tags().items() if not k.endswith("target_version")}
    run = client.create_run(experiment_id, run_name=(
        f"promote {approved.model_name} v{approved.version} from {approved.env}"), tags=tags)
    client.log_artifacts(run.info.run_id, str(files), "model")
    client.set_terminated(run.info.run_id, "FINISHED")
    try:
        client.create_registered_model(approved.model_name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    created = client.create_model_version(
        approved.model_name, source=f"{run.info.artifact_uri.rstrip('/')}/model",
        run_id=run.info.run_id, tags={**tags, DIGEST_TAG: approved.digest})
    return str(created.version)




def make_champion(client, model_name: str, version: str) -> None:
    """``version`` becomes the champion (tag first, then untag the others, then the alias: a
    crash in between leaves two tagged versions, never none)."""
    client.set_model_version_tag(model_name, version, CHAMPION_TAG, "true")
    for other in client.search_model_versions(f"name='{model_name}'"):
        if str(other.version) != version and (other.tags or {}).get(CHAMPION_TAG):
            client.delete_model_version_tag(model_name, other.version, CHAMPION_TAG)
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version)


def promote(source: Workspace, target: Workspace, entry: ModelEnvConfig,
            approved: ApprovedVersion, promotion: Promotion) -> Promotion:
    """Copy the approved version into ``target`` (or find the earlier copy), check its digest,
    make it the target's champion; the promotion with the target's version."""
    client = registry_client(target)
    with tempfile.TemporaryDirectory(prefix="factory-promote-") as tmp:
        existing = promoted_copy(client, approved)
        if existing is None:
            files = download(source, approved.model_name, approved.version, Path(tmp) / "source")
            check_digest(files, approved, "the source artifact")
            version = _register_copy(client, target, approved, files, promotion)
            try:
                check_digest(download(target, approved.model_name, version, Path(tmp) / "copy"),
                       approved, "the copy")
            except DigestMismatch:
                client.delete_model_version(approved.model_name, version)
                raise
            client.set_model_version_tag(approved.model_name, version,
                                         f"{Promotion.TAG_PREFIX}target_version", version)
        else:  # promoted before, or interrupted after registering: checked, then finished
            version = str(existing.version)
            check_digest(download(target, approved.model_name, version, Path(tmp) / "copy"),
                   approved, f"the earlier copy (version {version})")
            promotion = Promotion.from_tags(existing.tags) or promotion
            if not promotion.target_version:
                client.set_model_version_tag(approved.model_name, version,
                                             f"{Promotion.TAG_PREFIX}target_version", version)
    make_champion(client, approved.model_name, version)
    return dataclasses.replace(promotion, target_version=version)
