"""Records that cross layers: the workspace description, data assets, step and pipeline results,
the gate decision, endpoints and saved plans.

This module is the neutral ground every layer (config users, infra, pipeline, serving,
platforms, builds, commands, the CDK app) imports; it imports nothing of the factory, so no
layer reaches upward through it. Records that are written to disk by one module and read by
another carry SCHEMA_VERSION and are read back through ``from_dict``, which names what is wrong.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

# Version of every record this module writes to disk. A reader meeting a newer one refuses it
# by name instead of misreading it; an older one is upgraded where the fields allow.
SCHEMA_VERSION = 1

# The platforms a workspace can live on (--target, FACTORY_TARGET).
TARGETS = ("local", "azure")


class RecordError(ValueError):
    """A record on disk or in Terraform output does not have the expected shape."""


def _check_version(data: dict[str, Any], what: str) -> None:
    version = data.get("schema_version", SCHEMA_VERSION)
    if not isinstance(version, int) or version > SCHEMA_VERSION:
        raise RecordError(f"{what}: schema_version {version!r} is newer than this factory "
                          f"understands ({SCHEMA_VERSION}); update the factory")


def _known(cls: type, data: dict[str, Any], what: str) -> dict[str, Any]:
    """The keys of ``data`` that are fields of ``cls``; RecordError names a missing required one."""
    missing = [f.name for f in fields(cls) if f.name not in data
               and f.default is MISSING and f.default_factory is MISSING]
    if missing:
        raise RecordError(f"{what}: missing {', '.join(missing)}")
    names = {f.name for f in fields(cls)}
    return {k: v for k, v in data.items() if k in names}


# -- the workspace -----------------------------------------------------------------------------
@dataclass(frozen=True)
class Cluster:
    name: str
    size: str
    max_nodes: int
    min_nodes: int = 0


@dataclass(frozen=True)
class Workspace:
    """What a provisioned stack describes in its Terraform output ``workspace``: the only
    contract between infrastructure and the model build, on both platforms."""

    target: str  # "local" | "azure"
    name: str  # mlw-{namespace}-{projectcode}-{version}
    location: str
    compute: Cluster  # CLUSTER_NAME; local: max_nodes = the runner's parallelism
    batch_compute: Cluster  # BATCH_CLUSTER_NAME
    mlflow_tracking_uri: str
    mlflow_registry_uri: str
    # local platform: folders on this machine (None on azure)
    root: Path | None = None
    artifact_root: Path | None = None
    data_store: Path | None = None
    endpoint_registry: Path | None = None
    # azure platform (None on local)
    subscription_id: str | None = None
    resource_group: str | None = None
    # azure: appended to endpoint names, which Azure wants unique per region (mlops.azure_names)
    endpoint_suffix: str | None = None

    _PATHS = ("root", "artifact_root", "data_store", "endpoint_registry")

    @classmethod
    def from_output(cls, value: dict[str, Any]) -> Workspace:
        """Build from the ``workspace`` output's value; RecordError names the missing key."""
        if not isinstance(value, dict):
            raise RecordError(f"terraform output 'workspace': expected an object, found "
                              f"{type(value).__name__}")
        try:
            data = _known(cls, dict(value), "terraform output 'workspace'")
            data["compute"] = Cluster(**_known(Cluster, data["compute"], "workspace.compute"))
            data["batch_compute"] = Cluster(**_known(Cluster, data["batch_compute"],
                                                     "workspace.batch_compute"))
        except (TypeError, AttributeError) as exc:
            raise RecordError(f"terraform output 'workspace': {exc}") from None
        for key in cls._PATHS:
            if data.get(key):
                data[key] = Path(data[key])
        return cls(**data)

    def to_output(self) -> dict[str, Any]:
        data = asdict(self)
        for key in self._PATHS:
            if data.get(key) is not None:
                data[key] = str(data[key])
        return data


# -- data --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class DataAsset:
    name: str
    version: str  # derived from content: same content, same version
    purpose: str
    uri: str  # local folder path, or azureml:<name>:<version>
    created: bool  # False when this content was already registered


