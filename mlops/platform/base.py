"""What every platform offers, as typed protocols, and the one facade sessions and builds use.

Each capability is a protocol implemented by one module per platform (PEP 544: a module is a
valid implementation of a protocol): ``mlops.platform.local.data`` and
``mlops.platform.azure.data`` both implement DataOps, and so on. ``mlops.platform.get_platform``
wires the modules of the chosen target explicitly; tests check that every module implements
its protocol's functions with the same parameters.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from mlops.config import ModelEnvConfig
from mlops.naming import RunNames
from mlops.records import (
    ApprovedVersion,
    CleanupResult,
    DataAsset,
    EndpointInfo,
    MonitorRecord,
    PipelineResult,
    Promotion,
    VersionLineage,
    Workspace,
)


class DataOps(Protocol):
    def register_data(self, workspace: Workspace, entry: ModelEnvConfig) -> list[DataAsset]: ...


class PipelineOps(Protocol):
    def run_pipeline(self, workspace: Workspace, entry: ModelEnvConfig, names: RunNames, *,
                     wait: bool = True) -> PipelineResult: ...


class EndpointOps(Protocol):
    def deploy(self, workspace: Workspace, entry: ModelEnvConfig,
               names: RunNames) -> list[EndpointInfo]: ...

    def undeploy(self, workspace: Workspace, entry: ModelEnvConfig) -> list[str]: ...

    def invoke(self, workspace: Workspace, entry: ModelEnvConfig) -> dict[str, Any]: ...

    def list_endpoints(self, workspace: Workspace,
                       show_keys: bool = False) -> list[EndpointInfo]: ...


class ApprovalOps(Protocol):
    def approve(self, workspace: Workspace, entry: ModelEnvConfig, names: RunNames,
                approver: str, version: str | None = None) -> dict[str, Any]: ...


class PromotionOps(Protocol):
    """Moving an approved version, the same artifact, from one environment's workspace to
    another's: never retrained. ``approved`` reads the source only (and refuses an unapproved
    version); ``promote`` copies, checks the digest, registers with lineage tags and makes the
    copy the target's champion (deploying is the target platform's EndpointOps)."""

    def approved(self, workspace: Workspace, env: str, entry: ModelEnvConfig, names: RunNames,
                 version: str | None = None) -> ApprovedVersion: ...

    def promote(self, source: Workspace, target: Workspace, entry: ModelEnvConfig,
                approved: ApprovedVersion, promotion: Promotion) -> Promotion: ...


class LineageOps(Protocol):
    """Where a registered version came from (data, run, steps, gate, digest, approval, the
    promotion that brought it) and the promotions recorded in a workspace."""

    def lineage(self, workspace: Workspace, env: str, entry: ModelEnvConfig, names: RunNames,
                version: str | None = None) -> VersionLineage: ...

    def promotions(self, workspace: Workspace, model_name: str) -> list[Promotion]: ...


class CleanupOps(Protocol):
    def cleanup(self, workspace: Workspace, entries: list[ModelEnvConfig], keep: int,
                dry_run: bool = False) -> CleanupResult: ...


class MonitoringOps(Protocol):
    def monitor(self, workspace: Workspace, entry: ModelEnvConfig, names: RunNames,
                reports: Path, env: str) -> MonitorRecord: ...


# capability -> its protocol (the conformance test walks this)
CAPABILITIES: dict[str, type] = {"data": DataOps, "pipeline": PipelineOps,
                                 "endpoints": EndpointOps, "approval": ApprovalOps,
                                 "cleanup": CleanupOps, "promotion": PromotionOps,
                                 "lineage": LineageOps,
                                 "monitoring": MonitoringOps}


@dataclass(frozen=True)
class Platform:
    """A workspace bound to one platform's capability implementations."""

    workspace: Workspace
    data_ops: DataOps
    pipeline_ops: PipelineOps
    endpoint_ops: EndpointOps
    approval_ops: ApprovalOps
    cleanup_ops: CleanupOps
    promotion_ops: PromotionOps
    lineage_ops: LineageOps
    monitoring_ops: MonitoringOps

    @property
    def target(self) -> str:
        return self.workspace.target

    def register_data(self, entry: ModelEnvConfig) -> list[DataAsset]:
        return self.data_ops.register_data(self.workspace, entry)

    def run_pipeline(self, entry: ModelEnvConfig, names: RunNames, *,
                     wait: bool = True) -> PipelineResult:
        return self.pipeline_ops.run_pipeline(self.workspace, entry, names, wait=wait)

    def deploy(self, entry: ModelEnvConfig, names: RunNames) -> list[EndpointInfo]:
        return self.endpoint_ops.deploy(self.workspace, entry, names)

    def undeploy(self, entry: ModelEnvConfig) -> list[str]:
        return self.endpoint_ops.undeploy(self.workspace, entry)

    def invoke(self, entry: ModelEnvConfig) -> dict[str, Any]:
        return self.endpoint_ops.invoke(self.workspace, entry)

    def endpoints(self, show_keys: bool = False) -> list[EndpointInfo]:
        return self.endpoint_ops.list_endpoints(self.workspace, show_keys=show_keys)

    def approve(self, entry: ModelEnvConfig, names: RunNames, approver: str,
                version: str | None = None) -> dict[str, Any]:
        return self.approval_ops.approve(self.workspace, entry, names, approver, version)

    def approved(self, env: str, entry: ModelEnvConfig, names: RunNames,
                 version: str | None = None) -> ApprovedVersion:
        return self.promotion_ops.approved(self.workspace, env, entry, names, version)

    def promote(self, target: Workspace, entry: ModelEnvConfig, approved: ApprovedVersion,
                promotion: Promotion) -> Promotion:
        """Copy ``approved`` from this platform's workspace into ``target``."""
        return self.promotion_ops.promote(self.workspace, target, entry, approved, promotion)

    def lineage(self, env: str, entry: ModelEnvConfig, names: RunNames,
                version: str | None = None) -> VersionLineage:
        return self.lineage_ops.lineage(self.workspace, env, entry, names, version)

    def promotions(self, model_name: str) -> list[Promotion]:
        return self.lineage_ops.promotions(self.workspace, model_name)

    def cleanup(self, entries: list[ModelEnvConfig], keep: int,
                dry_run: bool = False) -> CleanupResult:
        return self.cleanup_ops.cleanup(self.workspace, entries, keep, dry_run=dry_run)

    def monitor(self, entry: ModelEnvConfig, names: RunNames, reports: Path,
                env: str) -> MonitorRecord:
        return self.monitoring_ops.monitor(self.workspace, entry, names, reports, env)
