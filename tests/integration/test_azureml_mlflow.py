"""The steps against Azure ML's MLflow server, offline. A real `mlflow server` (SQLite, served
artifacts) sits behind a filter that implements only the MLflow REST endpoints Azure ML
documents (IMPLEMENTED, each with its source) and answers every other one as Azure ML does
(404 with an empty body). The steps run against it in Azure mode as an Azure ML job runs them
(FACTORY_AZUREML_MLFLOW=1, MLFLOW_RUN_ID set to a run made beforehand): train, predict, score
and register for a regressor, train and register for a classifier. They pass, the champion tag
moves from version to version, and the filter refuses none of their calls. The negative checks show it refuses
what MLflow 3 sends for log_model, aliases and searches (NOT_IMPLEMENTED, with sources).

Why an allow-list: Azure ML documents what its server implements, while MLflow adds endpoints
with every release (about 150 in MLflow 3.17); a call nobody documented is refused here, so a
step that starts to depend on one fails here rather than in an Azure ML job.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import numpy as np
import pytest
from test_register_gate import classification_data, regression_data, save_model

pytestmark = [pytest.mark.integration, pytest.mark.slow]

LEARN = "https://learn.microsoft.com/azure/machine-learning/"
# "Support matrix for querying runs and experiments"
TRACK = LEARN + "how-to-track-experiments-mlflow"
# "Review supported capabilities for managing models" (the registry's support matrix)
MANAGE = LEARN + "how-to-manage-models-mlflow"
# logging params, metrics, tags and files to a job's run
LOG = LEARN + "how-to-log-view-metrics"
API = "/api/2.0/mlflow/"


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str  # under /api/2.0/mlflow/
    source: str


IMPLEMENTED = (
    # experiments: create, query, delete and search are supported; renaming is not (TRACK)
    Endpoint("POST", "experiments/create", TRACK),
    Endpoint("GET", "experiments/get", TRACK),
    Endpoint("GET", "experiments/get-by-name", TRACK),
    Endpoint("POST", "experiments/search", TRACK),
    Endpoint("POST", "experiments/delete", TRACK),
    # runs: an Azure ML job is a run the job's code resumes (MLFLOW_RUN_ID) and logs to
    Endpoint("POST", "runs/create", LEARN + "how-to-use-mlflow-cli-runs (mlflow.start_run)"),
    Endpoint("GET", "runs/get", LEARN + "how-to-use-mlflow-cli-runs (mlflow.get_run)"),
    # azureml-mlflow 1.62.0.post6 (_store/tracking/store.py) sends it for every run but the
    # job's own, whose status Azure ML keeps
    Endpoint("POST", "runs/update", LEARN + "how-to-use-mlflow-cli-runs (mlflow.end_run)"),
    Endpoint("POST", "runs/log-batch", LOG + " (log_metrics, log_params, set_tags)"),
    Endpoint("POST", "runs/log-metric", LOG + " (log_metric)"),
    Endpoint("POST", "runs/log-parameter", LOG + " (log_param)"),
    Endpoint("POST", "runs/set-tag", LOG + " (set_tag)"),
    Endpoint("POST", "runs/search", TRACK),
    Endpoint("POST", "runs/delete", TRACK),
    Endpoint("GET", "metrics/get-history", TRACK + " (get_metric_history)"),
    # the model registry (MANAGE)
    Endpoint("POST", "registered-models/create", MANAGE + " (register_model)"),
    Endpoint("GET", "registered-models/get", MANAGE + " (get_registered_model)"),
    # by name only: no LIKE/ILIKE, no tags (see registry_search_refusal)
    Endpoint("GET", "registered-models/search", MANAGE + " (search_registered_models)"),
    Endpoint("POST", "registered-models/get-latest-versions", MANAGE + " (get_latest_versions)"),
    Endpoint("POST", "model-versions/create", MANAGE + " (register_model, runs:/ sources)"),
    Endpoint("GET", "model-versions/get", MANAGE + " (get_model_version)"),
    Endpoint("GET", "model-versions/get-download-uri", MANAGE + " (models:/<name>/<version>)"),
    Endpoint("PATCH", "model-versions/update", MANAGE + " (update_model_version)"),
    Endpoint("POST", "model-versions/set-tag", MANAGE + " (set_model_version_tag)"),
    Endpoint("DELETE", "model-versions/delete-tag", MANAGE + " (delete_model_version_tag)"),
    Endpoint("POST", "model-versions/transition-stage", MANAGE + " (model stages)"),
    Endpoint("DELETE", "model-versions/delete", MANAGE + " (delete_model_version)"),
)
# Named because MLflow 3 calls them and a step might be tempted to; refused like every
# endpoint that is not in IMPLEMENTED.
NOT_IMPLEMENTED = {
    "logged-models": "404 on Azure ML from MLflow 3's log_model: Azure/azure-sdk-for-python#44896 "
                     "(2026-01), Azure/azureml-examples#3885 and #3891 (2026-04)",
    "registered-models/alias": "registry aliases: not in the registry support matrix (MANAGE)",
    "model-versions/search": "not in the registry support matrix (MANAGE): search is by "
                             "registered-model name only",
    "registered-models/rename": "registered models are immutable in Azure ML (MANAGE, note 3)",
    "registered-models/delete": "registered models are immutable in Azure ML (MANAGE, note 3)",
    "experiments/update": "renaming experiments is not supported (TRACK)",
    "runs/log-model": "MLflow 2's log_model metadata call fails on Azure ML: mlflow/mlflow#11103",
    "/api/3.0/": "azureml-mlflow 1.62.0.post6 (_store/azureml_reststore.py) points MLflow 3 "
                 "clients at the workspace's v2.0 API: 'V3 API not implemented yet'",
}
_IMPLEMENTED = {(e.method, e.path) for e in IMPLEMENTED}
# Artifacts: on Azure ML they go through azureml-mlflow's own artifact repository (its
# mlflow.artifact_repository entry point) to the workspace's storage, not through the MLflow
# REST API, so here the server's artifact proxy stands in for that store and passes unfiltered
# (with the capability probe MLflow's proxy client makes before it downloads).
ARTIFACT_STAND_IN = ("/api/2.0/mlflow-artifacts/", "/api/3.0/mlflow/server-info")


def registry_search_refusal(query: str) -> bytes | None:
    """Azure ML searches registered models by name only; MLflow 3's client always adds a tag
    filter (excluding prompts), which Azure ML rejects with this body (400):
    Azure/azure-sdk-for-python#42155 (2025-07)."""
    text = " ".join(parse_qs(query).get("filter", []))
    if "tag." not in text and not re.search(r"\bI?LIKE\b", text, re.IGNORECASE):
        return None
    return json.dumps({"Error": {"Code": "UserError", "Message": "Currently unsupported filter "
                                 f"string format. Provided filter string: {text}"},
                       "ComponentName": "mlflow", "statusCode": 400,
                       "error_code": "INVALID_PARAMETER_VALUE"}).encode()


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    refused: bool