# -- pipelines ---------------------------------------------------------------------------------
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
    threshold: float | None = None
    model_name: str | None = None  # MODEL_NAME the candidate was (or would have been) registered as


@dataclass(frozen=True)
class PipelineResult:
    model: str
    env: str
    experiment_name: str
    display_name: str
    run_id: str  # parent run (local) or pipeline job name (azure)
    status: str  # "completed" | "failed" | "submitted" | "cancelled"
    metrics: dict[str, float] = field(default_factory=dict)
    gate: GateDecision | None = None
    steps: list[StepResult] = field(default_factory=list)
    outputs: dict[str, Path | str] = field(default_factory=dict)
    # pipeline input -> the data asset it was bound to, "name:version" (azure)
    data: dict[str, str] = field(default_factory=dict)


# -- endpoints ---------------------------------------------------------------------------------
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


# -- saved Terraform plans ---------------------------------------------------------------------
@dataclass(frozen=True)
class StackPlan:
    """One stack's part of a saved plan: its plan file, or the stacks it waits for."""

    name: str
    changes: bool
    plan: str | None = None  # file name under the plans folder
    sha256: str | None = None
    deferred_after: tuple[str, ...] = ()  # planned at apply time, after these stacks


@dataclass(frozen=True)
class PlanRecord:
    """What `nox -s plan` saved and `apply` checks before applying (see mlops/infra)."""

    target: str
    input_hash: str
    created: str  # ISO 8601
    stacks: tuple[StackPlan, ...]
    state: tuple[str | None, int | None] | None = None  # local state (lineage, serial)
    schema_version: int = SCHEMA_VERSION

    @property
    def has_changes(self) -> bool:
        return any(s.changes for s in self.stacks)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, what: str = "plan record") -> PlanRecord:
        if not isinstance(data, dict):
            raise RecordError(f"{what}: expected an object")
        _check_version(data, what)
        values = _known(cls, data, what)
        try:
            values["stacks"] = tuple(
                StackPlan(**{**_known(StackPlan, s, f"{what}: stack"),
                             "deferred_after": tuple(s.get("deferred_after", ()))})
                for s in values["stacks"])
        except (TypeError, AttributeError) as exc:
            raise RecordError(f"{what}: stacks: {exc}") from None
        if values.get("state") is not None:
            values["state"] = tuple(values["state"])
        return cls(**values)


# -- monitoring --------------------------------------------------------------------------------
@dataclass(frozen=True)
class ColumnDrift:
    """One column's drift: its distance from the reference against the model's threshold."""

    column: str
    role: str  # "input" (a model input) | "prediction" (the model's output)
    kind: str  # "numerical" | "categorical"
    method: str  # the distance: "wasserstein" (normed) | "jensenshannon"
    score: float | None  # None: not computable (e.g. a constant column)
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class MonitorRecord:
    """What `nox -s monitor` found for one model: written as reports/<model>_monitor_<env>.json
    beside its HTML report, read back by tests and CI."""

    model: str
    env: str  # the infrastructure environment (--env)
    target: str
    endpoint: str
    threshold: float
    drifted_columns: tuple[str, ...]
    columns: tuple[ColumnDrift, ...] = ()
    reference: str = ""  # what the production data was compared with (asset name:version)
    reference_rows: int = 0
    current_rows: int = 0
    requests: int = 0
    model_versions: tuple[str, ...] = ()
    window: tuple[str | None, str | None] = (None, None)  # first and last request (UTC)
    html: str | None = None
    created: str = ""
    detail: str = ""  # azure: what was configured there
    schema_version: int = SCHEMA_VERSION

    @property
    def drifted(self) -> bool:
        return bool(self.drifted_columns)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, what: str = "monitor record") -> MonitorRecord:
        if not isinstance(data, dict):
            raise RecordError(f"{what}: expected an object")
        _check_version(data, what)
        values = _known(cls, data, what)
        try:
            values["columns"] = tuple(ColumnDrift(**_known(ColumnDrift, c, f"{what}: column"))
                                      for c in values.get("columns", ()))
        except (TypeError, AttributeError) as exc:
            raise RecordError(f"{what}: columns: {exc}") from None
        for key in ("drifted_columns", "model_versions", "window"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
