"""Records that cross layers: the workspace description, data assets, step and pipeline results,
the gate decision, endpoints, saved plans, promotions and lineage.

This module is the neutral ground every layer (config users, infra, pipeline, serving,
platforms, builds, commands, the CDK app) imports; it imports nothing of the factory, so no
layer reaches upward through it. Records that are written to disk by one module and read by
another carry SCHEMA_VERSION and are read back through ``from_dict``, which names what is wrong.
"""

from __future__ import annotations

from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from mlops.registry_names import (
    APPROVED_AT_TAG,
    APPROVED_BUILD_TAG,
    APPROVED_BY_TAG,
    PRODUCTION,
    STAGE_TAG,
)

# Version of every record this module writes to disk. A reader meeting a newer one refuses it
# by name instead of misreading it; an older one is upgraded where the fields allow.
SCHEMA_VERSION = 1

# The platforms a workspace can live on (--target, FACTORY_TARGET).
TARGETS = ("local", "azure")


class RecordError(ValueError):
    """A record on disk or in Terraform output does not have the expected shape."""


def _check_version(data: Any, what: str) -> None:
    """data is an object of a schema version this factory reads."""
    if not isinstance(data, dict):
        raise RecordError(f"{what}: expected an object, found {type(data).__name__}")
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
    # local: the ports this environment's endpoint fronts bind (first, last)
    endpoint_ports: tuple[int, int] | None = None
    # azure: the Azure ML registry the environments share (promotion goes through it)
    azureml_registry: str | None = None

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
        ports = data.get("endpoint_ports")
        if ports is not None:
            if (not isinstance(ports, list | tuple) or len(ports) != 2
                    or not all(isinstance(p, int) for p in ports)):
                raise RecordError(f"terraform output 'workspace': endpoint_ports: expected "
                                  f"[first, last], found {ports!r}")
            data["endpoint_ports"] = tuple(ports)
        return cls(**data)

    def to_output(self) -> dict[str, Any]:
        data = asdict(self)
        for key in self._PATHS:
            if data.get(key) is not None:
                data[key] = str(data[key])
        if data.get("endpoint_ports") is not None:
            data["endpoint_ports"] = list(data["endpoint_ports"])
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

    @classmethod
    def from_decision(cls, decision: dict[str, Any]) -> GateDecision:
        """From the register step's decision.json (both platforms write the same file)."""
        version = decision.get("model_version")
        return cls(passed=bool(decision.get("passed")),
                   registered=bool(decision.get("registered")),
                   reason=str(decision.get("reason", "")), metric=str(decision.get("metric", "")),
                   candidate=decision.get("candidate"), champion=decision.get("champion"),
                   model_version=None if version is None else str(version),
                   threshold=decision.get("threshold"), model_name=decision.get("model_name"))


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


# -- the local endpoint registry -----------------------------------------------------------
# One JSON record per endpoint, written by the deployer and by the endpoint's own processes
# (front, keeper) and read by all of them: mlops/serving/registry.py.

ENDPOINT_KINDS = ("online", "batch")
# healthy | restarting (a process is being brought back) | unhealthy (restarts failed) |
# stopping (undeploy/destroy in progress: nobody restarts anything); batch: ready
ENDPOINT_STATUSES = ("healthy", "restarting", "unhealthy", "stopping", "ready")


def _as(cls: type, data: Any, what: str):
    if not isinstance(data, dict):
        raise RecordError(f"{what}: expected an object, found {type(data).__name__}")
    try:
        return cls(**_known(cls, data, what))
    except TypeError as exc:
        raise RecordError(f"{what}: {exc}") from None


@dataclass(frozen=True)
class ProcessRef:
    """A process the factory started: its pid and start time (which tells it from a later
    process that got the same pid)."""

    pid: int
    start: int | None = None


@dataclass(frozen=True)
class OnlineDeployment:
    """One blue/green deployment: an azmlinfsrv process tree on its own port."""

    slot: str
    port: int
    folder: str  # code/, model/, server.log
    model_version: str
    command: tuple[str, ...]
    cwd: str
    log: str
    env: dict[str, str] = field(default_factory=dict)  # no secrets: the token is derived
    process: ProcessRef | None = None
    started_at: float = 0.0

    @classmethod
    def from_dict(cls, data: Any, what: str) -> OnlineDeployment:
        dep = _as(cls, data, what)
        process = data.get("process")
        return replace(dep, command=tuple(dep.command), env=dict(dep.env),
                              process=_as(ProcessRef, process, f"{what}.process")
                              if process is not None else None)


