"""Azure endpoints from the model's configs: the entities sent to the (faked) MLClient, the
blue/green order, invoke, listing, undeploy and approval."""

from __future__ import annotations

import dataclasses
import sys
from datetime import UTC, datetime
from pathlib import Path
from unittest.mock import MagicMock

import pytest
from azure.ai.ml.entities import (
    BatchEndpoint,
    ManagedOnlineDeployment,
    ManagedOnlineEndpoint,
    Model,
    ModelBatchDeployment,
)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError

from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.platform.azure import approval, endpoints
from mlops.platform.azure import client as azure_client
from mlops.registry_names import CHAMPION_TAG

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import (  # noqa: E402
    FIXTURE_MODEL,
    FakeMLClient,
    azure_workspace,
    fixture_entry,
    job,
    not_found,
)

NAMES = RunNames(experiment_name="e", display_name="d", model_name="nyc_taxi_model_dev_develop",
                 branch="develop", build_id="4711")
ARM = ("/subscriptions/s/resourceGroups/rg/providers/Microsoft.MachineLearningServices/"
       "workspaces/w/models/nyc_taxi_model_dev_develop/versions/{}")


def assert_staged(code: str, kind: str) -> None:
    """The uploaded folder: the factory's scoring script for <kind> (the fixture model is a
    plugin without serving files of its own) plus the shared validator."""
    staged = Path(code)
    assert not (FIXTURE_MODEL / "serving").exists()
    assert staged.parent.parent.name == "serving-code" and staged.name == kind
    serving = Path(endpoints.__file__).parents[2] / "serving"
    factory = serving / "scripts" / f"{kind}_score.py"
    assert (staged / "score.py").read_bytes() == factory.read_bytes()
    shared = serving / "signature_input.py"
    assert (staged / "signature_input.py").read_bytes() == shared.read_bytes()


@pytest.fixture(autouse=True)
def factory_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_ROOT", str(tmp_path / "root"))


@pytest.fixture
def entry(tmp_path):
    folder = tmp_path / "data" / "batch_test_data"
    folder.mkdir(parents=True)
    (folder / "rows.csv").write_text("a\n1\n2\n")
    sample = tmp_path / "sample-request.json"  # one row: the fake endpoint answers one value
    sample.write_text('{"input_data": [{"VendorID": 2, "passenger_count": 1, '
                      '"trip_distance": 1.5}]}')
    entry = fixture_entry("dev", tmp_path / "data")
    return dataclasses.replace(entry, realtime=dataclasses.replace(entry.realtime,
                                                                   test_request_path=sample))


@pytest.fixture
def fake(monkeypatch) -> FakeMLClient:
    fake = FakeMLClient()
    monkeypatch.setattr(azure_client, "_ml_client", lambda workspace: fake)
    fake.models.list.return_value = [
        Model(name=NAMES.model_name, version="3", tags={CHAMPION_TAG: "true"}),
        Model(name=NAMES.model_name, version="5", tags={CHAMPION_TAG: "true"}),
        Model(name=NAMES.model_name, version="6", tags={}),  # registered by hand, not champion
    ]
    fake.online_endpoints.invoke.return_value = '{"predictions": [12.5]}'  # sample: one row
    return fake


def _live(fake: FakeMLClient, name: str = "blue") -> None:
    def endpoint(name_, **_):
        return ManagedOnlineEndpoint(name=name_, auth_mode="key", traffic={name: 100},
                                     scoring_uri=f"https://{name_}.westeurope.inference.ml/score",
                                     provisioning_state="Succeeded")

    fake.online_endpoints.get.side_effect = endpoint
    fake.online_deployments.list.return_value = [ManagedOnlineDeployment(name=name)]
    fake.batch_endpoints.get.side_effect = lambda name_: BatchEndpoint(name=name_)


