"""Azure ML model monitoring of a model's online endpoint: a MonitorSchedule (azure-ai-ml) whose
data drift signal compares the live deployment's collected model inputs with the model's
reference features, on the model's MONITOR_CRON, with its DRIFT_THRESHOLD.

What Azure ML expects, from its documentation (how-to-monitor-model-performance,
how-to-collect-production-data, reference-yaml-monitor):
- production data: the collection ``model_inputs`` of the deployment's data collector, which
  Azure ML registers itself as the uri_folder data asset ``<endpoint>-<deployment>-model_inputs``
  (JSON lines, the layout mlops/serving/collector.py mirrors locally);
- reference data: an ``mltable`` asset. The factory registers the same reference features the
  local platform compares with (the training data through the model's own prep and features,
  mlops/monitoring/reference.py) as ``<training asset>-monitor-reference``, versioned by content;
- metrics: normalised Wasserstein distance for numerical features and Jensen-Shannon distance
  for categorical ones, both at DRIFT_THRESHOLD, each feature typed as the local platform types
  it (feature_type_override);
- compute: serverless Spark (the only compute model monitoring runs on).
The session re-applies the schedule (create_or_update is idempotent); Azure ML runs it and alerts.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pandas as pd

from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.monitoring import drift
from mlops.monitoring.reference import reference_features
from mlops.naming import RunNames
from mlops.platform.azure.client import AzureClient, AzureNotFound, connect, log
from mlops.platform.azure.data import content_hash, has_local_data, local_folder
from mlops.platform.local.data import VERSION_LENGTH, generate
from mlops.plugins import read_plugin
from mlops.records import MonitorRecord, Workspace
from mlops.serving.collector import INPUTS

# Serverless Spark: the runtime and instance types model monitoring supports
# (how-to-monitor-model-performance, "compute": runtime_version 3.4; standard_e4s_v3 and up).
SPARK_RUNTIME = "3.4"
SPARK_INSTANCE_TYPE = "standard_e4s_v3"
LOOKBACK = "P1D"  # the production window each run checks: one day, the default schedule's period
MLTABLE = ("paths:\n  - file: ./reference.csv\ntransformations:\n  - read_delimited:\n"
           "      delimiter: ','\n      encoding: utf8\n      header: all_files_same_headers\n")


def schedule_name(model: str) -> str:
    return f"{model}-drift-monitor".replace("_", "-")


def collected_asset(endpoint: str, deployment: str, collection: str = INPUTS) -> str:
    """The data asset Azure ML registers for a deployment's collection (collect-production-data:
    ``<endpoint_name>-<deployment_name>-<collection>``)."""
    return f"azureml:{endpoint}-{deployment}-{collection}@latest"


def live_deployment(client: AzureClient, endpoint: str) -> str:
    """The deployment taking the endpoint's traffic."""
    try:
        traffic = dict(client.online_endpoints.get(endpoint).traffic or {})
    except AzureNotFound:
        raise FactoryError(f"online endpoint {endpoint} does not exist; run `nox -s deploy -- "
                           f"--target azure` first") from None
    live = sorted((share, name) for name, share in traffic.items() if share)
    if not live:
        raise FactoryError(f"online endpoint {endpoint} has no deployment taking traffic")
    return live[-1][1]


def reference_asset(client: AzureClient, entry: ModelEnvConfig) -> tuple[str, pd.DataFrame]:
    """``azureml:<name>:<version>`` of the reference features (an mltable registered from the
    training data the checkout holds), and the features themselves."""
    from azure.ai.ml.constants import AssetTypes
    from azure.ai.ml.entities import Data

    dataset = entry.data.by_purpose("training_data")
    if not has_local_data(dataset):  # a fresh CI checkout: the generator is deterministic, so
        generate(entry, dataset, local_folder(dataset))  # this is the registered content
    data_version = content_hash(local_folder(dataset))[:VERSION_LENGTH]
    csv = reference_features(entry, local_folder(dataset), data_version)
    features = pd.read_csv(csv)
    folder = csv.parent / "mltable"
    if not (folder / "MLTable").is_file():
        folder.mkdir(exist_ok=True)
        shutil.copyfile(csv, folder / "reference.csv")
        (folder / "MLTable").write_text(MLTABLE)
    name = f"{dataset.name}-monitor-reference".replace("_", "-")
    version = content_hash(folder)[:VERSION_LENGTH]
    try:
        client.data.get(name=name, version=version)
    except AzureNotFound:
        log(f"  registering the monitoring reference {name}:{version} ({len(features)} rows)")
        client.data.create_or_update(Data(
            name=name, version=version, type=AssetTypes.MLTABLE, path=str(folder),
            description=f"{entry.model}: {dataset.name}:{data_version} through the model's "
                        f"prep and features (the drift reference)",
            tags={"model": entry.model, "training_data": f"{dataset.name}:{data_version}"}))
    return f"azureml:{name}:{version}", features


