"""Issue 11, item 4: `destroy` stops every endpoint process of the workspace before it archives
and removes it. Real Terraform provisions a throw-away factory root, real endpoints (front,
keeper, azmlinfsrv, a batch deployment) serve from its registry, then `python -m mlops destroy`
runs: afterwards nothing answers on the old port with the old key, no process runs from the
registry, and no key file is in the archive."""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from _kit import port_of
from conftest import deploy, teardown

from mlops._environment import tool_environment
from mlops.config import load_config
from mlops.records import BatchSettings
from mlops.serving import batch_endpoint, processes
from mlops.serving.client import request
from mlops.serving.registry import EndpointRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900),
              pytest.mark.skipif(shutil.which("terraform") is None, reason="needs terraform")]
REPO = Path(__file__).resolve().parents[2]


def _factory(root: Path, *args: str) -> subprocess.CompletedProcess:
    env = tool_environment()
    env.update(FACTORY_ROOT=str(root), FACTORY_TARGET="local",
               JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION="18,20")
    env.pop("FACTORY_INFRA_ENV", None)
    result = subprocess.run([sys.executable, "-m", "mlops", *args], cwd=REPO, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"{args}:\n{result.stdout}\n{result.stderr}"
    return result


def test_destroy_stops_every_endpoint_process_first(tmp_path, model_dir, sample, monkeypatch):
    root = tmp_path / "factory"
    shutil.copytree(REPO / "config", root / "config")
    shutil.copytree(REPO / "mlops" / "environment", root / "mlops" / "environment")
    for model in load_config().model_names:  # check_config wants every configured model
        shutil.copytree(REPO / "mlops" / model, root / "mlops" / model,
                        ignore=shutil.ignore_patterns("data", "__pycache__"))
    _factory(root, "provision")
    from mlops.infra import read_workspace

    monkeypatch.setenv("FACTORY_ROOT", str(root))
    workspace = read_workspace(load_config(root), "local")
    registry = EndpointRegistry(workspace.endpoint_registry)
    try:
        deploy(registry.root, "doomed-online", model_dir, sample)
        batch_endpoint.deploy(registry, batch_endpoint.BatchDeploySpec(
            endpoint="doomed-batch", deployment="doomed-batch-dep", model="fixture",
            model_name="fixture_model", model_version="1", model_dir=model_dir,
            serving_dir=root / "none", settings=BatchSettings(1, 1, 0, 60, "predictions.csv")),
            say=lambda _: None)
        record = registry.read("doomed-online")
        key = registry.read_key("doomed-online")
        assert request(record.scoring_uri, sample.read_bytes(), key=key).status == 200
        running = processes.processes_using(registry.root)
        assert len(running) >= 3  # front, keeper, deployment (and its workers)

        result = _factory(root, "destroy")

        assert "destroy local: stopped online endpoint doomed-online" in result.stdout
        assert "destroy local: stopped batch endpoint doomed-batch" in result.stdout
        assert not any(processes.is_alive(pid, start) for pid, start in running)
        assert processes.processes_using(registry.root) == []
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", port_of(record.scoring_uri)), timeout=5)
        with pytest.raises(OSError):
            request(record.scoring_uri, sample.read_bytes(), key=key, timeout=5)
        archives = list((root / ".factory" / "archive").glob("*.tar.gz"))
        assert len(archives) == 1
        with tarfile.open(archives[0]) as tar:
            names = tar.getnames()
        assert not [n for n in names if n.endswith(".key")], names
        assert not workspace.root.exists()
    finally:
        if registry.root.exists():
            teardown(registry)
        for pid, _ in processes.processes_using(registry.root):
            processes.kill_group(pid)
