"""Monitoring for real: a real azmlinfsrv deployment of the factory's online code folder (its
score.py calls the data collector staged beside it), requests sent with a key and request ids, then the
local platform's monitor on what was collected: the model's training data (nyc_taxi's own
generator, prep and features) as reference, evidently in its own environment, the report opened
in headless chromium. Requests drawn from the training distribution pass; the same requests with
distances x3 fail, naming distance."""

from __future__ import annotations

import json
import shutil
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest

from mlops.config import DataConfig, Dataset, load_config
from mlops.monitoring.reference import reference_features
from mlops.naming import RunNames
from mlops.paths import local_workspace
from mlops.platform.local import monitoring
from mlops.platform.local.data import register_dataset
from mlops.records import MonitorRecord
from mlops.serving import code_folder, processes
from mlops.serving.client import request, wait_until_up
from mlops.serving.collector import collector_environment
from mlops.serving.settings import TOKEN_ENV, TOKEN_HEADER
from mlops.testkit.kit import ModelKit

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import browser  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1500)]
REPO = Path(__file__).resolve().parents[2]
SECRET = "k3y-" + uuid.uuid4().hex  # what a client sends as its key: never to be collected
TOKEN = "t0k-" + uuid.uuid4().hex  # the per-deployment token the front adds: never collected
ROWS_PER_REQUEST = 50

def _train_champion(workspace, features: pd.DataFrame, columns: list[str], target: str,
                    model_name: str) -> tuple[str, Path]:
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature
    from sklearn.linear_model import LinearRegression

    for folder in (workspace.root / "mlflow", workspace.artifact_root):
        folder.mkdir(parents=True, exist_ok=True)
    x = features[columns]
    model = LinearRegression().fit(x, features[target])
    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    experiment = client.create_experiment("monitor-test",
                                          artifact_location=workspace.artifact_root.as_uri())
    mlflow.set_tracking_uri(workspace.mlflow_tracking_uri)
    mlflow.set_registry_uri(workspace.mlflow_registry_uri)
    try:
        with mlflow.start_run(experiment_id=experiment):
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=model_name,
                                            signature=infer_signature(x, model.predict(x)))
    finally:  # other tests in this process keep their own stores
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    version = str(info.registered_model_version)
    client.set_registered_model_alias(model_name, "champion", version)
    folder = mlflow.artifacts.download_artifacts(
        artifact_uri=client.get_model_version_download_uri(model_name, version),
        dst_path=str(workspace.root / "served-model"), tracking_uri=workspace.mlflow_tracking_uri)
    assert (Path(folder) / "MLmodel").is_file()
    return version, Path(folder)


@pytest.fixture(scope="module")
def deployed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("monitor")
    config = load_config()
    workspace = local_workspace(config.infra_env("dev"), tmp / "state")
    workspace.data_store.mkdir(parents=True)
    kit = ModelKit.staged(REPO / "mlops" / "nyc_taxi", tmp / "stage")
    suffix = uuid.uuid4().hex[:6]
    training = Dataset("training_data", kit.generate(tmp / "data" / "training",
                                                     "training_data", rows=4000),
                       f"t_monitor_training_{suffix}", "monitor test training data")
    base = config.entry("nyc_taxi", "dev")
    entry = replace(base, realtime=replace(base.realtime, endpoint_name=f"t-monitor-{suffix}"),
                    data=DataConfig(file=base.data.file, datasets=(training,)))
    asset = register_dataset(workspace.data_store, training, training.path)
    reference = pd.read_csv(reference_features(entry, Path(asset.uri), asset.version))
    # production traffic from the training distribution: the same generator with another seed,
    # through the model's prep and features (batch_test_data is not: it keeps the first rows
    # after prep, which orders green trips first, a small real shift of the fleet mix)
    fresh = kit.generate(tmp / "data" / "fresh", "training_data", rows=1500, seed=7)
    requests_rows = pd.read_csv(reference_features(entry, fresh, "fresh-seed-7",
                                                   cache=tmp / "cache")).sample(
        1200, random_state=1)
    names = RunNames("exp", "run", f"nyc_taxi_monitor_{suffix}", "test", "build-1")
    columns = list(kit.plugin.features)
    version, model_dir = _train_champion(workspace, reference, columns, kit.plugin.target,
                                         names.model_name)
    # the factory's online code folder, as a deployment gets it: score.py calls the collector
    code = code_folder.stage(REPO / "mlops" / "nyc_taxi" / "serving" / "online", "online",
                             tmp / "code")
    port = processes.free_port()
    env = {**collector_environment(backend="files", endpoint=entry.realtime.endpoint_name,
                                   deployment="blue", model_version=version,
                                   sampling_rate=entry.realtime.collection_sampling_rate,
                                   root=monitoring.collection_root(workspace)),
           "AZUREML_MODEL_DIR": str(model_dir), "OMP_NUM_THREADS": "1", TOKEN_ENV: TOKEN,
           "PATH": "/usr/bin:/bin"}
    proc = processes.spawn([sys.executable, "-m", "mlops.serving.inference_server",
                            "--entry_script", str(code / "score.py"), "--model_dir",
                            str(model_dir), "--port", str(port)], tmp / "server.log",
                           env=env, cwd=code)
    try:
        assert wait_until_up(f"http://127.0.0.1:{port}/", 180, headers={TOKEN_HEADER: TOKEN},
                             alive=lambda: proc.poll() is None), processes.log_tail(
            tmp / "server.log")
        yield workspace, entry, names, f"http://127.0.0.1:{port}/score", requests_rows[columns]
    finally:
        processes.kill_group(proc.pid)