def test_online_deployment_carries_the_realtime_config(entry):
    model = Model(name="m", version="5")
    deployment = endpoints.online_deployment(entry, "green", model, "azureml:env:1")

    realtime = entry.realtime
    assert deployment.name == "green" and deployment.endpoint_name == "nyc-taxi-online"
    assert deployment.model == "azureml:m:5" and deployment.environment == "azureml:env:1"
    assert deployment.instance_type == realtime.deployment_vm_size == "Standard_DS3_v2"
    assert deployment.instance_count == realtime.deployment_instance_count == 1
    assert deployment.environment_variables == {
        "WORKER_COUNT": "1", "FACTORY_COLLECT_BACKEND": "azureml",
        "FACTORY_COLLECT_ENDPOINT": "nyc-taxi-online", "FACTORY_COLLECT_DEPLOYMENT": "green",
        "FACTORY_COLLECT_MODEL_VERSION": "5", "FACTORY_COLLECT_SAMPLING_RATE": "1.0"}
    assert_staged(deployment.code_configuration.code, "online")
    assert deployment.code_configuration.scoring_script == "score.py"


def test_online_deployment_collects_model_inputs_and_outputs(entry):
    """Azure ML registers custom-logged collections as data assets that model monitoring
    recognises only under the names model_inputs and model_outputs; sampling_rate is the share
    of requests kept and rolling_rate the blob path's period (how-to-collect-production-data,
    "Update your deployment YAML"). The score script's Collector objects carry the same names
    (mlops/serving/collector.py), or Azure drops what they log."""
    entry = dataclasses.replace(entry, realtime=dataclasses.replace(
        entry.realtime, collection_sampling_rate=0.25))
    deployment = endpoints.online_deployment(entry, "blue", Model(name="m", version="5"),
                                             "azureml:env:1")
    collector = deployment.data_collector
    assert sorted(collector.collections) == ["model_inputs", "model_outputs"]
    assert all(c.enabled == "true" for c in collector.collections.values())
    assert collector.sampling_rate == 0.25 and collector.rolling_rate == "Hour"
    # what the REST API receives (the SDK's own serialisation): the rate goes on each collection
    sent = deployment._to_rest_object(location="westeurope").properties.data_collector.as_dict()
    assert sent == {"collections": {name: {"dataCollectionMode": "enabled", "samplingRate": 0.25}
                                    for name in ("model_inputs", "model_outputs")},
                    "rollingRate": "Hour"}
    # the factory's collector must not sample again: Azure samples
    assert deployment.environment_variables["FACTORY_COLLECT_SAMPLING_RATE"] == "1.0"


def test_batch_deployment_carries_the_batch_config(entry):
    deployment = endpoints.batch_deployment(entry, Model(name="m", version="5"), "azureml:env:1")

    batch, settings = entry.batch, deployment.settings
    assert isinstance(deployment, ModelBatchDeployment)
    assert deployment.name == "nyc-taxi-batch-dep" and deployment.compute == "batch-cluster"
    assert settings.mini_batch_size == batch.mini_batch_size == 2
    assert settings.max_concurrency_per_instance == 2 and settings.instance_count == 1
    assert settings.output_action == "append_row"
    assert settings.output_file_name == "predictions.csv"
    assert (settings.retry_settings.max_retries, settings.retry_settings.timeout) == (2, 60)
    assert_staged(deployment.code_configuration.code, "batch")
    rest = deployment._to_rest_object(location="westeurope").properties  # the request body
    assert rest.resources.instance_count == 1
    assert rest.output_action == "AppendRow" and rest.mini_batch_size == 2
    assert rest.retry_settings.max_retries == 2 and rest.compute == "batch-cluster"


