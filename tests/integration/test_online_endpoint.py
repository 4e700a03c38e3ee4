"""The local online endpoint for real: azmlinfsrv deployments behind the key-auth front on
127.0.0.1, a model registered in a temporary SQLite MLflow registry."""

from __future__ import annotations

import json
import stat
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path

import pytest

from mlops.bench import _serving_model as fixture_model
from mlops.config import Dataset, load_config
from mlops.naming import RunNames
from mlops.paths import local_workspace
from mlops.platform.local import endpoints
from mlops.serving import processes
from mlops.serving.client import request
from mlops.serving.registry import EndpointRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
MODEL_NAME = "fixture_model_dev_test"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A workspace with a registered champion, deployed online (and batch); undeployed after."""
    tmp = tmp_path_factory.mktemp("online")
    config = load_config()
    workspace = local_workspace(config.infra_env("dev"), tmp)
    fixture_model.train_and_register(workspace, MODEL_NAME, slope=2.5)
    sample = fixture_model.write_sample_request(tmp / "sample-request.json", rows=3)
    fixture_model.write_batch_files(tmp / "batch", files=3, rows_per_file=10)
    base = config.entry("nyc_taxi", "dev")  # its serving code is what we deploy
    suffix = uuid.uuid4().hex[:6]
    batch_data = Dataset("batch_test_data", tmp / "batch", f"t_batch_{suffix}", "test rows")
    entry = replace(base,
                    realtime=replace(base.realtime, endpoint_name=f"t-online-{suffix}",
                                     test_request_path=sample),
                    batch=replace(base.batch, endpoint_name=f"t-batch-{suffix}"),
                    data=replace(base.data, datasets=(batch_data,)))
    names = RunNames("exp", "run", MODEL_NAME, "test", "build-1")
    infos = endpoints.deploy(workspace, entry, names)
    try:
        yield workspace, entry, names, infos, sample
    finally:
        endpoints.undeploy(workspace, entry)
        for pid, _ in processes.processes_using(workspace.endpoint_registry):
            processes.kill_group(pid)  # whatever undeploy could not stop


def _record(workspace, entry):
    return EndpointRegistry(workspace.endpoint_registry).read(entry.realtime.endpoint_name)


def _key(workspace, entry):
    return EndpointRegistry(workspace.endpoint_registry).read_key(entry.realtime.endpoint_name)


def test_deploy_lists_both_endpoints(served):
    workspace, entry, _, infos, _ = served
    kinds = {i.kind: i for i in infos}
    assert set(kinds) == {"online", "batch"}
    online = kinds["online"]
    assert online.status == "healthy" and online.model_version == "1"
    assert online.scoring_uri.startswith("http://127.0.0.1:") and online.key is None
    listed = {i.name: i for i in endpoints.list_endpoints(workspace, show_keys=True)}
    assert listed[entry.realtime.endpoint_name].key == _key(workspace, entry)
    assert listed[entry.batch.endpoint_name].status == "ready"


def test_key_file_is_owner_only(served):
    workspace, entry, *_ = served
    path = Path(workspace.endpoint_registry) / f"{entry.realtime.endpoint_name}.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert _key(workspace, entry) not in json.dumps(_record(workspace, entry).to_dict())


def test_request_without_or_with_wrong_key_gets_401(served):
    workspace, entry, *_ = served
    uri = _record(workspace, entry).scoring_uri
    body = b'{"input_data": []}'
    assert request(uri, body).status == 401
    assert request(uri, body, key="not-the-key").status == 401


@pytest.mark.parametrize(("body", "named"), [
    (b"{not json", "not valid JSON"),
    (b'{"rows": []}', "'rows'"),
    (b'{"input_data": [{"distance": 1.0, "passengers": 1, "vendor": "CMT"}]}', "'pickup_hour'"),
    (b'{"input_data": [{"distance": "far", "passengers": 1, "vendor": "CMT", '
     b'"pickup_hour": 3}]}', "'distance'"),
    (b'{"input_data": [{"distance": 1.0, "passengers": 1, "vendor": "CMT", "pickup_hour": 3, '
     b'"tip": 2}]}', "'tip'"),
    (b'{"input_data": {"columns": ["distance"], "data": [[1.0, 2]]}}', "input_data.data[0]"),
])
def test_malformed_body_gets_400_naming_the_problem(served, body, named):
    workspace, entry, *_ = served
    reply = request(_record(workspace, entry).scoring_uri, body, key=_key(workspace, entry))
    assert reply.status == 400, reply.text
    assert named in reply.json()["message"]


def test_sample_request_gets_predictions(served):
    workspace, entry, *_ = served
    result = endpoints.invoke(workspace, entry, say=lambda _: None)
    predictions = result["online"]["predictions"]
    assert len(predictions) == 3 and all(isinstance(p, float) for p in predictions)
    assert result["batch"]["rows"] == 30 and result["batch"]["failed_files"] == []


def _load(uri: str, key: str, body: bytes, stop: threading.Event, results: list,
          limit: int = 3000) -> None:
    """Requests back to back until stop is set (bounded by limit)."""
    for _ in range(limit):
        if stop.is_set():
            return
        try:
            reply = request(uri, body, key=key, timeout=120)
            results.append((reply.status, reply.json().get("predictions") if
                            reply.status == 200 else reply.text))
        except OSError as exc:
            results.append((0, str(exc)))


def test_redeploy_under_load_fails_no_request(served):
    workspace, entry, names, _, sample = served
    before = _record(workspace, entry)
    old = before.live_deployment
    fixture_model.train_and_register(workspace, MODEL_NAME, seed=1, slope=4.0)
    stop, results = threading.Event(), []
    body = sample.read_bytes()
    threads = [threading.Thread(target=_load, args=(before.scoring_uri,
                                                    _key(workspace, entry), body, stop, results))
               for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.5)
        infos = endpoints.deploy(workspace, entry, names, say=lambda _: None)
        time.sleep(0.5)  # some requests on the new version too
    finally:
        stop.set()
        for thread in threads:
            thread.join(180)
    failures = [r for r in results if r[0] != 200]
    assert results and not failures, failures[:5]
    after = _record(workspace, entry)
    assert after.model_version == "2" and after.live != before.live
    assert after.scoring_uri == before.scoring_uri  # stable URI
    assert not processes.is_alive(old.process.pid, old.process.start)  # old deployment stopped
    assert len({json.dumps(r[1]) for r in results}) == 2  # served v1, then v2
    assert {i.kind: i.model_version for i in infos} == {"online": "2", "batch": "2"}


def test_killed_deployment_is_restarted_by_the_front(served):
    workspace, entry, *_ = served
    record = _record(workspace, entry)
    live = record.live_deployment
    processes.kill_group(live.process.pid)  # the server and its workers
    # The front holds this request until the keeper has restarted the deployment.
    reply = request(record.scoring_uri, Path(entry.realtime.test_request_path).read_bytes(),
                    key=_key(workspace, entry), timeout=180)
    assert reply.status == 200, reply.text
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = {i.name: i for i in endpoints.list_endpoints(workspace)}[
            entry.realtime.endpoint_name]
        if info.status == "healthy" and info.extra["deployment_pid"] != live.process.pid:
            break
        time.sleep(0.2)
    assert info.status == "healthy" and info.extra["restarts"] >= 1
    assert processes.is_alive(info.extra["deployment_pid"])


def test_undeploy_stops_every_process(tmp_path):
    """Own deployment, so the module fixture keeps serving the other tests."""
    config = load_config()
    workspace = local_workspace(config.infra_env("dev"), tmp_path)
    fixture_model.train_and_register(workspace, "undeploy_model")
    sample = fixture_model.write_sample_request(tmp_path / "sample.json")
    base = config.entry("nyc_taxi", "dev")
    suffix = uuid.uuid4().hex[:6]
    entry = replace(base, realtime=replace(base.realtime, endpoint_name=f"t-undeploy-{suffix}",
                                           test_request_path=sample),
                    batch=replace(base.batch, endpoint_name=f"t-undeploy-b-{suffix}"))
    endpoints.deploy(workspace, entry, RunNames("e", "r", "undeploy_model", "b", "1"),
                     say=lambda _: None)
    record = _record(workspace, entry)
    pids = [(record.front.pid, record.front.start), (record.keeper.pid, record.keeper.start)] + [
        (d.process.pid, d.process.start) for d in record.deployments.values()]
    try:
        removed = endpoints.undeploy(workspace, entry)
        assert any(entry.realtime.endpoint_name in line for line in removed)
        assert any(entry.batch.endpoint_name in line for line in removed)
        assert not any(processes.is_alive(pid, start) for pid, start in pids)
        assert endpoints.list_endpoints(workspace) == []
        assert endpoints.undeploy(workspace, entry) == []
    finally:
        for pid, _ in pids:
            processes.kill_group(pid)