def _send(url: str, rows: pd.DataFrame, label: str) -> list[str]:
    ids = []
    for start in range(0, len(rows), ROWS_PER_REQUEST):
        chunk = rows.iloc[start:start + ROWS_PER_REQUEST]
        rid = f"{label}-{start // ROWS_PER_REQUEST}"
        body = json.dumps({"input_data": chunk.to_dict(orient="records")}).encode()
        # as the front forwards it: the client's key, the request id, the deployment's token
        reply = request(url, body, key=SECRET, headers={"x-request-id": rid, TOKEN_HEADER: TOKEN},
                        timeout=60)
        assert reply.status == 200, reply.text
        ids.append(rid)
    return ids


def _monitor(workspace, entry, names, reports: Path) -> MonitorRecord:
    record = monitoring.monitor(workspace, entry, names, reports, "dev")
    stored = MonitorRecord.from_dict(json.loads(
        (reports / f"{entry.model}_monitor_dev.json").read_text()))
    assert stored == record
    return record


def test_requests_from_the_training_distribution_pass_and_nothing_secret_is_kept(
        deployed, tmp_path):
    workspace, entry, names, url, rows = deployed
    ids = _send(url, rows, "same")
    root = monitoring.collection_root(workspace) / entry.realtime.endpoint_name
    files = sorted(root.rglob("*.jsonl"))
    assert {f.relative_to(root).parts[:2] for f in files} == {("blue", "model_inputs"),
                                                             ("blue", "model_outputs")}
    collected = b"".join(f.read_bytes() for f in files)
    assert SECRET.encode() not in collected and b"Bearer" not in collected
    assert TOKEN.encode() not in collected
    logged = {json.loads(line)["correlationid"] for f in files
              for line in f.read_text().splitlines()}
    assert logged == set(ids)

    record = _monitor(workspace, entry, names, tmp_path)
    assert record.requests == len(ids) and record.current_rows == len(rows)
    assert record.drifted_columns == (), record.columns
    assert {c.column for c in record.columns} == {*rows.columns, "prediction"}
    kinds = {c.column: c.kind for c in record.columns}
    assert kinds["vendor"] == "categorical" and kinds["distance"] == "numerical"

    page = Path(record.html).resolve().as_uri()
    dom = browser.dom(page)
    assert "Dataset Drift" in dom and "distance" in dom
    assert dom.count("js-plotly-plot") >= 1  # the charts were drawn, not just the shell
    browser.screenshot(page, "monitor_report_pass")


def test_shifted_distances_fail_naming_the_column(deployed, tmp_path):
    workspace, entry, names, url, rows = deployed
    root = monitoring.collection_root(workspace) / entry.realtime.endpoint_name
    shutil.rmtree(root, ignore_errors=True)  # only the shifted traffic now
    _send(url, rows.assign(distance=rows["distance"] * 3), "shifted")
    record = _monitor(workspace, entry, names, tmp_path)
    assert "distance" in record.drifted_columns
    assert set(record.drifted_columns) <= {"distance", "prediction"}, record.columns
    drifted = {c.column: c for c in record.columns if c.drifted}
    assert drifted["distance"].score >= entry.drift_threshold
    browser.screenshot(Path(record.html).resolve().as_uri(), "monitor_report_drift")