@pytest.mark.parametrize("kind", ["online", "batch"])
def test_a_model_without_serving_files_uploads_the_factory_script(entry, tmp_path, kind):
    plain = dataclasses.replace(entry, model_dir=tmp_path / "plugin-model")
    make = endpoints.online_deployment if kind == "online" else (
        lambda e, _, m, env: endpoints.batch_deployment(e, m, env))
    deployment = make(plain, "blue", Model(name="m", version="1"), "e")
    staged = Path(deployment.code_configuration.code)
    assert deployment.code_configuration.scoring_script == "score.py"
    factory = Path(endpoints.__file__).parents[2] / "serving" / "scripts" / f"{kind}_score.py"
    assert (staged / "score.py").read_bytes() == factory.read_bytes()
    assert {"signature_input.py", "served_model.py"} <= {p.name for p in staged.iterdir()}


@pytest.mark.parametrize(("traffic", "existing", "expected"), [
    ({}, [], "blue"),
    ({"blue": 100}, ["blue"], "green"),
    ({"green": 100}, ["green"], "blue"),
    ({"blue": 100}, ["blue", "green"], "green"),  # idle leftover green is replaced
    ({"green": 100, "blue": 0}, ["blue", "green"], "blue"),
])
def test_the_new_deployment_never_takes_the_live_name(traffic, existing, expected):
    assert endpoints.next_deployment_name("blue", traffic, existing) == expected


def test_blue_green_order_create_smoke_test_shift_traffic_then_delete_old(entry, fake):
    _live(fake, "blue")

    infos = endpoints.deploy(azure_workspace(), entry, NAMES)

    calls = fake.calls()
    created = fake.online_deployments.begin_create_or_update.call_args.args[0]
    assert created.name == "green" and created.model == f"azureml:{NAMES.model_name}:5"
    smoke = fake.online_endpoints.invoke.call_args
    assert smoke.kwargs["deployment_name"] == "green"
    assert Path(smoke.kwargs["request_file"]) == entry.realtime.test_request_path
    traffic = fake.online_endpoints.begin_create_or_update.call_args.args[0]
    assert traffic.traffic == {"green": 100, "blue": 0}
    fake.online_deployments.begin_delete.assert_called_once_with(name="blue",
                                                                 endpoint_name="nyc-taxi-online")
    order = [calls.index(c) for c in ("online_deployments.begin_create_or_update",
                                      "online_endpoints.invoke",
                                      "online_endpoints.begin_create_or_update",
                                      "online_deployments.begin_delete")]
    assert order == sorted(order)
    online, batch = infos
    assert (online.kind, online.model_version, online.extra["deployment"]) == ("online", "5",
                                                                               "green")
    assert (online.model, online.extra["model_name"]) == ("nyc_taxi", NAMES.model_name)
    assert online.scoring_uri.startswith("https://nyc-taxi-online")
    assert (batch.kind, batch.name) == ("batch", "nyc-taxi-batch")


def test_first_deploy_creates_key_auth_endpoint_and_batch_default(entry, fake):
    fake.online_endpoints.get.side_effect = [
        ResourceNotFoundError("no endpoint"), ManagedOnlineEndpoint(name="nyc-taxi-online",
                                                                    traffic={})]
    fake.online_deployments.list.return_value = []
    fake.batch_endpoints.get.side_effect = [ResourceNotFoundError("no endpoint"),
                                            BatchEndpoint(name="nyc-taxi-batch")]

    endpoints.deploy(azure_workspace(), entry, NAMES)

    sent = [c.args[0] for c in fake.online_endpoints.begin_create_or_update.call_args_list]
    assert isinstance(sent[0], ManagedOnlineEndpoint) and sent[0].auth_mode == "key"
    assert sent[-1].traffic == {"blue": 100}
    fake.online_deployments.begin_delete.assert_not_called()
    batch_sent = [c.args[0] for c in fake.batch_endpoints.begin_create_or_update.call_args_list]
    assert isinstance(batch_sent[0], BatchEndpoint) and batch_sent[0].name == "nyc-taxi-batch"
    assert batch_sent[-1].defaults == {"deployment_name": "nyc-taxi-batch-dep"}
    calls = fake.calls()
    assert calls.index("batch_deployments.begin_create_or_update") < \
        len(calls) - 1 - calls[::-1].index("batch_endpoints.begin_create_or_update")


