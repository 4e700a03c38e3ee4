"""IS_ONLINE_DEPLOYMENT / IS_BATCH_DEPLOYMENT on the local platform, for real: one registered
champion in a temporary SQLite MLflow registry, deployed batch only, then online only, then
nowhere; each time the registry records, the processes and invoke show only the chosen kinds."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from mlops.bench import _serving_model as fixture_model
from mlops.config import Dataset, load_config
from mlops.naming import RunNames
from mlops.paths import local_workspace
from mlops.platform.local import endpoints
from mlops.serving import processes
from mlops.serving.registry import EndpointRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(600)]
MODEL_NAME = "kinds_model"


def _serving(entry, *, online: bool, batch: bool):
    return replace(entry, is_online_deployment=online, is_batch_deployment=batch)


def _pids(record) -> list[tuple[int, int | None]]:
    refs = [record.front, record.keeper, *(d.process for d in record.deployments.values())]
    return [(ref.pid, ref.start) for ref in refs if ref is not None]


def test_deploy_and_invoke_serve_only_the_chosen_kinds(tmp_path):
    config = load_config()
    workspace = local_workspace(config.infra_env("dev"), tmp_path)
    fixture_model.train_and_register(workspace, MODEL_NAME)
    sample = fixture_model.write_sample_request(tmp_path / "sample-request.json", rows=3)
    fixture_model.write_batch_files(tmp_path / "batch", files=2, rows_per_file=10)
    base = config.entry("nyc_taxi", "dev")  # its serving code is what we deploy
    suffix = uuid.uuid4().hex[:6]
    entry = replace(base,
                    realtime=replace(base.realtime, endpoint_name=f"t-kinds-on-{suffix}",
                                     test_request_path=sample),
                    batch=replace(base.batch, endpoint_name=f"t-kinds-b-{suffix}"),
                    data=replace(base.data, datasets=(Dataset(
                        "batch_test_data", tmp_path / "batch", f"t_kinds_{suffix}", "rows"),)))
    online_name, batch_name = entry.realtime.endpoint_name, entry.batch.endpoint_name
    registry = EndpointRegistry(workspace.endpoint_registry)
    names = RunNames("e", "r", MODEL_NAME, "b", "1")
    said: list[str] = []
    try:
        # batch only: no online record, no front, keeper or scoring server
        batch_only = _serving(entry, online=False, batch=True)
        infos = endpoints.deploy(workspace, batch_only, names, say=said.append)
        assert [(i.kind, i.name) for i in infos] == [("batch", batch_name)]
        assert registry.read(online_name) is None and registry.read(batch_name) is not None
        assert processes.processes_using(workspace.endpoint_registry) == []
        result = endpoints.invoke(workspace, batch_only, say=said.append)
        assert list(result) == ["batch"]
        assert result["batch"]["rows"] == 20 and result["batch"]["failed_files"] == []

        # online only: the online endpoint answers; the batch endpoint turned off is removed
        online_only = _serving(entry, online=True, batch=False)
        said.clear()
        infos = endpoints.deploy(workspace, online_only, names, say=said.append)
        assert [(i.kind, i.name, i.status) for i in infos] == [("online", online_name, "healthy")]
        assert registry.read(batch_name) is None
        assert any(line.startswith("nyc_taxi/dev: IS_BATCH_DEPLOYMENT is false: removed batch "
                                   f"endpoint {batch_name}") for line in said), said
        result = endpoints.invoke(workspace, online_only, say=said.append)
        assert list(result) == ["online"] and len(result["online"]["predictions"]) == 3
        record = registry.read(online_name)
        pids = _pids(record)
        assert pids and all(processes.is_alive(pid, start) for pid, start in pids)

        # served nowhere: the online endpoint and its processes go; nothing to invoke
        nowhere = _serving(entry, online=False, batch=False)
        said.clear()
        assert endpoints.deploy(workspace, nowhere, names, say=said.append) == []
        assert registry.read(online_name) is None and registry.names() == []
        assert not any(processes.is_alive(pid, start) for pid, start in pids)
        assert endpoints.invoke(workspace, nowhere, say=said.append) == {}
        assert any("are false (trained and registered, not served); nothing to invoke" in line
                   for line in said), said
    finally:
        endpoints.undeploy(workspace, entry)
        for pid, _ in processes.processes_using(workspace.endpoint_registry):
            processes.kill_group(pid)
