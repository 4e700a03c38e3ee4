"""Azure ML endpoints from the model's realtime_config.json and batch_config.json.

Online: ManagedOnlineEndpoint (key auth) with blue/green ManagedOnlineDeployments: the new
deployment gets the name the live one does not have, starts at 0% traffic, must answer the sample
request (invoke with deployment_name), then takes 100% of the traffic, and only then is the old
one deleted. A failed smoke test deletes the new deployment and leaves the live one serving.
Batch: BatchEndpoint + ModelBatchDeployment (append_row output, retries) set as its default.
Only the kinds the model is served on (IS_ONLINE_DEPLOYMENT, IS_BATCH_DEPLOYMENT) are deployed
and invoked; deploy deletes the factory's endpoint of a kind turned off."""

from __future__ import annotations

import dataclasses
import json
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from mlops.azure_names import regional_endpoint_name
from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.paths import state_dir
from mlops.pipeline.hashing import tree_files
from mlops.platform.azure import _assets, data
from mlops.platform.azure.client import AzureClient, AzureMLError, AzureNotFound, connect, log
from mlops.records import EndpointInfo, Promotion, Workspace
from mlops.serving import code_folder
from mlops.serving.collector import COLLECTIONS, collector_environment

REGISTRY_MODEL_TAG = f"{Promotion.TAG_PREFIX}registry_model"
_ALTERNATE = {"blue": "green", "green": "blue"}
_MODEL_ID = re.compile(r"(?:/models/(?P<n1>[^/]+)/versions/(?P<v1>[^/]+)$)|"
                       r"(?:^azureml:(?P<n2>[^:/]+):(?P<v2>[^:/]+)$)")


def deployment_names(configured: str) -> tuple[str, str]:
    """The two names a blue/green pair alternates between (DEPLOYMENT_NAME first)."""
    return configured, _ALTERNATE.get(configured, f"{configured}-2"[:32])


def next_deployment_name(configured: str, traffic: dict[str, int], existing: list[str]) -> str:
    """The name for the new deployment: never the one serving traffic; a free name is preferred
    over a leftover idle deployment (which is then replaced)."""
    candidates = [n for n in deployment_names(configured) if not traffic.get(n)]
    if not candidates:  # both names serve traffic (split by hand): replace the configured one
        return configured
    free = [n for n in candidates if n not in existing]
    return (free or candidates)[0]


def _model_ref(model: Any) -> str:
    """What a deployment serves: a promoted version is served from the registry asset it was
    copied from (the workspace copy records it), any other from the workspace."""
    registry_model = (model.tags or {}).get(REGISTRY_MODEL_TAG)
    return registry_model or f"azureml:{model.name}:{model.version}"


def parse_model_id(model: Any) -> tuple[str, str | None]:
    """(name, version) from a deployment's model reference (ARM id or azureml:name:version)."""
    text = str(model or "")
    match = _MODEL_ID.search(text)
    if not match:
        return text, None
    return (match.group("n1") or match.group("n2"), match.group("v1") or match.group("v2"))


def _code(entry: ModelEnvConfig, kind: str) -> Any:
    """The staged code folder: the factory's scoring script for ``kind`` (or the model's own
    serving/<kind>/score.py) with the modules it imports."""
    from azure.ai.ml.entities import CodeConfiguration

    # staged under .factory: azure-ai-ml uploads it later, when the deployment is created
    staged = code_folder.stage(entry.model_dir / "serving" / kind, kind,
                               state_dir() / "serving-code" / entry.model / kind)
    return CodeConfiguration(code=str(staged), scoring_script=code_folder.SCRIPT_NAME)


def data_collector(entry: ModelEnvConfig) -> Any:
    """Azure ML's data collector for the score script's model_inputs and model_outputs
    (how-to-collect-production-data: with these two names Azure ML registers the collected
    data as assets model monitoring recognises), sampled at COLLECTION_SAMPLING_RATE, rolled
    hourly (the local collector's layout)."""
    from azure.ai.ml.entities import DataCollector, DeploymentCollection

    return DataCollector(collections={name: DeploymentCollection(enabled="true")
                                      for name in COLLECTIONS},
                         sampling_rate=entry.realtime.collection_sampling_rate,
                         rolling_rate="Hour")