def test_failed_smoke_test_removes_the_new_deployment_and_keeps_the_live_one(entry, fake):
    _live(fake, "blue")
    error = HttpResponseError(message="scoring failed")
    error.status_code = 502
    fake.online_endpoints.invoke.side_effect = error

    with pytest.raises(FactoryError, match="green failed before taking traffic.*HTTP 502"):
        endpoints.deploy(azure_workspace(), entry, NAMES)

    fake.online_deployments.begin_delete.assert_called_once_with(name="green",
                                                                 endpoint_name="nyc-taxi-online")
    fake.online_endpoints.begin_create_or_update.assert_not_called()  # traffic untouched
    fake.batch_deployments.begin_create_or_update.assert_not_called()


def test_an_error_answer_fails_the_smoke_test(entry, fake):
    _live(fake, "blue")
    fake.online_endpoints.invoke.return_value = '{"message": "missing field trip_distance"}'
    with pytest.raises(FactoryError, match="no 'predictions' list.*missing field"):
        endpoints.deploy(azure_workspace(), entry, NAMES)
    fake.online_endpoints.invoke.return_value = '{"predictions": [1.0, 2.0]}'
    with pytest.raises(FactoryError, match="sent 1 rows .* got 2 predictions"):
        endpoints.deploy(azure_workspace(), entry, NAMES)
    fake.online_endpoints.begin_create_or_update.assert_not_called()


def test_no_model_version_means_nothing_to_deploy(entry, fake):
    fake.models.list.return_value = []
    with pytest.raises(FactoryError, match="has no registered version"):
        endpoints.deploy(azure_workspace(), entry, NAMES)


def test_invoke_sends_the_sample_request_and_scores_the_batch_test_data(entry, fake):
    _live(fake, "green")
    fake.online_deployments.get.return_value = ManagedOnlineDeployment(name="green",
                                                                       model=ARM.format(5))
    fake.batch_endpoints.invoke.return_value = job("batchjob_1", "Running")
    statuses = iter(["Running", "Completed"])
    fake.jobs.get.side_effect = lambda name: job(name, next(statuses))
    def download(name, *, output_name, download_path, **_):
        # azure-ai-ml puts a batch job's scoring output straight into download_path.
        Path(download_path).mkdir(parents=True)
        (Path(download_path) / "predictions.csv").write_text("f,1\nf,2\n")

    fake.jobs.download.side_effect = download

    result = endpoints.invoke(azure_workspace(), entry, interval=0, timeout=60,
                              sleep=lambda s: None)

    assert result["online"]["predictions"] == [12.5]
    assert result["online"]["model_version"] == "5"
    assert result["online"]["scoring_uri"].startswith("https://nyc-taxi-online")
    assert fake.online_endpoints.invoke.call_args.kwargs["endpoint_name"] == "nyc-taxi-online"
    batch_input = fake.batch_endpoints.invoke.call_args.kwargs["inputs"]["input"]
    assert batch_input.type == "uri_folder"
    assert batch_input.path.startswith("azureml:nyc_taxi_batch_test:")
    assert result["batch"]["rows"] == 2 and result["batch"]["status"] == "completed"
    assert result["batch"]["files"] == 1 and result["batch"]["endpoint"] == "nyc-taxi-batch"
    assert result["batch"]["output"].endswith("batchjob_1/predictions.csv")
    fake.jobs.download.assert_called_once()
    assert fake.jobs.download.call_args.kwargs["output_name"] == "score"


def test_a_failed_batch_job_fails_invoke(entry, fake):
    _live(fake, "blue")
    fake.batch_endpoints.invoke.return_value = job("batchjob_1", "Running")
    fake.jobs.get.side_effect = lambda name: job(name, "Failed")
    with pytest.raises(FactoryError, match="batchjob_1 on nyc-taxi-batch ended failed"):
        endpoints.invoke(azure_workspace(), entry, interval=0, timeout=60, sleep=lambda s: None)