def rest_feature_types(feature_kinds: dict[str, str]) -> dict[str, str]:
    """The factory's column kinds as the service's enum spells them: the SDK passes the override
    through as given, and the REST API's MonitoringFeatureDataType is "Numerical" or
    "Categorical" (the SDK's own MonitorFeatureDataType is lower-case)."""
    from azure.ai.ml._restclient.arm_ml_service.models import MonitoringFeatureDataType

    values = {t.value.lower(): t.value for t in MonitoringFeatureDataType}
    return {column: values[kind] for column, kind in feature_kinds.items()}


def monitor_schedule(entry: ModelEnvConfig, endpoint: str, deployment: str, reference: str,
                     feature_kinds: dict[str, str]) -> Any:
    """The MonitorSchedule (no network)."""
    from azure.ai.ml import Input
    from azure.ai.ml.constants import MonitorDatasetContext
    from azure.ai.ml.entities import (
        BaselineDataRange,
        CategoricalDriftMetrics,
        CronTrigger,
        DataDriftMetricThreshold,
        DataDriftSignal,
        MonitorDefinition,
        MonitoringTarget,
        MonitorSchedule,
        NumericalDriftMetrics,
        ProductionData,
        ReferenceData,
        ServerlessSparkCompute,
    )

    threshold = entry.drift_threshold
    signal = DataDriftSignal(
        production_data=ProductionData(
            input_data=Input(type="uri_folder", path=collected_asset(endpoint, deployment)),
            data_context=MonitorDatasetContext.MODEL_INPUTS,
            data_window=BaselineDataRange(lookback_window_size=LOOKBACK,
                                          lookback_window_offset="P0D")),
        reference_data=ReferenceData(input_data=Input(type="mltable", path=reference),
                                     data_context=MonitorDatasetContext.TRAINING),
        features=list(feature_kinds),
        feature_type_override=rest_feature_types(feature_kinds),
        metric_thresholds=DataDriftMetricThreshold(
            numerical=NumericalDriftMetrics(normalized_wasserstein_distance=threshold),
            categorical=CategoricalDriftMetrics(jensen_shannon_distance=threshold)),
        alert_enabled=True)
    definition = MonitorDefinition(
        compute=ServerlessSparkCompute(runtime_version=SPARK_RUNTIME,
                                       instance_type=SPARK_INSTANCE_TYPE),
        monitoring_target=MonitoringTarget(ml_task=entry.task,
                                           endpoint_deployment_id=f"azureml:{endpoint}:"
                                                                  f"{deployment}"),
        monitoring_signals={"data_drift": signal})
    return MonitorSchedule(
        name=schedule_name(entry.model), trigger=CronTrigger(expression=entry.monitor_cron),
        create_monitor=definition, display_name=f"{entry.model} data drift",
        description=f"Drift of {endpoint}'s model inputs against {reference}",
        tags={"model": entry.model, "factory.threshold": str(threshold)})


def monitor(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, reports: Path,
            env: str, *, client: AzureClient | None = None) -> MonitorRecord:
    from mlops.platform.azure.endpoints import regional_entry

    client = client or connect(workspace)
    entry = regional_entry(workspace, entry)
    endpoint = entry.realtime.endpoint_name
    deployment = live_deployment(client, endpoint)
    reference, features = reference_asset(client, entry)
    columns = list(read_plugin(entry.model_dir).features)
    schedule = monitor_schedule(entry, endpoint, deployment, reference,
                                drift.kinds(features, columns))
    log(f"  monitor schedule {schedule.name}: {endpoint}/{deployment} model_inputs vs "
        f"{reference}, cron '{entry.monitor_cron}' (UTC), threshold {entry.drift_threshold}")
    client.schedules.begin_create_or_update(schedule).result(
        progress=f"monitor schedule {schedule.name}")
    _, summary = drift.report_paths(reports, entry.model, env)
    record = MonitorRecord(
        model=entry.model, env=env, target=workspace.target, endpoint=endpoint,
        threshold=entry.drift_threshold, drifted_columns=(), reference=reference,
        reference_rows=len(features), created=drift.now(),
        detail=(f"{entry.model}: Azure ML monitors {endpoint}/{deployment} "
                f"({schedule.name}, '{entry.monitor_cron}' UTC); drift alerts come from Azure ML "
                f"(studio: Monitoring)"))
    drift.write_record(record, summary)
    return record
