"""Production approval on the local platform: tag a version of MODEL_NAME in the workspace's
MLflow registry (the seed's manual approval stage), recording who approved it and in which
build. The version the CI gate published (``--version``), else the champion. Same tags as on
Azure ML (mlops.records.Approval)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.platform.local.endpoints import CHAMPION, NoChampionError
from mlops.records import Approval, Workspace


class NoSuchVersion(FactoryError):
    """The version asked for is not registered."""


def registry_client(workspace: Workspace):
    import os

    from mlflow import MlflowClient

    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")  # clean output
    return MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)


def version_or_champion(client, model: str, model_name: str, version: str | None):
    """The ModelVersion ``version`` of ``model_name``, else its champion; a named error when
    there is none."""
    from mlflow.exceptions import MlflowException

    try:
        if version is not None:
            return client.get_model_version(model_name, str(version))
        return client.get_model_version_by_alias(model_name, CHAMPION)
    except MlflowException as exc:
        if version is not None:
            raise NoSuchVersion(f"{model}: model {model_name!r} has no version {version} "
                                f"({exc.message})") from None
        raise NoChampionError(f"{model}: model {model_name!r} has no {CHAMPION!r} version; "
                              f"run `nox -s ci_build` first ({exc.message})") from None


def approve(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, approver: str,
            version: str | None = None, *, now: datetime | None = None) -> dict[str, Any]:
    """Tag the version stage=production, approved_by, approved_build, approved_at."""
    client = registry_client(workspace)
    found = version_or_champion(client, entry.model, names.model_name, version)
    approval = Approval(approver, names.build_id,
                        (now or datetime.now(UTC)).isoformat(timespec="seconds"))
    for key, value in approval.to_tags().items():
        client.set_model_version_tag(names.model_name, found.version, key, value)
    return {"model": names.model_name, "version": str(found.version), **approval.to_tags()}