def test_list_endpoints_reads_models_and_shows_keys_only_when_asked(fake):
    fake.online_endpoints.list.return_value = [ManagedOnlineEndpoint(
        name="nyc-taxi-online", traffic={"green": 100, "blue": 0}, tags={"model": "nyc_taxi"},
        scoring_uri="https://x/score", provisioning_state="Succeeded")]
    fake.online_deployments.get.return_value = ManagedOnlineDeployment(name="green",
                                                                       model=ARM.format(5))
    fake.batch_endpoints.list.return_value = [BatchEndpoint(
        name="nyc-taxi-batch", defaults={"deployment_name": "dep"}, scoring_uri="https://b")]
    fake.batch_deployments.get.return_value = ModelBatchDeployment(
        name="dep", model=f"azureml:{NAMES.model_name}:4")
    fake.online_endpoints.get_keys.return_value.primary_key = "secret-key"

    hidden = endpoints.list_endpoints(azure_workspace())
    fake.online_endpoints.get_keys.assert_not_called()
    shown = endpoints.list_endpoints(azure_workspace(), show_keys=True)

    online, batch = hidden
    assert (online.kind, online.model, online.model_version, online.key) == (
        "online", "nyc_taxi", "5", None)  # the factory model, from the endpoint's tag
    assert online.extra["model_name"] == NAMES.model_name
    fake.online_deployments.get.assert_called_with(name="green", endpoint_name="nyc-taxi-online")
    assert (batch.kind, batch.model_version, batch.scoring_uri) == ("batch", "4", "https://b")
    assert batch.model == NAMES.model_name  # untagged endpoint: the registered name
    assert shown[0].key == "secret-key" and shown[1].key is None


def test_undeploy_deletes_both_endpoints_and_skips_missing_ones(entry, fake):
    fake.batch_endpoints.begin_delete.side_effect = not_found

    removed = endpoints.undeploy(azure_workspace(), entry)

    assert removed == ["online endpoint nyc-taxi-online"]
    fake.online_endpoints.begin_delete.assert_called_once_with(name="nyc-taxi-online")
    fake.batch_endpoints.begin_delete.assert_called_once_with(name="nyc-taxi-batch")


def test_approve_tags_the_champion_version_for_production(entry, fake):
    now = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    fake.models.get.side_effect = lambda name, version: Model(
        name=name, version=version, path=f"azureml://models/{name}/{version}",
        tags={CHAMPION_TAG: "true"})

    result = approval.approve(azure_workspace(), entry, NAMES, "alice", now=now)

    fake.models.get.assert_called_once_with(name=NAMES.model_name, version="5")
    sent = fake.models.create_or_update.call_args.args[0]
    assert (sent.name, sent.version) == (NAMES.model_name, "5")  # newest champion, not 6
    assert sent.path == f"azureml://models/{NAMES.model_name}/5"
    assert sent.tags == {CHAMPION_TAG: "true", "stage": "production", "approved_by": "alice",
                         "approved_build": "4711", "approved_at": "2026-01-02T03:04:05+00:00"}
    assert result == {"model": NAMES.model_name, "version": "5", "stage": "production",
                      "approved_by": "alice", "approved_build": "4711",
                      "approved_at": "2026-01-02T03:04:05+00:00"}


def test_the_champion_is_the_tag_the_register_step_sets_never_an_untagged_version(entry, fake):
    """The steps mark the champion with CHAMPION_TAG (Azure ML has no aliases); versions
    registered by hand, or under the seed's old "champion" tag, are not champions."""
    fake.models.list.return_value = [Model(name="m", version=v, tags={"champion": "true"})
                                     for v in ("2", "10", "9")]
    with pytest.raises(FactoryError, match=rf"has no champion .*3 version\(s\) carry no "
                                           rf"{CHAMPION_TAG}=true tag"):
        approval.approve(azure_workspace(), entry, NAMES, "bob")
    fake.models.list.return_value = []
    with pytest.raises(FactoryError, match="has no champion .*no registered version"):
        endpoints.deploy(azure_workspace(), entry, NAMES)
    fake.models.create_or_update.assert_not_called()


