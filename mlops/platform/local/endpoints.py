"""Local endpoints of a model: the online endpoint (azmlinfsrv behind the key-auth front,
blue/green) and the batch endpoint, both serving the champion of MODEL_NAME from the
workspace's MLflow registry. Endpoints are named by the model's batch/realtime configs; only the
kinds the model is served on (IS_ONLINE_DEPLOYMENT, IS_BATCH_DEPLOYMENT) are deployed and
invoked, and deploy removes the model's endpoint of a kind turned off."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.paths import resolve
from mlops.records import EndpointInfo, EndpointRecord, Workspace
from mlops.registry_names import CHAMPION_ALIAS
from mlops.serving import batch_endpoint, online
from mlops.serving.collector import collector_environment
from mlops.serving.registry import EndpointRegistry

CHAMPION = CHAMPION_ALIAS  # the registry alias the gate moves


class NoChampionError(FactoryError):
    """Nothing to deploy: the model has no champion yet."""


def registry_of(workspace: Workspace) -> EndpointRegistry:
    if workspace.endpoint_registry is None:
        raise FactoryError(f"workspace {workspace.name} has no local endpoint registry "
                           f"(target {workspace.target}); run `nox -s provision`")
    return EndpointRegistry(workspace.endpoint_registry, workspace.endpoint_ports)


def champion_model(workspace: Workspace, model_name: str, cache: Path) -> tuple[str, Path]:
    """(version, folder with MLmodel) of the champion of model_name, downloaded once."""
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION).version
    except MlflowException as exc:
        raise NoChampionError(f"model {model_name!r} has no {CHAMPION!r} version in workspace "
                              f"{workspace.name}; run `nox -s ci_build` first ({exc.message})"
                              ) from None
    target = cache / model_name / str(version) / "model"
    if (target / "MLmodel").is_file():
        return str(version), target
    import mlflow.artifacts

    tmp = target.with_name(f".download-{uuid.uuid4().hex[:8]}")
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # The version's storage location: "models:/" URIs would resolve through mlflow's global
    # registry URI, not this workspace's.
    source = client.get_model_version_download_uri(model_name, version)
    tmp.mkdir(parents=True)
    local = Path(mlflow.artifacts.download_artifacts(
        artifact_uri=source, dst_path=str(tmp), tracking_uri=workspace.mlflow_tracking_uri))
    if not (local / "MLmodel").is_file():
        shutil.rmtree(tmp, ignore_errors=True)
        raise FactoryError(f"model {model_name} version {version}: no MLmodel file in its "
                           f"artifacts ({source}); it is not an MLflow model")
    shutil.rmtree(target, ignore_errors=True)
    os.replace(local, target)
    shutil.rmtree(tmp, ignore_errors=True)
    return str(version), target


def deploy(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, *,
           force: bool = False, say: Callable[[str], None] = print) -> list[EndpointInfo]:
    """Deploy the champion of names.model_name to the endpoints the model is served on
    (IS_ONLINE_DEPLOYMENT, IS_BATCH_DEPLOYMENT); then remove this model's endpoint of a kind
    turned off, so nothing of it keeps serving an old version."""
    registry = registry_of(workspace)
    registry.ensure_root()
    kinds = entry.endpoint_kinds
    if not kinds:
        say(f"{entry.not_served()}; nothing to deploy")
        _retire_turned_off(registry, entry, say)
        return []
    version, model_dir = champion_model(workspace, names.model_name, registry.root / "_models")
    say(f"{entry.model}: champion of {names.model_name} is version {version}")
    serving = entry.model_dir / "serving"
    records: list[EndpointRecord] = []
    if "online" in kinds:
        realtime = entry.realtime
        records.append(online.deploy(registry, online.OnlineSpec(
            endpoint=realtime.endpoint_name, model=entry.model, model_name=names.model_name,
            model_version=version, model_dir=model_dir, serving_dir=serving / "online",
            sample_request=resolve(realtime.test_request_path),
            first_slot=realtime.deployment_name,
            environment={**collection_environment(workspace, entry, version),
                         **realtime.environment_variables}), force=force, say=say))
    if "batch" in kinds:
        records.append(batch_endpoint.deploy(registry, batch_endpoint.BatchDeploySpec.from_config(
            entry.batch, model=entry.model, model_name=names.model_name, model_version=version,
            model_dir=model_dir, serving_dir=serving / "batch"), say=say))
    _retire_turned_off(registry, entry, say)
    return [_info(registry, record) for record in records]


def _retire_turned_off(registry: EndpointRegistry, entry: ModelEnvConfig,
                       say: Callable[[str], None]) -> None:
    """Remove the model's endpoint of each kind it is no longer served on, when the registry
    holds one of that kind for this model (all local endpoints are the factory's)."""
    for kind, name, remove in _kinds(entry):
        if kind in entry.endpoint_kinds:
            continue
        record = registry.read(name)
        if record is None or (record.kind, record.model) != (kind, entry.model):
            continue
        for line in remove(registry, name):
            say(f"{entry.not_served(kind)}: removed {line}")


def _kinds(entry: ModelEnvConfig) -> tuple[tuple[str, str, Callable[..., list[str]]], ...]:
    """(kind, endpoint name, undeploy) of each endpoint the model may have."""
    return (("online", entry.realtime.endpoint_name, online.undeploy),
            ("batch", entry.batch.endpoint_name, batch_endpoint.undeploy))


def collection_environment(workspace: Workspace, entry: ModelEnvConfig,
                           version: str) -> dict[str, str]:
    """What the deployment's data collector reads (mlops/serving/collector.py): files under the
    workspace's collected/ folder, sampled at COLLECTION_SAMPLING_RATE. The deployment name is
    the configured first slot; the process starting a blue/green slot sets its own."""
    from mlops.platform.local.monitoring import collection_root

    return collector_environment(backend="files", endpoint=entry.realtime.endpoint_name,
                                 deployment=entry.realtime.deployment_name,
                                 model_version=version,
                                 sampling_rate=entry.realtime.collection_sampling_rate,
                                 root=collection_root(workspace))


def undeploy(workspace: Workspace, entry: ModelEnvConfig) -> list[str]:
    """Stop and remove the model's endpoints, of both kinds whatever IS_ONLINE_DEPLOYMENT and
    IS_BATCH_DEPLOYMENT say now; says what was removed (empty: nothing was)."""
    registry = registry_of(workspace)
    return [line for _, name, remove in _kinds(entry) for line in remove(registry, name)]


def invoke(workspace: Workspace, entry: ModelEnvConfig, *,
           say: Callable[[str], None] = print) -> dict[str, Any]:
    """Send the sample request to the online endpoint and run the batch endpoint on the batch
    test data, each when the model is served on it; returns the results (predictions, output
    file and row count) under "online" and "batch" (empty: the model is not served)."""
    registry = registry_of(workspace)
    result: dict[str, Any] = {}
    kinds = entry.endpoint_kinds
    if not kinds:
        say(f"{entry.not_served()}; nothing to invoke")
        return result
    name = entry.realtime.endpoint_name
    record = registry.read(name) if "online" in kinds else None
    if record is not None:
        sample = resolve(entry.realtime.test_request_path)
        try:
            body = sample.read_bytes()
        except OSError as exc:
            raise FactoryError(f"{entry.realtime.file}: TEST_REQUEST_PATH {sample}: {exc}") from None
        reply = online.invoke(registry, name, body)
        try:
            predictions = online.check_predictions(reply, sample, name)
        except online.DeploymentError as exc:
            raise FactoryError(str(exc)) from None
        result["online"] = {"endpoint": name, "scoring_uri": record.scoring_uri,
                            "model_version": record.model_version,
                            "predictions": predictions}
    batch_name = entry.batch.endpoint_name
    if "batch" in kinds and registry.read(batch_name) is not None:
        folder = batch_input(workspace, entry)
        say(f"{batch_name}: scoring {folder}")
        job = batch_endpoint.invoke(registry, batch_name, folder, say=say)
        result["batch"] = {"endpoint": batch_name, "input": str(folder), **job.summary()}
    if not result:
        served = {"online": name, "batch": batch_name}
        raise FactoryError(f"{entry.model}: no endpoint deployed "
                           f"({', '.join(served[kind] for kind in kinds)}); "
                           f"run `nox -s deploy -- {entry.model}`")
    return result


def batch_input(workspace: Workspace, entry: ModelEnvConfig) -> Path:
    """The registered batch_test_data asset, else its DATA_PATH folder."""
    dataset = entry.data.by_purpose("batch_test_data")
    try:
        from mlops.platform.local.data import latest_asset

        return Path(latest_asset(workspace, dataset).uri)
    except (ImportError, FactoryError):
        folder = resolve(dataset.path)
        if not folder.is_dir():
            raise FactoryError(f"{entry.data.file}: batch_test_data {dataset.name} is not "
                               f"registered and DATA_PATH {folder} does not exist; run "
                               f"`nox -s register_data`") from None
        return folder


def list_endpoints(workspace: Workspace, show_keys: bool = False) -> list[EndpointInfo]:
    registry = registry_of(workspace)
    infos = []
    for name in registry.names():
        record = registry.read(name)
        if record is not None:
            infos.append(_info(registry, record, show_keys))
    return infos


def _info(registry: EndpointRegistry, record: EndpointRecord,
          show_keys: bool = False) -> EndpointInfo:
    if record.kind == "online":
        live = record.live_deployment
        extra = {"model_name": record.model_name, "deployment": record.live,
                 "port": record.port, "front_pid": record.front.pid if record.front else None,
                 "keeper_pid": record.keeper.pid if record.keeper else None,
                 "deployment_pid": live.process.pid if live and live.process else None,
                 "deployment_port": live.port if live else None, "restarts": record.restarts}
        key = registry.read_key(record.name) if show_keys else None
        status = online.endpoint_status(record)
    else:
        extra = {"model_name": record.model_name,
                 "deployment": record.batch.name if record.batch else None,
                 "last_job": asdict(record.last_job) if record.last_job else None}
        key, status = None, batch_endpoint.status(record)
    return EndpointInfo(name=record.name, kind=record.kind, model=record.model,
                        model_version=record.model_version, scoring_uri=record.scoring_uri,
                        status=status, key=key, extra=extra)