class AzureMLflowFilter:
    """An HTTP front for a real MLflow server that answers like Azure ML's MLflow server."""

    def __init__(self, upstream_port: int):
        self.upstream_port = upstream_port
        self.calls: list[Call] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    @property
    def refused(self) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.refused]

    def reset(self) -> None:
        with self._lock:
            self.calls.clear()

    def endpoints(self) -> set[tuple[str, str]]:
        with self._lock:
            return {(c.method, c.path.removeprefix(API)) for c in self.calls
                    if c.path.startswith(API)}

    def refusal(self, method: str, path: str, query: str) -> tuple[int, bytes] | None:
        if path.startswith(ARTIFACT_STAND_IN):
            return None
        endpoint = path.removeprefix(API) if path.startswith(API) else None
        if (method, endpoint) not in _IMPLEMENTED:
            return 404, b""  # Azure ML's answer: "404 != 200. Response body: ''" (#44896)
        if endpoint == "registered-models/search":
            body = registry_search_refusal(query)
            return (400, body) if body else None
        return None

    def _record(self, call: Call) -> None:
        with self._lock:
            self.calls.append(call)

    def _handler(self):
        front = self

        class Handler(BaseHTTPRequestHandler):
            def _body(self) -> bytes:
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    chunks = []
                    while size := int(self.rfile.readline().strip() or b"0", 16):
                        chunks.append(self.rfile.read(size))
                        self.rfile.readline()
                    self.rfile.readline()
                    return b"".join(chunks)
                return self.rfile.read(int(self.headers.get("Content-Length") or 0))

            def _reply(self, status: int, body: bytes, headers=()) -> None:
                self.send_response(status)
                for key, value in headers:
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def _serve(self) -> None:
                parts = urlsplit(self.path)
                body = self._body()
                refusal = front.refusal(self.command, parts.path, parts.query)
                if refusal:
                    front._record(Call(self.command, parts.path, refusal[0], True))
                    self._reply(refusal[0], refusal[1], [("Content-Type", "application/json")]
                                if refusal[1] else [])
                    return
                upstream = http.client.HTTPConnection("127.0.0.1", front.upstream_port,
                                                      timeout=120)
                try:
                    headers = {k: v for k, v in self.headers.items()
                               if k.lower() not in ("host", "transfer-encoding", "connection",
                                                    "content-length")}
                    upstream.request(self.command, self.path, body=body, headers=headers)
                    answer = upstream.getresponse()
                    data = answer.read()
                finally:
                    upstream.close()
                front._record(Call(self.command, parts.path, answer.status, False))
                self._reply(answer.status, data, [
                    (k, v) for k, v in answer.getheaders()
                    if k.lower() not in ("content-length", "transfer-encoding", "connection")])

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, *args) -> None:  # the calls are recorded, not printed
                pass

        return Handler


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
    return {**env, "MLFLOW_DISABLE_TELEMETRY": "true", **extra}


