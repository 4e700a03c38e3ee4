"""What every platform offers. Local and Azure implement the same protocol; sessions and the
build orchestration talk only to this."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from mlops.config import ModelEnvConfig
from mlops.naming import RunNames
from mlops.platform.workspace import Workspace


@dataclass(frozen=True)
class DataAsset:
    name: str
    version: str  # derived from content: same content, same version
    purpose: str
    uri: str  # local folder path, or azureml:<name>:<version>
    created: bool  # False when this content was already registered


@dataclass(frozen=True)
class StepResult:
    name: str
    status: str  # "completed" | "reused" | "failed" | "skipped" | "cancelled"
    reused: bool
    seconds: float
    run_id: str | None = None
    log_tail: str = ""


@dataclass(frozen=True)
class GateDecision:
    passed: bool  # candidate meets the absolute threshold
    registered: bool  # candidate registered and now champion
    reason: str
    metric: str
    candidate: float | None
    champion: float | None  # current champion's metric on the same test data (None: no champion)
    model_version: str | None = None


@dataclass(frozen=True)
class PipelineResult:
    model: str
    env: str
    experiment_name: str
    display_name: str
    run_id: str  # parent run (local) or pipeline job name (azure)
    status: str  # "completed" | "failed" | "submitted" | "cancelled"
    metrics: dict[str, float] = field(default_factory=dict)  # r2, rmse, mae, mse
    gate: GateDecision | None = None
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, Path | str] = field(default_factory=dict)


@dataclass(frozen=True)
class EndpointInfo:
    name: str
    kind: str  # "online" | "batch"
    model: str
    model_version: str | None
    scoring_uri: str
    status: str
    key: str | None = None  # only when asked for (--show-keys)
    extra: dict[str, Any] = field(default_factory=dict)


class Platform(Protocol):
    workspace: Workspace

    def register_data(self, entry: ModelEnvConfig) -> list[DataAsset]: ...

    def run_pipeline(self, entry: ModelEnvConfig, names: RunNames, *,
                     wait: bool = True) -> PipelineResult: ...

    def deploy(self, entry: ModelEnvConfig, names: RunNames) -> list[EndpointInfo]: ...

    def undeploy(self, entry: ModelEnvConfig) -> list[str]: ...

    def invoke(self, entry: ModelEnvConfig) -> dict[str, Any]: ...

    def endpoints(self, show_keys: bool = False) -> list[EndpointInfo]: ...

    def approve(self, entry: ModelEnvConfig, names: RunNames, approver: str) -> dict[str, Any]: ...


class ModulePlatform:
    """A platform whose capabilities live in modules of one package (data, pipeline, endpoints,
    approval), each a set of functions taking the workspace first; this class only binds them.
    Modules are imported on first use, so a session pays only for what it calls."""

    target: str  # "local" | "azure": the stack whose outputs describe the workspace
    package: str  # e.g. "mlops.platform.local"

    def __init__(self, workspace: Workspace, config: Any):
        self.workspace, self.config = workspace, config

    @classmethod
    def from_provisioned(cls, config: Any) -> ModulePlatform:
        from mlops.infra import read_workspace

        return cls(read_workspace(config, cls.target), config)

    def _module(self, name: str) -> Any:
        import importlib

        return importlib.import_module(f"{self.package}.{name}")

    def register_data(self, entry: ModelEnvConfig) -> list[DataAsset]:
        return self._module("data").register_data(self.workspace, entry)

    def run_pipeline(self, entry: ModelEnvConfig, names: RunNames, *,
                     wait: bool = True) -> PipelineResult:
        return self._module("pipeline").run_pipeline(self.workspace, entry, names, wait=wait)

    def deploy(self, entry: ModelEnvConfig, names: RunNames) -> list[EndpointInfo]:
        return self._module("endpoints").deploy(self.workspace, entry, names)

    def undeploy(self, entry: ModelEnvConfig) -> list[str]:
        return self._module("endpoints").undeploy(self.workspace, entry)

    def invoke(self, entry: ModelEnvConfig) -> dict[str, Any]:
        return self._module("endpoints").invoke(self.workspace, entry)

    def endpoints(self, show_keys: bool = False) -> list[EndpointInfo]:
        return self._module("endpoints").list_endpoints(self.workspace, show_keys=show_keys)

    def approve(self, entry: ModelEnvConfig, names: RunNames, approver: str) -> dict[str, Any]:
        return self._module("approval").approve(self.workspace, entry, names, approver)