def test_approve_takes_the_version_the_gate_published_not_a_newer_champion(entry, fake):
    fake.models.get.side_effect = lambda name, version: Model(name=name, version=version,
                                                              tags={})
    result = approval.approve(azure_workspace(), entry, NAMES, "alice", "3")
    fake.models.get.assert_called_once_with(name=NAMES.model_name, version="3")
    assert fake.models.create_or_update.call_args.args[0].version == "3"  # not champion 5
    assert result["version"] == "3"
    fake.models.get.side_effect = ResourceNotFoundError("no such version")
    with pytest.raises(FactoryError, match="has no version 9 in workspace mlw-mlops-mf-001"):
        approval.approve(azure_workspace(), entry, NAMES, "alice", "9")


def test_a_batch_cluster_that_was_not_provisioned_fails_before_any_call(entry, fake):
    workspace = azure_workspace()
    other = dataclasses.replace(workspace, batch_compute=dataclasses.replace(
        workspace.batch_compute, name="gpu-batch"))
    with pytest.raises(FactoryError, match=r"batch_config\.json: BATCH_CLUSTER_NAME "
                                           r"'batch-cluster' is not the provisioned"):
        endpoints.deploy(other, entry, NAMES)
    assert fake.calls() == []


def test_a_deployment_that_fails_to_provision_is_removed_and_live_one_kept(entry, fake):
    _live(fake, "blue")
    failing = MagicMock()
    failing.done.return_value = True
    failing.result.side_effect = HttpResponseError(message="ResourceNotReady: image build failed")
    fake.online_deployments.begin_create_or_update.side_effect = None
    fake.online_deployments.begin_create_or_update.return_value = failing

    with pytest.raises(FactoryError, match="green failed before taking traffic.*image build"):
        endpoints.deploy(azure_workspace(), entry, NAMES)

    fake.online_endpoints.invoke.assert_not_called()
    fake.online_deployments.begin_delete.assert_called_once_with(name="green",
                                                                 endpoint_name="nyc-taxi-online")
    fake.online_endpoints.begin_create_or_update.assert_not_called()


# -- IS_ONLINE_DEPLOYMENT / IS_BATCH_DEPLOYMENT ---------------------------------------------
def _only(entry, kind: str):
    return dataclasses.replace(entry, is_online_deployment=kind == "online",
                               is_batch_deployment=kind == "batch")


def _created(fake: FakeMLClient) -> set[str]:
    return {name.split(".")[0] for name in fake.calls() if name.endswith("begin_create_or_update")}


def test_a_batch_only_model_creates_no_online_endpoint_or_deployment(entry, fake):
    fake.online_endpoints.get.side_effect = not_found  # never served online
    fake.batch_endpoints.get.side_effect = lambda name_: BatchEndpoint(name=name_)

    infos = endpoints.deploy(azure_workspace(), _only(entry, "batch"), NAMES)

    assert [(i.kind, i.name, i.model_version) for i in infos] == [("batch", "nyc-taxi-batch", "5")]
    assert _created(fake) == {"batch_endpoints", "batch_deployments"}
    assert not any(c.startswith("online_") and c != "online_endpoints.get" for c in fake.calls())
    fake.online_endpoints.begin_delete.assert_not_called()  # nothing of the factory to remove


def test_an_online_only_model_creates_no_batch_endpoint_or_deployment(entry, fake):
    _live(fake, "blue")
    fake.batch_endpoints.get.side_effect = not_found
    workspace = azure_workspace()  # the batch cluster does not matter to a model not in batch
    workspace = dataclasses.replace(workspace, batch_compute=dataclasses.replace(
        workspace.batch_compute, name="gpu-batch"))

    infos = endpoints.deploy(workspace, _only(entry, "online"), NAMES)

    assert [(i.kind, i.extra["deployment"]) for i in infos] == [("online", "green")]
    assert _created(fake) == {"online_endpoints", "online_deployments"}
    assert not any(c.startswith("batch_") and c != "batch_endpoints.get" for c in fake.calls())