@dataclass
class Harness:
    upstream: str  # the real server: what the harness itself (as Azure ML) uses
    front: AzureMLflowFilter  # what the steps talk to
    experiment_id: str

    def client(self):
        from mlflow.tracking import MlflowClient

        return MlflowClient(self.upstream, self.upstream)  # never a registry another test set

    def new_run(self) -> str:
        """A run made before the step starts, as Azure ML makes one per job."""
        return self.client().create_run(self.experiment_id).info.run_id

    def step(self, kit, script: str, *args, run_id: str | None = None):
        """Run a step in Azure mode against the filter, with a run of its own; fails when
        the filter refused any of its calls."""
        run_id = run_id or self.new_run()
        self.front.reset()
        env = kit.env(MLFLOW_TRACKING_URI=self.front.url, MLFLOW_RUN_ID=run_id,
                      FACTORY_AZUREML_MLFLOW="1", MLFLOW_DISABLE_TELEMETRY="true")
        result = kit.run(script, *args, env=env, check=False)
        refused = [f"{c.method} {c.path} -> {c.status}" for c in self.front.refused]
        assert not refused, (f"{script} called what Azure ML's MLflow server does not "
                             f"implement: {refused}\n{(result.stdout + result.stderr)[-2000:]}")
        assert result.returncode == 0, (f"{script} failed ({result.returncode}):\n"
                                        f"{(result.stdout + result.stderr)[-3000:]}")
        return run_id, result