def online_deployment(entry: ModelEnvConfig, name: str, model: Any, environment: str) -> Any:
    """The ManagedOnlineDeployment realtime_config.json describes (no network)."""
    from azure.ai.ml.entities import ManagedOnlineDeployment

    realtime = entry.realtime
    # the score script logs through azureml-ai-monitoring; Azure's collector samples, so the
    # factory's collector logs every request it is handed (rate 1.0)
    collect = collector_environment(backend="azureml", endpoint=realtime.endpoint_name,
                                    deployment=name, model_version=str(model.version),
                                    sampling_rate=1.0)
    return ManagedOnlineDeployment(
        name=name, endpoint_name=realtime.endpoint_name, model=_model_ref(model),
        environment=environment, code_configuration=_code(entry, "online"),
        instance_type=realtime.deployment_vm_size,
        instance_count=realtime.deployment_instance_count,
        environment_variables={**collect, **realtime.environment_variables},
        data_collector=data_collector(entry),
        tags={"model": entry.model, "model_version": str(model.version)})


def batch_deployment(entry: ModelEnvConfig, model: Any, environment: str) -> Any:
    """The ModelBatchDeployment batch_config.json describes (no network)."""
    from azure.ai.ml.constants import BatchDeploymentOutputAction
    from azure.ai.ml.entities import (
        BatchRetrySettings,
        ModelBatchDeployment,
        ModelBatchDeploymentSettings,
    )

    batch = entry.batch
    return ModelBatchDeployment(
        name=batch.deployment_name, endpoint_name=batch.endpoint_name, model=_model_ref(model),
        environment=environment, code_configuration=_code(entry, "batch"),
        compute=batch.batch_cluster_name,  # settings.instance_count becomes resources
        settings=ModelBatchDeploymentSettings(
            mini_batch_size=batch.mini_batch_size,
            instance_count=batch.cluster_instance_count,
            max_concurrency_per_instance=batch.max_concurrency_per_instance,
            output_action=BatchDeploymentOutputAction.APPEND_ROW,
            output_file_name=batch.output_file_name,
            retry_settings=BatchRetrySettings(max_retries=batch.max_retries,
                                              timeout=batch.retry_timeout),
            logging_level="info"),
        tags={"model": entry.model, "model_version": str(model.version)})


def _online_endpoint(client: AzureClient, entry: ModelEnvConfig) -> Any:
    from azure.ai.ml.entities import ManagedOnlineEndpoint

    name = entry.realtime.endpoint_name
    try:
        return client.online_endpoints.get(name)
    except AzureNotFound:
        log(f"  creating online endpoint {name}")
        endpoint = ManagedOnlineEndpoint(name=name, auth_mode="key", tags={"model": entry.model},
                                         description=f"{entry.model} real-time scoring")
        return client.online_endpoints.begin_create_or_update(endpoint).result(
            progress=f"online endpoint {name}")


def _batch_endpoint(client: AzureClient, entry: ModelEnvConfig) -> Any:
    from azure.ai.ml.entities import BatchEndpoint

    name = entry.batch.endpoint_name
    try:
        return client.batch_endpoints.get(name)
    except AzureNotFound:
        log(f"  creating batch endpoint {name}")
        endpoint = BatchEndpoint(name=name, tags={"model": entry.model},
                                 description=f"{entry.model} batch scoring")
        return client.batch_endpoints.begin_create_or_update(endpoint).result(
            progress=f"batch endpoint {name}")