def test_deploy_removes_the_factorys_endpoint_of_a_kind_turned_off(entry, fake):
    """A model whose online serving was turned off keeps no online endpoint serving an old
    version: deploy deletes the one the factory created for it (tagged with the model at
    creation, as _online_endpoint does), and leaves an endpoint it did not create alone.
    Deleting an endpoint deletes its deployments (undeploy relies on the same)."""
    fake.online_endpoints.get.side_effect = lambda name_: ManagedOnlineEndpoint(
        name=name_, auth_mode="key", tags={"model": "nyc_taxi"}, traffic={"blue": 100})
    fake.batch_endpoints.get.side_effect = lambda name_: BatchEndpoint(name=name_)

    endpoints.deploy(azure_workspace(), _only(entry, "batch"), NAMES)

    fake.online_endpoints.begin_delete.assert_called_once_with(name="nyc-taxi-online")
    calls = fake.calls()
    assert calls.index("online_endpoints.begin_delete") > calls.index(
        "batch_deployments.begin_create_or_update")  # the new batch version first

    fake.online_endpoints.begin_delete.reset_mock()
    fake.online_endpoints.get.side_effect = lambda name_: ManagedOnlineEndpoint(
        name=name_, auth_mode="key", tags={"model": "someone_else"})
    endpoints.deploy(azure_workspace(), _only(entry, "batch"), NAMES)
    fake.online_endpoints.begin_delete.assert_not_called()


def test_a_model_served_nowhere_deploys_and_invokes_nothing(entry, fake):
    entry = dataclasses.replace(entry, is_online_deployment=False, is_batch_deployment=False)
    fake.online_endpoints.get.side_effect = not_found
    fake.batch_endpoints.get.side_effect = lambda name_: BatchEndpoint(
        name=name_, tags={"model": "nyc_taxi"})

    assert endpoints.deploy(azure_workspace(), entry, NAMES) == []
    assert endpoints.invoke(azure_workspace(), entry, interval=0, timeout=1,
                            sleep=lambda s: None) == {}

    fake.models.list.assert_not_called()  # no champion lookup, no environment, no deployment
    assert _created(fake) == set()
    fake.batch_endpoints.begin_delete.assert_called_once_with(name="nyc-taxi-batch")
    fake.online_endpoints.invoke.assert_not_called()
    fake.batch_endpoints.invoke.assert_not_called()


def test_invoke_smoke_tests_only_the_kinds_the_model_is_served_on(entry, fake):
    _live(fake, "blue")
    fake.online_deployments.get.return_value = ManagedOnlineDeployment(name="blue",
                                                                       model=ARM.format(5))
    result = endpoints.invoke(azure_workspace(), _only(entry, "online"), interval=0,
                              timeout=60, sleep=lambda s: None)
    assert list(result) == ["online"] and result["online"]["predictions"] == [12.5]
    fake.batch_endpoints.invoke.assert_not_called()

    fake.batch_endpoints.invoke.return_value = job("batchjob_2", "Running")
    fake.jobs.get.side_effect = lambda name: job(name, "Completed")
    fake.jobs.download.side_effect = lambda name, *, output_name, download_path, **_: (
        Path(download_path).mkdir(parents=True),
        (Path(download_path) / "predictions.csv").write_text("f,1\n"))
    fake.online_endpoints.invoke.reset_mock()
    result = endpoints.invoke(azure_workspace(), _only(entry, "batch"), interval=0,
                              timeout=60, sleep=lambda s: None)
    assert list(result) == ["batch"] and result["batch"]["rows"] == 1
    fake.online_endpoints.invoke.assert_not_called()
