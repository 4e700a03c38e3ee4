"""Azure ML model monitoring at the SDK boundary: what `nox -s monitor -- --target azure` sends
(a content-versioned mltable reference, a MonitorSchedule with a data drift signal on the live
deployment's collected model inputs), checked against what Azure ML documents it expects."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest
import yaml
from azure.ai.ml.entities import Data, MonitorSchedule

from mlops.errors import FactoryError
from mlops.monitoring import drift
from mlops.platform.azure import client as azure_client
from mlops.platform.azure import monitoring
from mlops.records import MonitorRecord
from mlops.testkit.kit import ModelKit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import FIXTURE_MODEL, FakeMLClient, azure_workspace, fixture_entry, not_found  # noqa: E402

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("azure-monitor-data")
    kit = ModelKit.staged(FIXTURE_MODEL, root / "stage")
    kit.generate(root / "training_data", "training_data", rows=600)
    return root


@pytest.fixture
def fake(monkeypatch) -> FakeMLClient:
    fake = FakeMLClient()
    monkeypatch.setattr(azure_client, "_ml_client", lambda workspace: fake)
    fake.online_endpoints.get.side_effect = lambda name: SimpleNamespace(
        name=name, traffic={"blue": 0, "green": 100})
    fake.data.get.side_effect = not_found
    return fake


def _sent_schedule(fake: FakeMLClient) -> MonitorSchedule:
    (call,) = fake.schedules.begin_create_or_update.call_args_list
    return call.args[0]


def test_monitor_registers_the_reference_and_schedules_drift_on_the_live_deployment(
        fake, data_root, tmp_path):
    entry = fixture_entry("dev", data_root)
    record = monitoring.monitor(azure_workspace(), entry, SimpleNamespace(), tmp_path, "dev")

    # the reference: an mltable (model monitoring reads only mltable baselines:
    # how-to-monitor-model-performance, reference_data input_data type mltable), versioned by
    # its content, holding the model's features as the local monitor computes them
    (data_call,) = fake.data.create_or_update.call_args_list
    asset: Data = data_call.args[0]
    assert asset.type == "mltable" and asset.name == "nyc-taxi-training-monitor-reference"
    folder = Path(asset.path)
    spec = yaml.safe_load((folder / "MLTable").read_text())
    assert spec["paths"] == [{"file": "./reference.csv"}]
    assert spec["transformations"][0]["read_delimited"]["header"] == "all_files_same_headers"
    header = (folder / "reference.csv").read_text().splitlines()[0].split(",")
    features = list(ModelKit.staged(FIXTURE_MODEL, tmp_path / "s").plugin.features)
    assert header[:len(features)] == features

    schedule = _sent_schedule(fake)
    assert schedule.name == "nyc-taxi-drift-monitor"
    assert schedule.trigger.expression == entry.monitor_cron
    definition = schedule.create_monitor
    # monitoring runs on serverless Spark only
    assert definition.compute.runtime_version == monitoring.SPARK_RUNTIME
    assert definition.compute.instance_type == monitoring.SPARK_INSTANCE_TYPE
    # the deployment taking the traffic, not the idle one
    assert definition.monitoring_target.endpoint_deployment_id == "azureml:nyc-taxi-online:green"
    assert definition.monitoring_target.ml_task == "regression"
    signal = definition.monitoring_signals["data_drift"]
    # production data: the asset Azure ML registers for the deployment's model_inputs
    # collection (how-to-collect-production-data: <endpoint>-<deployment>-<collection>)
    assert signal.production_data.input_data.path == \
        "azureml:nyc-taxi-online-green-model_inputs@latest"
    assert signal.production_data.input_data.type == "uri_folder"
    assert signal.production_data.data_context == "model_inputs"
    assert signal.reference_data.input_data.path == f"azureml:{asset.name}:{asset.version}"
    assert signal.reference_data.data_context == "training"
    # the same columns, types and threshold the local monitor uses
    assert signal.features == features
    local_kinds = drift.kinds(pd.read_csv(folder / "reference.csv"), features)
    assert {c: k.lower() for c, k in signal.feature_type_override.items()} == local_kinds
    thresholds = signal.metric_thresholds
    assert thresholds.numerical.normalized_wasserstein_distance == entry.drift_threshold
    assert thresholds.categorical.jensen_shannon_distance == entry.drift_threshold

    # what the REST API receives (the SDK's own serialisation, the service's field names)
    rest = schedule._to_rest_object().as_dict()["properties"]
    monitor = rest["action"]["monitorDefinition"]
    assert monitor["computeConfiguration"]["computeType"] == "ServerlessSpark"
    assert monitor["monitoringTarget"] == {"taskType": "regression",
                                           "deploymentId": "azureml:nyc-taxi-online:green"}
    rest_signal = monitor["signals"]["data_drift"]
    assert rest_signal["productionData"]["jobInputType"] == "uri_folder"
    assert rest_signal["referenceData"]["jobInputType"] == "mltable"
    metrics = {(m["dataType"], m["metric"]): m["threshold"]["value"]
               for m in rest_signal["metricThresholds"]}
    assert metrics == {("Numerical", "normalizedWassersteinDistance"): entry.drift_threshold,
                       ("Categorical", "jensenShannonDistance"): entry.drift_threshold}
    # the override's values are the REST enum MonitoringFeatureDataType's, not the SDK's
    # lower-case ones (the SDK sends the dict as given)
    assert set(rest_signal["featureDataTypeOverride"].values()) <= {"Numerical", "Categorical"}
    assert rest_signal["featureDataTypeOverride"]["vendor"] == "Categorical"
    assert rest_signal["featureDataTypeOverride"]["distance"] == "Numerical"
    assert rest["trigger"]["expression"] == entry.monitor_cron

    stored = json.loads((tmp_path / "nyc_taxi_monitor_dev.json").read_text())
    assert MonitorRecord.from_dict(stored) == record
    assert record.target == "azure" and record.reference == signal.reference_data.input_data.path
    assert not record.drifted and "green" in record.detail


def test_an_unchanged_reference_is_not_uploaded_again(fake, data_root, tmp_path):
    fake.data.get.side_effect = lambda name, version: SimpleNamespace(name=name, version=version)
    monitoring.monitor(azure_workspace(), fixture_entry("dev", data_root), SimpleNamespace(),
                       tmp_path, "dev")
    fake.data.create_or_update.assert_not_called()
    assert fake.calls().index("data.get") < fake.calls().index("schedules.begin_create_or_update")


def test_an_endpoint_without_traffic_or_missing_is_named(fake, data_root, tmp_path):
    fake.online_endpoints.get.side_effect = lambda name: SimpleNamespace(name=name, traffic={})
    with pytest.raises(FactoryError, match="nyc-taxi-online has no deployment taking traffic"):
        monitoring.monitor(azure_workspace(), fixture_entry("dev", data_root),
                           SimpleNamespace(), tmp_path, "dev")
    fake.online_endpoints.get.side_effect = not_found
    with pytest.raises(FactoryError, match="nyc-taxi-online does not exist; run `nox -s deploy"):
        monitoring.monitor(azure_workspace(), fixture_entry("dev", data_root),
                           SimpleNamespace(), tmp_path, "dev")
    fake.schedules.begin_create_or_update.assert_not_called()