@dataclass(frozen=True)
class BatchSettings:
    mini_batch_size: int
    concurrency: int
    max_retries: int
    retry_timeout: float
    output_file_name: str


@dataclass(frozen=True)
class BatchDeployment:
    """A batch deployment: a snapshot of the batch score.py and the model, and its settings."""

    name: str
    folder: str
    model_version: str
    settings: BatchSettings
    created_at: float = 0.0

    @classmethod
    def from_dict(cls, data: Any, what: str) -> BatchDeployment:
        dep = _as(cls, data, what)
        return replace(dep, settings=_as(BatchSettings, dep.settings, f"{what}.settings"))


@dataclass(frozen=True)
class BatchJob:
    """What one batch job read and wrote."""

    id: str
    input: str
    output: str
    errors: str
    rows: int
    files: int
    mini_batches: int
    failed_files: tuple[str, ...] = ()
    seconds: float = 0.0

    @classmethod
    def from_dict(cls, data: Any, what: str) -> BatchJob:
        job = _as(cls, data, what)
        return replace(job, failed_files=tuple(job.failed_files))


@dataclass(frozen=True)
class EndpointRecord:
    """The registry's record of one local endpoint (online or batch)."""

    name: str
    kind: str  # ENDPOINT_KINDS
    model: str
    model_name: str
    model_version: str
    status: str  # ENDPOINT_STATUSES
    scoring_uri: str = ""
    # online: the stable port, the live slot, its deployments and the endpoint's own processes
    port: int | None = None
    live: str | None = None
    deployments: dict[str, OnlineDeployment] = field(default_factory=dict)
    front: ProcessRef | None = None
    keeper: ProcessRef | None = None
    front_log: str | None = None
    fingerprint: str | None = None
    first_slot: str | None = None
    restarts: int = 0
    # batch
    batch: BatchDeployment | None = None
    last_job: BatchJob | None = None
    updated_at: float = 0.0
    schema_version: int = SCHEMA_VERSION

    @property
    def live_deployment(self) -> OnlineDeployment | None:
        return self.deployments.get(self.live) if self.live else None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any, what: str = "endpoint record") -> EndpointRecord:
        _check_version(data, what)
        record = _as(cls, data, what)
        if record.kind not in ENDPOINT_KINDS:
            raise RecordError(f"{what}: kind {record.kind!r}: expected one of "
                              f"{', '.join(ENDPOINT_KINDS)}")
        if record.status not in ENDPOINT_STATUSES:
            raise RecordError(f"{what}: status {record.status!r}: expected one of "
                              f"{', '.join(ENDPOINT_STATUSES)}")
        if not isinstance(record.deployments, dict):
            raise RecordError(f"{what}: deployments: expected an object")
        refs = {}
        for role in ("front", "keeper"):
            value = getattr(record, role)
            refs[role] = None if value is None else _as(ProcessRef, value, f"{what}.{role}")
        return replace(
            record, **refs,
            deployments={slot: OnlineDeployment.from_dict(dep, f"{what}.deployments.{slot}")
                         for slot, dep in record.deployments.items()},
            batch=None if record.batch is None else BatchDeployment.from_dict(
                record.batch, f"{what}.batch"),
            last_job=None if record.last_job is None else BatchJob.from_dict(
                record.last_job, f"{what}.last_job"))


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


# -- registry clean-up -------------------------------------------------------------------------
@dataclass(frozen=True)
class CleanupResult:
    """What `nox -s cleanup` removed (or, with --check, would remove) for one model."""

    model: str
    removed_versions: tuple[tuple[str, str], ...] = ()  # (registered model name, version)
    kept_versions: tuple[tuple[str, str, str], ...] = ()  # (name, version, why kept)
    removed_experiments: tuple[str, ...] = ()
    dry_run: bool = False


# -- approval and promotion --------------------------------------------------------------------
# Tags on a registered model version, the same on both platforms (names: mlops.registry_names).
# Approval (the seed's manual approval stage) sets four; a promotion writes Promotion.to_tags()
# on the copy.


