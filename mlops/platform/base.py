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
from mlops.records import DataAsset, EndpointInfo, MonitorRecord, PipelineResult, Workspace


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
                approver: str) -> dict[str, Any]: ...


class MonitoringOps(Protocol):
    def monitor(self, workspace: Workspace, entry: ModelEnvConfig, names: RunNames,
                reports: Path, env: str) -> MonitorRecord: ...


# capability -> its protocol (the conformance test walks this)
CAPABILITIES: dict[str, type] = {"data": DataOps, "pipeline": PipelineOps,
                                 "endpoints": EndpointOps, "approval": ApprovalOps,
                                 "monitoring": MonitoringOps}


@dataclass(frozen=True)
class Platform:
    """A workspace bound to one platform's capability implementations."""

    workspace: Workspace
    data_ops: DataOps
    pipeline_ops: PipelineOps
    endpoint_ops: EndpointOps
    approval_ops: ApprovalOps
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

    def approve(self, entry: ModelEnvConfig, names: RunNames, approver: str) -> dict[str, Any]:
        return self.approval_ops.approve(self.workspace, entry, names, approver)

    def monitor(self, entry: ModelEnvConfig, names: RunNames, reports: Path,
                env: str) -> MonitorRecord:
        return self.monitoring_ops.monitor(self.workspace, entry, names, reports, env)
