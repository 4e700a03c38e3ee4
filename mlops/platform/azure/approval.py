"""Production approval on Azure ML: tag the champion version of MODEL_NAME (the seed's manual
approval stage), recording who approved it and in which build."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.naming import RunNames
from mlops.platform.azure import _assets
from mlops.platform.azure.client import AzureClient, connect, log
from mlops.records import Workspace
from mlops.registry_names import PRODUCTION, STAGE_TAG


def approve(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, approver: str, *,
            client: AzureClient | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Tag the champion version stage=production, approved_by, approved_build, approved_at."""
    client = client or connect(workspace)
    champion = _assets.champion(client, names.model_name)
    # The full version (path, flavors) from get: a listing entry is not safe to PUT back.
    model = client.models.get(name=champion.name, version=str(champion.version))
    approval = {STAGE_TAG: PRODUCTION, "approved_by": approver, "approved_build": names.build_id,
                "approved_at": (now or datetime.now(UTC)).isoformat(timespec="seconds")}
    model.tags = {**(model.tags or {}), **approval}
    # A PUT of the same name and version updates only the mutable fields (tags, description).
    client.models.create_or_update(model)
    log(f"{entry.model}: approved {model.name}:{model.version} for {PRODUCTION} "
        f"(by {approver}, build {names.build_id})")
    return {"model": model.name, "version": str(model.version), **approval}