@pytest.fixture(scope="module")
def azure_mlflow(tmp_path_factory):
    """A real MLflow server (started once for the module) behind the Azure ML filter."""
    root = tmp_path_factory.mktemp("azureml-mlflow")
    port = _free_port()
    log = (root / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1", "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}",
         "--serve-artifacts", "--artifacts-destination", str(root / "artifacts")],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        env=_clean_env(MLFLOW_SERVER_ENABLE_JOB_EXECUTION="false"))
    upstream = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 300  # database migrations and imports: slow when busy
        while True:
            if server.poll() is not None:
                pytest.fail(f"mlflow server exited ({server.returncode}):\n"
                            f"{(root / 'server.log').read_text()[-3000:]}")
            try:
                with urllib.request.urlopen(f"{upstream}/health", timeout=5) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server not ready after 300 s:\n"
                            f"{(root / 'server.log').read_text()[-3000:]}")
            time.sleep(0.5)
        from mlflow.tracking import MlflowClient

        experiment = MlflowClient(upstream, upstream).create_experiment("azure-steps")
        front = AzureMLflowFilter(port)
        yield Harness(upstream, front, experiment)
        front.server.shutdown()
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the workers it started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


@dataclass
class AzureRun:
    """One plugin's steps in Azure mode: train, then two registrations that move the tag."""

    harness: Harness
    kit: object
    folder: Path
    metric: str
    name: str

    @property
    def client(self):
        return self.harness.client()

    def train(self, data) -> str:
        (self.folder / "tr").mkdir()
        data(3, rows=400).to_csv(self.folder / "tr" / "transformed.csv", index=False)
        run, _ = self.harness.step(self.kit, "step_train.py", "--training_data",
                                   self.folder / "tr", "--model_output", self.folder / "model",
                                   "--test_data", self.folder / "test", "--max_iter", "60")
        logged = self.client.get_run(run)
        assert self.metric in logged.data.metrics and logged.data.params["max_iter"] == "60"
        assert "diagnostic.png" in [a.path for a in self.client.list_artifacts(run)]
        return run

    def register(self, model: Path, threshold: float, out: str) -> dict:
        self.harness.step(self.kit, "step_register.py", "--model_path", model, "--test_data",
                          self.folder / "test", "--model_name", self.name, "--gate_metric",
                          self.metric, "--gate_threshold", threshold, "--registration",
                          self.folder / out)
        return json.loads((self.folder / out / "decision.json").read_text())

    def champions(self) -> list[str]:
        """Versions tagged champion, read on the real server (as Azure ML studio shows them)."""
        tag = self.kit.src("factory_steps.registry").CHAMPION_TAG
        return sorted(v.version for v in self.client.search_model_versions(f"name='{self.name}'")
                      if v.tags.get(tag) == "true")

    def weak_then_trained(self, weak_model: Path, lax: float) -> dict:
        """A weak first champion, then the trained model beats it: the tag moves to v2 (and
        the previous one loses it through delete-tag); no alias is ever set."""
        first = self.register(weak_model, lax, "reg1")
        assert first["registered"] and first["model_version"] == "1"
        assert self.champions() == ["1"]
        second = self.register(self.folder / "model", lax, "reg2")
        assert second["registered"] and second["champion_version"] == "1"
        assert second["model_version"] == "2" and self.champions() == ["2"]
        assert ("DELETE", "model-versions/delete-tag") in self.harness.front.endpoints()
        assert self.client.get_registered_model(self.name).aliases == {}
        version = self.client.get_model_version(self.name, "2")
        assert version.tags["factory.model_digest"] == second["model_digest"]
        return second


def test_a_regressor_trains_predicts_scores_and_registers_on_azure_mlflow(
        azure_mlflow, plugin_factory, tmp_path):
    from sklearn.dummy import DummyRegressor

    kit = plugin_factory("regression", ["distance", "passengers"], "fare")
    flow = AzureRun(azure_mlflow, kit, tmp_path, "r2", "azure_regressor")
    flow.train(regression_data)
    azure_mlflow.step(kit, "step_predict.py", "--model_input", tmp_path / "model",
                      "--test_data", tmp_path / "test", "--predictions", tmp_path / "pred")
    score_run, _ = azure_mlflow.step(kit, "step_score.py", "--predictions", tmp_path / "pred",
                                     "--score_report", tmp_path / "score")
    assert "r2" in flow.client.get_run(score_run).data.metrics
    weak = save_model(kit, tmp_path / "weak", regression_data(4), DummyRegressor())
    second = flow.weak_then_trained(weak, -1.0)

    # a version registered by hand (untagged) is the newest, but not the champion: the step
    # reads past it to version 2, evaluates that, and keeps it
    hand = flow.client.get_model_version(flow.name, "1")
    flow.client.create_model_version(flow.name, hand.source, run_id=hand.run_id)
    third = flow.register(weak, -1.0, "reg3")
    assert third["champion_version"] == "2" and not third["registered"]
    assert third["champion"] == pytest.approx(second["candidate"])
    assert flow.champions() == ["2"]


