"""Typed configuration objects. Field names follow the seed's JSON keys, lower-cased."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops.records import ENDPOINT_KINDS

DATA_PURPOSES = ("pr_data", "training_data", "batch_test_data")
# Local endpoint fronts bind ports in this range unless LOCAL_ENDPOINT_PORTS gives another
DEFAULT_ENDPOINT_PORTS = (20000, 27999)
# Monitoring defaults (model_config.json DRIFT_THRESHOLD, MONITOR_CRON; realtime_config.json
# COLLECTION_SAMPLING_RATE). The threshold is a distance, the same for every column: normalised
# Wasserstein for numerical columns, Jensen-Shannon for categorical ones (evidently's and Azure
# ML's defaults are 0.1); a column drifts when its distance reaches it.
DEFAULT_DRIFT_THRESHOLD = 0.1
DEFAULT_MONITOR_CRON = "0 6 * * *"  # daily, 06:00 UTC: the CI schedule and Azure's monitor
DEFAULT_SAMPLING_RATE = 1.0
# The endpoints a model is served on, chosen per model_config.json entry (the seed's variables;
# JSON booleans, default true): endpoint kind -> key. Both false: trained and registered only.
DEPLOYMENT_KEYS = {"online": "IS_ONLINE_DEPLOYMENT", "batch": "IS_BATCH_DEPLOYMENT"}


@dataclass(frozen=True)
class InfraConfig:
    """One infrastructure environment of config/infra_config.json."""

    env_name: str
    namespace: str
    projectcode: str
    version: str
    location: str
    resource_group_name: str
    azure_rm_svc_connection: str
    cluster_name: str
    cluster_size: str
    cluster_min_nodes: int
    cluster_max_nodes: int
    cluster_idle_seconds_before_scaledown: int
    batch_cluster_name: str
    batch_cluster_size: str
    batch_cluster_max_nodes: int
    variable_group_name: str
    devops_project_name: str
    repository_name: str
    development_branch: str
    # Azure coordinates (optional: the environment may give them, see mlops.azure_names)
    subscription_id: str | None = None  # else ARM_SUBSCRIPTION_ID
    devops_organization_url: str | None = None  # else AZDO_ORG_SERVICE_URL
    # The infrastructure pipeline's own, privileged service connection (bootstrap creates it)
    azure_rm_infra_svc_connection: str | None = None
    # The environment whose approved models this one receives (`nox -s promote`), or None
    promote_from: str | None = None
    # Local platform: the ports this environment's endpoint fronts bind (first, last)
    local_endpoint_ports: tuple[int, int] = DEFAULT_ENDPOINT_PORTS

    @property
    def infra_svc_connection(self) -> str:
        return self.azure_rm_infra_svc_connection or f"{self.azure_rm_svc_connection}-infra"

    @property
    def name_suffix(self) -> str:
        return f"{self.namespace}-{self.projectcode}-{self.version}"

    @property
    def workspace_name(self) -> str:
        return f"mlw-{self.name_suffix}"


@dataclass(frozen=True)
class Dataset:
    purpose: str
    path: Path
    name: str
    description: str


@dataclass(frozen=True)
class DataConfig:
    file: Path
    datasets: tuple[Dataset, ...]

    def by_purpose(self, purpose: str) -> Dataset:
        for dataset in self.datasets:
            if dataset.purpose == purpose:
                return dataset
        raise KeyError(f"{self.file}: no dataset with DATA_PURPOSE {purpose!r}")


@dataclass(frozen=True)
class BatchConfig:
    file: Path
    batch_cluster_name: str
    endpoint_name: str
    deployment_name: str
    cluster_instance_count: int
    max_concurrency_per_instance: int
    mini_batch_size: int
    output_file_name: str
    max_retries: int
    retry_timeout: int

    @property
    def concurrency(self) -> int:
        return self.cluster_instance_count * self.max_concurrency_per_instance


@dataclass(frozen=True)
class RealtimeConfig:
    file: Path
    endpoint_name: str
    deployment_name: str
    deployment_vm_size: str
    deployment_instance_count: int
    environment_variables: dict[str, str]
    test_request_path: Path
    collection_sampling_rate: float = DEFAULT_SAMPLING_RATE  # share of requests logged


@dataclass(frozen=True)
class ModelEnvConfig:
    """One model x environment entry of config/model_config.json, with its referenced files."""

    model: str
    env: str
    model_dir: Path  # mlops/<model>: the model's plugin folder (see mlops/plugins.py)
    task: str  # the plugin's TASK (mlops/tasks.py)
    cluster_region: str
    conda_path: Path
    display_base_name: str
    env_base_image_name: str
    environment_name: str
    experiment_base_name: str
    model_base_name: str
    gate_metric: str
    gate_threshold: float
    path_filters: tuple[str, ...]
    training_params: dict[str, Any]  # TRAINING_PARAMS: overrides of the estimator's PARAMS
    batch: BatchConfig
    realtime: RealtimeConfig
    data: DataConfig
    drift_threshold: float = DEFAULT_DRIFT_THRESHOLD  # per-column drift distance that fails
    monitor_cron: str = DEFAULT_MONITOR_CRON  # when the monitoring runs (UTC, 5 cron fields)
    is_online_deployment: bool = True  # IS_ONLINE_DEPLOYMENT: served on an online endpoint
    is_batch_deployment: bool = True  # IS_BATCH_DEPLOYMENT: served on a batch endpoint

    @property
    def endpoint_kinds(self) -> tuple[str, ...]:
        """The kinds of endpoint this model is served on (ENDPOINT_KINDS order); empty: none."""
        chosen = {"online": self.is_online_deployment, "batch": self.is_batch_deployment}
        return tuple(kind for kind in ENDPOINT_KINDS if chosen[kind])

    def not_served(self, kind: str | None = None) -> str:
        """Why the model has no endpoint of ``kind`` (None: no endpoint at all)."""
        if kind is None:
            keys = " and ".join(DEPLOYMENT_KEYS.values())
            return (f"{self.model}/{self.env}: {keys} are false "
                    f"(trained and registered, not served)")
        return f"{self.model}/{self.env}: {DEPLOYMENT_KEYS[kind]} is false"

    @property
    def gate_higher_is_better(self) -> bool:
        from mlops.tasks import task

        return task(self.task).metric(self.gate_metric).higher_is_better


@dataclass(frozen=True)
class FactoryConfig:
    """Everything under config/ plus each model's configs, validated together."""

    root: Path
    infra: dict[str, InfraConfig]
    entries: dict[tuple[str, str], ModelEnvConfig] = field(default_factory=dict)

    @property
    def model_names(self) -> list[str]:
        return sorted({model for model, _ in self.entries})

    @property
    def environments(self) -> list[str]:
        return sorted({env for _, env in self.entries})

    def entry(self, model: str, env: str) -> ModelEnvConfig:
        try:
            return self.entries[(model, env)]
        except KeyError:
            raise KeyError(f"config/model_config.json has no entry for model {model!r} "
                           f"and environment {env!r}") from None

    def infra_env(self, name: str) -> InfraConfig:
        try:
            return self.infra[name]
        except KeyError:
            raise KeyError(f"config/infra_config.json has no environment {name!r}; "
                           f"known: {', '.join(sorted(self.infra))}") from None
