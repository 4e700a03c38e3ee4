"""The embedded local platform: everything on this machine, driven by the provisioned
workspace description. Each capability lives in its own module; this class only binds them."""

from __future__ import annotations

from typing import Any

from mlops.config import FactoryConfig, ModelEnvConfig
from mlops.naming import RunNames
from mlops.platform.base import DataAsset, EndpointInfo, PipelineResult
from mlops.platform.workspace import Workspace


class LocalPlatform:
    def __init__(self, workspace: Workspace, config: FactoryConfig):
        self.workspace, self.config = workspace, config

    @classmethod
    def from_provisioned(cls, config: FactoryConfig) -> LocalPlatform:
        from mlops.infra import read_workspace

        return cls(read_workspace(config, "local"), config)

    def register_data(self, entry: ModelEnvConfig) -> list[DataAsset]:
        from mlops.platform.local import data

        return data.register_data(self.workspace, entry)

    def run_pipeline(self, entry: ModelEnvConfig, names: RunNames, *,
                     wait: bool = True) -> PipelineResult:
        from mlops.platform.local import pipeline

        return pipeline.run_pipeline(self.workspace, entry, names, wait=wait)

    def deploy(self, entry: ModelEnvConfig, names: RunNames) -> list[EndpointInfo]:
        from mlops.platform.local import endpoints

        return endpoints.deploy(self.workspace, entry, names)

    def undeploy(self, entry: ModelEnvConfig) -> list[str]:
        from mlops.platform.local import endpoints

        return endpoints.undeploy(self.workspace, entry)

    def invoke(self, entry: ModelEnvConfig) -> dict[str, Any]:
        from mlops.platform.local import endpoints

        return endpoints.invoke(self.workspace, entry)

    def endpoints(self, show_keys: bool = False) -> list[EndpointInfo]:
        from mlops.platform.local import endpoints

        return endpoints.list_endpoints(self.workspace, show_keys=show_keys)

    def approve(self, entry: ModelEnvConfig, names: RunNames, approver: str) -> dict[str, Any]:
        from mlops.platform.local import approval

        return approval.approve(self.workspace, entry, names, approver)