def test_a_classifier_trains_and_registers_on_azure_mlflow(azure_mlflow, plugin_factory,
                                                           tmp_path):
    from sklearn.dummy import DummyClassifier

    kit = plugin_factory("classification", ["size", "shape"], "label")
    flow = AzureRun(azure_mlflow, kit, tmp_path, "roc_auc", "azure_classifier")
    flow.train(classification_data)
    weak = save_model(kit, tmp_path / "weak", classification_data(4),
                      DummyClassifier(strategy="prior"))
    flow.weak_then_trained(weak, 0.4)


def test_the_filter_refuses_what_azure_ml_does_not_implement(azure_mlflow):
    """The negative check: what MLflow 3 itself sends for log_model, aliases and searches is
    refused, with Azure ML's answers, so the steps passing above means something."""
    import mlflow
    import mlflow.sklearn
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient
    from sklearn.linear_model import LinearRegression

    front = azure_mlflow.front
    client = MlflowClient(front.url, front.url)
    front.reset()
    client.create_registered_model("refused")  # implemented: passes

    def refused(call, code):
        with pytest.raises(MlflowException) as raised:
            call()
        assert raised.value.error_code == code, raised.value

    refused(lambda: client.set_registered_model_alias("refused", "champion", "1"),
            "ENDPOINT_NOT_FOUND")
    refused(lambda: client.get_model_version_by_alias("refused", "champion"),
            "ENDPOINT_NOT_FOUND")
    refused(lambda: client.search_model_versions("name='refused'"), "ENDPOINT_NOT_FOUND")
    refused(lambda: client.search_registered_models("name='refused'"),
            "INVALID_PARAMETER_VALUE")  # MLflow 3 adds a tag filter (#42155)
    mlflow.set_tracking_uri(front.url)
    try:
        with mlflow.start_run(experiment_id=azure_mlflow.experiment_id):
            model = LinearRegression().fit(np.arange(6.0).reshape(3, 2), [1.0, 2.0, 3.0])
            refused(lambda: mlflow.sklearn.log_model(model, name="model"), "ENDPOINT_NOT_FOUND")
    finally:
        mlflow.set_tracking_uri(None)
    seen = {(c.method, c.path.removeprefix(API), c.status) for c in front.refused}
    assert seen >= {("POST", "registered-models/alias", 404),
                    ("GET", "registered-models/alias", 404),
                    ("GET", "model-versions/search", 404),
                    ("GET", "registered-models/search", 400),
                    ("POST", "logged-models", 404)}
    assert all(c.path.startswith(API) for c in front.refused)
    for named in NOT_IMPLEMENTED:  # and each endpoint named with its source, requested raw
        path = f"{named}mlflow/traces" if named.startswith("/") else API + named
        for method in ("GET", "POST"):
            request = urllib.request.Request(front.url + path, data=b"{}", method=method)
            with pytest.raises(urllib.error.HTTPError) as answer:
                urllib.request.urlopen(request, timeout=30)
            assert (answer.value.code, answer.value.read()) == (404, b""), (method, path)


def test_every_endpoint_the_filter_refuses_by_name_is_left_out_of_the_implemented_list():
    implemented = {e.path for e in IMPLEMENTED}
    assert not implemented & set(NOT_IMPLEMENTED)
    assert all(e.source.startswith(LEARN) for e in IMPLEMENTED)
