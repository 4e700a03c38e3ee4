"""Production approval on Azure ML: tag a version of MODEL_NAME (the seed's manual approval
stage), recording who approved it and in which build: the version the CI gate published
(``--version``), else the champion."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.naming import RunNames
from mlops.platform.azure import _assets
from mlops.platform.azure.client import AzureClient, connect, log
from mlops.records import Approval, Workspace
from mlops.registry_names import PRODUCTION


def approve(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, approver: str,
            version: str | None = None, *, client: AzureClient | None = None,
            now: datetime | None = None) -> dict[str, Any]:
    """Tag the version stage=production, approved_by, approved_build, approved_at."""
    client = client or connect(workspace)
    if version is None:
        version = str(_assets.champion(client, names.model_name).version)
    # The full version (path, flavors) from get: a listing entry is not safe to PUT back.
    model = _assets.model_version(client, entry.model, names.model_name, version)
    approval = Approval(approver, names.build_id,
                        (now or datetime.now(UTC)).isoformat(timespec="seconds"))
    model.tags = {**(model.tags or {}), **approval.to_tags()}
    # A PUT of the same name and version updates only the mutable fields (tags, description).
    client.models.create_or_update(model)
    log(f"{entry.model}: approved {model.name}:{model.version} for {PRODUCTION} "
        f"(by {approver}, build {names.build_id})")
    return {"model": model.name, "version": str(model.version), **approval.to_tags()}
