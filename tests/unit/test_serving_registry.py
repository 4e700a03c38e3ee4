"""The endpoint registry: atomic JSON records, owner-only key files, name checks."""

from __future__ import annotations

import json
import os
import stat
import threading

import pytest

from mlops.serving.registry import EndpointRegistry, RegistryError, check_name


def test_write_is_atomic_and_leaves_no_temp_files(tmp_path):
    registry = EndpointRegistry(tmp_path / "endpoints")
    registry.write("nyc-taxi-online", {"kind": "online", "port": 20001})
    record = registry.read("nyc-taxi-online")
    assert record["name"] == "nyc-taxi-online" and record["port"] == 20001
    assert sorted(p.name for p in registry.root.iterdir()) == ["nyc-taxi-online.json"]
    assert registry.names() == ["nyc-taxi-online"]
    assert stat.S_IMODE(registry.root.stat().st_mode) == 0o700


def test_concurrent_updates_lose_nothing(tmp_path):
    registry = EndpointRegistry(tmp_path)
    registry.write("ep", {"count": 0})

    def bump():
        for _ in range(25):
            registry.update("ep", lambda r: {**r, "count": r["count"] + 1})

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert registry.read("ep")["count"] == 100


def test_update_returning_none_deletes(tmp_path):
    registry = EndpointRegistry(tmp_path)
    registry.write("ep", {"kind": "batch"})
    registry.update("ep", lambda _: None)
    assert registry.read("ep") is None and registry.names() == []


def test_corrupt_record_names_the_file(tmp_path):
    registry = EndpointRegistry(tmp_path)
    (tmp_path / "ep.json").write_text("{half")
    with pytest.raises(RegistryError, match=r"ep\.json: not valid JSON"):
        registry.read("ep")
    (tmp_path / "ep.json").write_text(json.dumps({"name": "other"}))
    with pytest.raises(RegistryError, match="expected an endpoint record with name 'ep'"):
        registry.read("ep")


def test_key_is_created_owner_only_and_stable(tmp_path):
    os.umask(0o022)
    registry = EndpointRegistry(tmp_path / "endpoints")
    key = registry.ensure_key("ep")
    path = registry.key_path("ep")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(key) >= 40 and registry.ensure_key("ep") == key == registry.read_key("ep")
    assert EndpointRegistry(tmp_path / "endpoints").ensure_key("other") != key


def test_readable_key_file_is_refused(tmp_path):
    registry = EndpointRegistry(tmp_path)
    registry.ensure_key("ep")
    os.chmod(registry.key_path("ep"), 0o644)
    with pytest.raises(RegistryError, match="permissions 0644 .* expected 0600"):
        registry.read_key("ep")


def test_missing_key_says_deploy_first(tmp_path):
    with pytest.raises(RegistryError, match="no key for endpoint 'ep'; deploy it first"):
        EndpointRegistry(tmp_path).read_key("ep")


@pytest.mark.parametrize("name", ["", "../x", "a/b", "-lead", "x" * 64, "sp ace"])
def test_bad_endpoint_names_are_refused(name):
    with pytest.raises(RegistryError, match="endpoint name"):
        check_name(name)
