"""Production approval on the local platform: tag the champion version of MODEL_NAME in the
workspace's MLflow registry (the seed's manual approval stage), recording who approved it and
in which build. Same tags as on Azure ML."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.naming import RunNames
from mlops.platform.local.endpoints import CHAMPION, NoChampionError
from mlops.records import Workspace
from mlops.registry_names import PRODUCTION, STAGE_TAG


def approve(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, approver: str, *,
            now: datetime | None = None) -> dict[str, Any]:
    """Tag the champion version stage=production, approved_by, approved_build, approved_at."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    try:
        version = client.get_model_version_by_alias(names.model_name, CHAMPION)
    except MlflowException as exc:
        raise NoChampionError(f"{entry.model}: model {names.model_name!r} has no {CHAMPION!r} "
                              f"version to approve; run `nox -s ci_build` first "
                              f"({exc.message})") from None
    approval = {STAGE_TAG: PRODUCTION, "approved_by": approver, "approved_build": names.build_id,
                "approved_at": (now or datetime.now(UTC)).isoformat(timespec="seconds")}
    for key, value in approval.items():
        client.set_model_version_tag(names.model_name, version.version, key, value)
    return {"model": names.model_name, "version": str(version.version), **approval}