def _expected_rows(sample: Path) -> int | None:
    try:
        return len(json.loads(sample.read_text(encoding="utf-8"))["input_data"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_predictions(answer: Any, sample: Path, what: str) -> list:
    """The predictions of an online endpoint's answer to the sample request: a JSON object with
    a 'predictions' list, one per row of the request's input_data."""
    try:
        value = json.loads(answer) if isinstance(answer, str | bytes) else answer
    except ValueError:
        raise FactoryError(f"{what}: the answer is not JSON: {str(answer)[:300]}") from None
    predictions = value.get("predictions") if isinstance(value, dict) else None
    if not isinstance(predictions, list):
        raise FactoryError(f"{what}: the answer has no 'predictions' list: {str(value)[:300]}")
    expected = _expected_rows(sample)
    if expected is not None and len(predictions) != expected:
        raise FactoryError(f"{what}: sent {expected} rows from {sample}, got "
                           f"{len(predictions)} predictions")
    return predictions


def _deploy_online(client: AzureClient, entry: ModelEnvConfig, model: Any,
                   environment: str) -> EndpointInfo:
    realtime = entry.realtime
    endpoint = _online_endpoint(client, entry)
    traffic = dict(endpoint.traffic or {})
    existing = [d.name for d in client.online_deployments.list(endpoint_name=endpoint.name)]
    new = next_deployment_name(realtime.deployment_name, traffic, existing)
    live = [name for name in existing if name != new]
    log(f"  online {endpoint.name}: deploying {model.name}:{model.version} as {new} "
        f"(live: {', '.join(live) or 'none'}), 0% traffic until its smoke test passes")
    deployment = online_deployment(entry, new, model, environment)
    try:
        client.online_deployments.begin_create_or_update(deployment).result(
            progress=f"online deployment {new}")
        answer = client.online_endpoints.invoke(
            endpoint_name=endpoint.name, deployment_name=new,
            request_file=str(realtime.test_request_path))
        check_predictions(answer, realtime.test_request_path,
                          f"smoke test of {endpoint.name}/{new}")
    except (AzureMLError, FactoryError) as exc:
        log(f"  deployment {new} failed; deleting it, {', '.join(live) or 'nothing'} "
            "keeps the traffic")
        try:
            client.online_deployments.begin_delete(name=new,
                                                   endpoint_name=endpoint.name).result()
        except AzureMLError as cleanup:
            log(f"  could not delete {new}: {cleanup}")
        raise FactoryError(f"{entry.model}: new online deployment {new} failed before taking "
                           f"traffic (smoke test with {realtime.test_request_path}): {exc}"
                           ) from exc
    log(f"  smoke test of {new} passed; moving 100% of the traffic to it")
    endpoint = client.online_endpoints.get(endpoint.name)
    endpoint.traffic = {new: 100, **{name: 0 for name in live}}
    endpoint = client.online_endpoints.begin_create_or_update(endpoint).result(
        progress=f"traffic of {endpoint.name}")
    for old in live:
        log(f"  deleting old deployment {old}")
        client.online_deployments.begin_delete(name=old, endpoint_name=endpoint.name).result(
            progress=f"deleting {old}")
    return EndpointInfo(name=endpoint.name, kind="online", model=entry.model,
                        model_version=str(model.version),
                        scoring_uri=endpoint.scoring_uri or "",
                        status=str(endpoint.provisioning_state or "unknown"),
                        extra={"deployment": new, "replaced": live, "model_name": model.name})


def _deploy_batch(client: AzureClient, entry: ModelEnvConfig, model: Any,
                  environment: str) -> EndpointInfo:
    batch = entry.batch
    _batch_endpoint(client, entry)
    log(f"  batch {batch.endpoint_name}: deploying {model.name}:{model.version} as "
        f"{batch.deployment_name} on {batch.batch_cluster_name}")
    client.batch_deployments.begin_create_or_update(
        batch_deployment(entry, model, environment)).result(
        progress=f"batch deployment {batch.deployment_name}")
    endpoint = client.batch_endpoints.get(batch.endpoint_name)
    endpoint.defaults = {"deployment_name": batch.deployment_name}
    endpoint = client.batch_endpoints.begin_create_or_update(endpoint).result(
        progress=f"default deployment of {batch.endpoint_name}")
    return EndpointInfo(name=endpoint.name, kind="batch", model=entry.model,
                        model_version=str(model.version),
                        scoring_uri=endpoint.scoring_uri or "",
                        status=str(endpoint.provisioning_state or "unknown"),
                        extra={"deployment": batch.deployment_name, "model_name": model.name})


def regional_entry(workspace: Workspace, entry: ModelEnvConfig) -> ModelEnvConfig:
    """``entry`` with its endpoint names made unique in their region (Azure wants endpoint names
    unique per region, across subscriptions): the configured name plus the workspace's
    suffix (mlops.azure_names.regional_endpoint_name)."""
    suffix = workspace.endpoint_suffix
    if not suffix:
        return entry
    return dataclasses.replace(
        entry,
        realtime=dataclasses.replace(entry.realtime, endpoint_name=regional_endpoint_name(
            entry.realtime.endpoint_name, suffix)),
        batch=dataclasses.replace(entry.batch, endpoint_name=regional_endpoint_name(
            entry.batch.endpoint_name, suffix)))


def deploy(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, *,
           client: AzureClient | None = None) -> list[EndpointInfo]:
    """Serve the champion version of MODEL_NAME on the endpoints the model is served on
    (IS_ONLINE_DEPLOYMENT: online, blue/green; IS_BATCH_DEPLOYMENT: batch); then delete this
    model's endpoint of a kind turned off, when the factory created it (its "model" tag)."""
    entry = regional_entry(workspace, entry)
    kinds = entry.endpoint_kinds
    if "batch" in kinds and entry.batch.batch_cluster_name != workspace.batch_compute.name:
        raise FactoryError(f"{entry.batch.file}: BATCH_CLUSTER_NAME "
                           f"{entry.batch.batch_cluster_name!r} is not the provisioned batch "
                           f"cluster {workspace.batch_compute.name!r} of {workspace.name}")
    client = client or connect(workspace)
    infos: list[EndpointInfo] = []
    if not kinds:
        log(f"{entry.not_served()}; nothing to deploy")
    else:
        model = _assets.champion(client, names.model_name)
        log(f"{entry.model}: deploying champion {model.name}:{model.version} to "
            f"{workspace.name} ({', '.join(kinds)})")
        environment = _assets.environment_ref(client, entry)
        deployers = {"online": _deploy_online, "batch": _deploy_batch}
        infos = [deployers[kind](client, entry, model, environment) for kind in kinds]
    _retire_turned_off(client, entry)
    return infos


def _endpoint_operations(client: AzureClient, entry: ModelEnvConfig) -> list[tuple[str, Any, str]]:
    """(kind, endpoint operations, endpoint name) of each endpoint the model may have."""
    return [("online", client.online_endpoints, entry.realtime.endpoint_name),
            ("batch", client.batch_endpoints, entry.batch.endpoint_name)]


def _retire_turned_off(client: AzureClient, entry: ModelEnvConfig) -> None:
    """Delete the model's endpoint of each kind it is no longer served on, if the factory created
    it for this model (tagged "model": entry.model at creation); any other is left alone."""
    for kind, operations, name in _endpoint_operations(client, entry):
        if kind in entry.endpoint_kinds:
            continue
        try:
            endpoint = operations.get(name)
        except AzureNotFound:
            continue
        if (endpoint.tags or {}).get("model") != entry.model:
            log(f"  {kind} endpoint {name}: left alone ({entry.not_served(kind)}, but the "
                f"factory did not create it for {entry.model})")
            continue
        operations.begin_delete(name=name).result(progress=f"deleting {kind} {name}")
        log(f"  removed {kind} endpoint {name}: {entry.not_served(kind)}")


def _invoke_batch(client: AzureClient, entry: ModelEnvConfig, *, interval: float,
                  timeout: float, sleep: Callable[[float], None]) -> dict[str, Any]:
    from azure.ai.ml import Input

    batch = entry.batch
    dataset = entry.data.by_purpose("batch_test_data")
    uri = data.resolve_asset(client, entry, "batch_test_data")
    files = (len(tree_files(data.local_folder(dataset))) if data.has_local_data(dataset)
             else None)
    log(f"  batch {batch.endpoint_name}: scoring {uri}")
    job_name: dict[str, str] = {}
    with _assets.cancel_on_interrupt(client, lambda: job_name.get("name")):
        job = client.batch_endpoints.invoke(
            endpoint_name=batch.endpoint_name,
            inputs={"input": Input(type="uri_folder", path=uri)})
        job_name["name"] = job.name
        final = _assets.wait_for_job(client, job.name, interval=interval, timeout=timeout,
                                     sleep=sleep)
    status = _assets.TERMINAL[final.status]
    if status != "completed":
        raise FactoryError(f"batch scoring job {job.name} on {batch.endpoint_name} ended "
                           f"{status}; see {final.studio_url or 'Azure ML studio'}")
    target = state_dir() / "azure" / "batch" / job.name
    # A batch job's scoring output ("score") is downloaded into the folder itself, with the
    # OUTPUT_FILE_NAME append_row wrote.
    client.jobs.download(name=job.name, output_name="score", download_path=str(target))
    found = sorted(target.rglob(batch.output_file_name))
    if not found:
        raise FactoryError(f"batch scoring job {job.name} wrote no {batch.output_file_name} "
                           f"(downloaded to {target})")
    output = found[0]
    rows = _count_rows(output)
    log(f"  batch {batch.endpoint_name}: {rows} rows in {output}")
    return {"endpoint": batch.endpoint_name, "input": uri, "job": job.name, "status": status,
            "output": str(output), "rows": rows, "files": files,
            "studio_url": final.studio_url or ""}


def _count_rows(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return sum(1 for line in handle if line.strip())


def deployed_model(deployment: Any) -> tuple[str, str | None]:
    """(model name, workspace version) a deployment serves: the version the factory tagged it
    with (a promoted version is served from the registry, whose version numbers are the source
    workspace's), else the one in its model reference."""
    name, version = parse_model_id(deployment.model)
    tagged = (getattr(deployment, "tags", None) or {}).get("model_version")
    return name, str(tagged) if tagged else version


def _live_model(client: AzureClient, endpoint: Any) -> tuple[str, str | None]:
    """(model name, version) of the deployment taking most of an online endpoint's traffic."""
    traffic = {k: v for k, v in (endpoint.traffic or {}).items() if v}
    if not traffic:
        return "", None
    live = max(traffic, key=traffic.get)
    return deployed_model(client.online_deployments.get(name=live, endpoint_name=endpoint.name))


def invoke(workspace: Workspace, entry: ModelEnvConfig, *, client: AzureClient | None = None,
           interval: float | None = None, timeout: float | None = None,
           sleep: Callable[[float], None] = time.sleep) -> dict[str, Any]:
    """Send the sample request to the online endpoint and score the batch test data on the
    batch endpoint, each when the model is served on it: the same result shape as the local
    platform's invoke (a kind the model is not served on is absent)."""
    entry = regional_entry(workspace, entry)
    kinds = entry.endpoint_kinds
    result: dict[str, Any] = {}
    if not kinds:
        log(f"{entry.not_served()}; nothing to invoke")
        return result
    client = client or connect(workspace)
    if "online" in kinds:
        realtime = entry.realtime
        log(f"{entry.model}: invoking {realtime.endpoint_name} with {realtime.test_request_path}")
        endpoint = client.online_endpoints.get(realtime.endpoint_name)
        _, version = _live_model(client, endpoint)
        answer = client.online_endpoints.invoke(endpoint_name=realtime.endpoint_name,
                                                request_file=str(realtime.test_request_path))
        result["online"] = {"endpoint": realtime.endpoint_name,
                            "scoring_uri": endpoint.scoring_uri or "", "model_version": version,
                            "predictions": check_predictions(
                                answer, realtime.test_request_path,
                                f"invoke {realtime.endpoint_name}")}
    if "batch" in kinds:
        result["batch"] = _invoke_batch(
            client, entry, sleep=sleep,
            interval=_assets.poll_seconds() if interval is None else interval,
            timeout=_assets.timeout_seconds() if timeout is None else timeout)
    return result


def _default_deployment(endpoint: Any) -> str | None:
    defaults = endpoint.defaults
    if isinstance(defaults, dict):
        return defaults.get("deployment_name")
    return getattr(defaults, "deployment_name", None)


def _factory_model(endpoint: Any, registered: str) -> str:
    """The factory's model name (tag set at creation), else the registered model's name."""
    return str((endpoint.tags or {}).get("model") or registered)


def _status(endpoint: Any) -> str:
    return str(endpoint.provisioning_state or "unknown")


def list_endpoints(workspace: Workspace, show_keys: bool = False, *,
                   client: AzureClient | None = None) -> list[EndpointInfo]:
    """Every online and batch endpoint of the workspace with the model its live deployment
    serves; online keys only when asked for."""
    client = client or connect(workspace)
    found: list[EndpointInfo] = []
    for endpoint in client.online_endpoints.list():
        model, version = _live_model(client, endpoint)
        key = client.online_endpoints.get_keys(endpoint.name).primary_key if show_keys else None
        found.append(EndpointInfo(
            name=endpoint.name, kind="online", model=_factory_model(endpoint, model),
            model_version=version, scoring_uri=endpoint.scoring_uri or "",
            status=_status(endpoint), key=key,
            extra={"traffic": dict(endpoint.traffic or {}), "model_name": model}))
    for endpoint in client.batch_endpoints.list():
        deployment = _default_deployment(endpoint)
        model, version = ("", None)
        if deployment:
            model, version = deployed_model(client.batch_deployments.get(
                name=deployment, endpoint_name=endpoint.name))
        found.append(EndpointInfo(
            name=endpoint.name, kind="batch", model=_factory_model(endpoint, model),
            model_version=version, scoring_uri=endpoint.scoring_uri or "",
            status=_status(endpoint), extra={"deployment": deployment, "model_name": model}))
    return found


def undeploy(workspace: Workspace, entry: ModelEnvConfig, *,
             client: AzureClient | None = None) -> list[str]:
    """Delete the model's online and batch endpoints (their deployments go with them), both
    kinds whatever IS_ONLINE_DEPLOYMENT and IS_BATCH_DEPLOYMENT say now."""
    entry = regional_entry(workspace, entry)
    client = client or connect(workspace)
    removed = []
    for kind, operations, name in _endpoint_operations(client, entry):
        try:
            operations.begin_delete(name=name).result(progress=f"deleting {kind} {name}")
        except AzureNotFound:
            log(f"  {kind} endpoint {name}: not deployed")
            continue
        log(f"  removed {kind} endpoint {name}")
        removed.append(f"{kind} endpoint {name}")
    return removed