@dataclass(frozen=True)
class Approval:
    approved_by: str
    approved_build: str
    approved_at: str  # ISO 8601
    stage: str = PRODUCTION

    def to_tags(self) -> dict[str, str]:
        return {STAGE_TAG: self.stage, APPROVED_BY_TAG: self.approved_by,
                APPROVED_BUILD_TAG: self.approved_build, APPROVED_AT_TAG: self.approved_at}

    @classmethod
    def from_tags(cls, tags: dict[str, Any] | None) -> Approval | None:
        """The approval a version's tags record, or None when it is not approved."""
        tags = tags or {}
        if tags.get(STAGE_TAG) != PRODUCTION:
            return None
        return cls(str(tags.get(APPROVED_BY_TAG, "")), str(tags.get(APPROVED_BUILD_TAG, "")),
                   str(tags.get(APPROVED_AT_TAG, "")))


@dataclass(frozen=True)
class ApprovedVersion:
    """A registered version a promotion may take: approved, with the facts of where it came
    from (read in the source environment)."""

    env: str  # infrastructure environment
    workspace: str
    model: str  # the factory's model (nyc_taxi)
    model_name: str  # MODEL_NAME it is registered as
    version: str
    digest: str  # factory.model_digest recorded at registration
    approval: Approval
    run_id: str | None = None  # the pipeline run that trained it (local parent run, azure job)
    data: tuple[str, ...] = ()  # "name:version" of the data assets it was trained on
    git_commit: str | None = None
    build_id: str | None = None  # the CI build that trained it


@dataclass(frozen=True)
class Promotion:
    """An approved version copied into another environment: written as tags on the copy, read
    back by lineage."""

    source: ApprovedVersion
    target_env: str
    target_workspace: str
    target_version: str
    promoted_by: str
    promoted_at: str  # ISO 8601
    promotion_build: str  # the CD build (or local run) that promoted it
    registry_model: str | None = None  # azure: the registry asset the target serves
    schema_version: int = SCHEMA_VERSION

    TAG_PREFIX = "factory.promotion."

    def to_tags(self) -> dict[str, str]:
        values = {f"source.{k}": v for k, v in asdict(self.source).items() if k != "approval"}
        values.update({f"source.approval.{k}": v for k, v in asdict(self.source.approval).items()})
        values.update({k: v for k, v in asdict(self).items() if k != "source"})
        values["source.data"] = ",".join(self.source.data)
        return {f"{self.TAG_PREFIX}{k}": str(v) for k, v in values.items() if v is not None}

    @classmethod
    def from_tags(cls, tags: dict[str, Any] | None, what: str = "promotion tags"
                  ) -> Promotion | None:
        """The promotion a version's tags record; None for a version trained where it is."""
        found = {k[len(cls.TAG_PREFIX):]: str(v) for k, v in (tags or {}).items()
                 if k.startswith(cls.TAG_PREFIX)}
        if not found:
            return None
        version = found.get("schema_version", str(SCHEMA_VERSION))
        _check_version({"schema_version": int(version) if version.isdigit() else version}, what)
        approval = {k.removeprefix("source.approval."): v for k, v in found.items()
                    if k.startswith("source.approval.")}
        source = {k.removeprefix("source."): v for k, v in found.items()
                  if k.startswith("source.") and not k.startswith("source.approval.")}
        source["data"] = tuple(d for d in source.get("data", "").split(",") if d)
        top = {k: v for k, v in found.items() if not k.startswith("source.")}
        # written once the copy has its version number: a copy interrupted before is unfinished
        top.setdefault("target_version", "")
        try:
            return cls(**{**_known(cls, {**top, "source": None}, what),
                          "schema_version": SCHEMA_VERSION,
                          "source": ApprovedVersion(**{
                              **_known(ApprovedVersion, {**source, "approval": None}, what),
                              "approval": Approval(**_known(Approval, approval, what))})})
        except TypeError as exc:
            raise RecordError(f"{what}: {exc}") from None


# -- lineage -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class VersionLineage:
    """Where one registered version in one environment came from, and where it went: data ->
    pipeline run and steps -> gate -> version and digest -> approval -> promotions -> endpoints."""

    env: str
    workspace: str
    target: str
    model: str
    model_name: str
    version: str
    digest: str | None
    champion: bool
    data: tuple[str, ...] = ()  # "name:version"
    run_id: str | None = None
    run_name: str | None = None
    experiment: str | None = None
    build_id: str | None = None
    branch: str | None = None
    git_commit: str | None = None
    steps: tuple[StepResult, ...] = ()
    gate: GateDecision | None = None
    approval: Approval | None = None
    promoted_from: Promotion | None = None
    promoted_to: tuple[Promotion, ...] = ()
    endpoints: tuple[EndpointInfo, ...] = ()
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
