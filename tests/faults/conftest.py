"""The fault suite's kit (issue 11, "Nothing lost, nothing trusted blindly"): each test attacks
the local serving stack as a hostile user would — real processes, real files, real sockets on
127.0.0.1 — and asserts the fault is gone. Endpoints serve a small fixture model saved as an
MLflow folder; every process a test starts is stopped afterwards."""

from __future__ import annotations

import resource
from pathlib import Path

import pytest

from mlops.bench import _serving_model as fixture_model
from mlops.serving import online, processes
from mlops.serving.registry import EndpointRegistry
from mlops.serving.shutdown import stop_all

# Front limits of the shared endpoint: short enough to watch them act within a test.
LIMITS = {"FACTORY_MAX_REQUEST_BYTES": str(1024 * 1024), "FACTORY_HEADER_TIMEOUT_S": "2",
          "FACTORY_IDLE_TIMEOUT_S": "3", "FACTORY_BODY_TIMEOUT_S": "3",
          "FACTORY_MAX_CONNECTIONS": "256", "FACTORY_LOG_MAX_BYTES": str(64 * 1024),
          "WORKER_COUNT": "2"}


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    return fixture_model.save(tmp_path_factory.mktemp("model") / "fixture-model")


@pytest.fixture(scope="session")
def sample(tmp_path_factory) -> Path:
    return fixture_model.write_sample_request(tmp_path_factory.mktemp("sample") / "sample.json",
                                              rows=3)


def deploy(root: Path, name: str, model_dir: Path, sample: Path,
           environment: dict[str, str] | None = None) -> EndpointRegistry:
    registry = EndpointRegistry(root)
    online.deploy(registry, online.OnlineSpec(
        endpoint=name, model="fixture", model_name="fixture_model", model_version="1",
        model_dir=model_dir, serving_dir=root / "no-own-script", sample_request=sample,
        environment=environment or {}), say=lambda _: None)
    return registry


def teardown(registry: EndpointRegistry) -> None:
    stop_all(registry)
    for pid, _ in processes.processes_using(registry.root):
        processes.kill_group(pid)


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory, model_dir, sample):
    """One endpoint shared by the tests that only talk to it (they never kill its processes):
    (registry, name, key, scoring URI)."""
    registry = deploy(tmp_path_factory.mktemp("endpoints"), "fault-online", model_dir, sample,
                      LIMITS)
    try:
        record = registry.read("fault-online")
        yield registry, "fault-online", registry.read_key("fault-online"), record.scoring_uri
    finally:
        teardown(registry)


@pytest.fixture(scope="session", autouse=True)
def many_descriptors():
    """Some attacks hold more sockets than the default soft limit allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192) if hard > 0 else 8192, hard))
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
