"""The endpoint registry: atomic, schema-versioned records (mlops.records.EndpointRecord),
owner-only key files, Azure ML's endpoint name rule, locks that give up naming their holder."""

from __future__ import annotations

import fcntl
import json
import os
import stat
import threading
from dataclasses import replace

import pytest

from mlops.config.loader import AZURE_ML_ENDPOINT
from mlops.records import SCHEMA_VERSION, EndpointRecord, OnlineDeployment, ProcessRef
from mlops.serving import registry as registry_module
from mlops.serving.registry import EndpointRegistry, RegistryError, check_name


def _record(name="nyc-taxi-online", **fields) -> EndpointRecord:
    return EndpointRecord(name=name, kind=fields.pop("kind", "online"), model="nyc_taxi",
                          model_name="nyc_taxi_model_dev", model_version="1",
                          status=fields.pop("status", "healthy"), **fields)


def test_write_is_atomic_versioned_and_round_trips(tmp_path):
    registry = EndpointRegistry(tmp_path / "endpoints")
    dep = OnlineDeployment(slot="blue", port=20001, folder="/x", model_version="1",
                           command=("python", "-m", "x"), cwd="/x", log="/x/server.log",
                           env={"WORKER_COUNT": "2"}, process=ProcessRef(12, 34))
    registry.write(_record(port=20001, live="blue", deployments={"blue": dep},
                           front=ProcessRef(5, 6)))
    record = registry.read("nyc-taxi-online")
    assert record.port == 20001 and record.live_deployment == dep and record.front.pid == 5
    raw = json.loads(registry.record_path("nyc-taxi-online").read_text())
    assert raw["schema_version"] == SCHEMA_VERSION
    assert sorted(p.name for p in registry.root.iterdir()) == ["nyc-taxi-online.json"]
    assert registry.names() == ["nyc-taxi-online"]
    assert stat.S_IMODE(registry.root.stat().st_mode) == 0o700


def test_concurrent_updates_lose_nothing(tmp_path):
    registry = EndpointRegistry(tmp_path)
    registry.write(_record("ep-1"))

    def bump():
        for _ in range(25):
            registry.update("ep-1", lambda r: replace(r, restarts=r.restarts + 1))

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.read("ep-1").restarts == 100


def test_update_returning_none_deletes(tmp_path):
    registry = EndpointRegistry(tmp_path)
    registry.write(_record("ep-1", kind="batch", status="ready"))
    registry.update("ep-1", lambda _: None)
    assert registry.read("ep-1") is None and registry.names() == []


@pytest.mark.parametrize(("content", "message"), [
    ("{half", r"ep-1\.json: not valid JSON"),
    (json.dumps({"name": "ep-1"}), r"ep-1\.json: missing kind, model, model_name"),
    (json.dumps({**_record("ep-1").to_dict(), "kind": "stream"}), "kind 'stream'"),
    (json.dumps({**_record("ep-1").to_dict(), "schema_version": 99}), "schema_version 99 is newer"),
    (json.dumps({**_record("ep-1").to_dict(), "deployments": {"blue": {"slot": "blue"}}}),
     r"deployments\.blue: missing port"),
    (json.dumps(_record("other").to_dict()), "expected an endpoint record with name 'ep-1'"),
])
def test_a_bad_record_names_the_file_and_what_is_wrong(tmp_path, content, message):
    registry = EndpointRegistry(tmp_path)
    (tmp_path / "ep-1.json").write_text(content)
    with pytest.raises(RegistryError, match=message):
        registry.read("ep-1")


def test_key_is_created_owner_only_and_stable(tmp_path):
    os.umask(0o022)
    registry = EndpointRegistry(tmp_path / "endpoints")
    key = registry.ensure_key("ep-1")
    path = registry.key_path("ep-1")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 40 and registry.ensure_key("ep-1") == key == registry.read_key("ep-1")
    assert EndpointRegistry(tmp_path / "endpoints").ensure_key("other") != key


def test_deployment_tokens_differ_per_deployment_and_are_never_stored(tmp_path):
    registry = EndpointRegistry(tmp_path)
    key = registry.ensure_key("ep-1")
    blue = registry.deployment_token("ep-1", "/r/ep-1/deployments/blue-1")
    assert blue == registry.deployment_token("ep-1", "/r/ep-1/deployments/blue-1")
    assert blue != registry.deployment_token("ep-1", "/r/ep-1/deployments/green-2")
    assert key not in blue and all(blue not in p.read_text() for p in tmp_path.iterdir()
                                   if p.is_file())


def test_readable_key_file_is_refused(tmp_path):
    registry = EndpointRegistry(tmp_path)
    registry.ensure_key("ep-1")
    os.chmod(registry.key_path("ep-1"), 0o644)
    with pytest.raises(RegistryError, match="permissions 0644 .* expected 0600"):
        registry.read_key("ep-1")


def test_missing_key_says_deploy_first(tmp_path):
    with pytest.raises(RegistryError, match="no key for endpoint 'ep-1'; deploy it first"):
        EndpointRegistry(tmp_path).read_key("ep-1")


def test_a_lock_held_too_long_is_named(tmp_path, monkeypatch):
    monkeypatch.setattr(registry_module, "RECORD_LOCK_TIMEOUT_S", 0.3)
    registry = EndpointRegistry(tmp_path)
    registry.write(_record("ep-1"))
    registry.ensure_root()
    fd = os.open(tmp_path / ".ep-1.record.lock", os.O_CREAT | os.O_RDWR, 0o600)
    os.write(fd, b"pid 4242\n")
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        with pytest.raises(RegistryError, match=r"record lock is still held after 0 s by pid 4242"):
            registry.update("ep-1", lambda r: r)
    finally:
        os.close(fd)


@pytest.mark.parametrize("name", ["", "ep", "../x", "a/b", "-lead", "1abc", "x" * 33,
                                  "sp ace", "under_score"])
def test_names_follow_azure_ml_s_endpoint_rule(name):
    with pytest.raises(RegistryError, match="endpoint name .*3-32 letters, digits and hyphens"):
        check_name(name)


def test_the_registry_uses_the_config_s_rule():
    assert registry_module._NAME.pattern == rf"^{AZURE_ML_ENDPOINT}$"
    assert check_name("nyc-taxi-online") == "nyc-taxi-online"
