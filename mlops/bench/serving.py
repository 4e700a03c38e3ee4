"""Serving benchmarks, each figure beside its anchor measured in the same run (shared machines
are noisy; ratios are what the targets are about):

- online, the sample request, one client (p50) and eight clients (throughput): through the
  front, straight to the deployment (with its token), `mlflow models serve` of the same model
  with the same number of workers, and the same request parsed, checked and predicted
  in-process (the scoring path) beside the model's bare predict;
- a blue/green redeploy under load (failed requests);
- a soak (--soak-minutes, 10 in the full bench): mixed valid, invalid, oversized, slow and
  unauthenticated traffic with a redeploy and a kill -9 of each endpoint process along the
  way; requests sent, valid ones failed, the front's peak memory, the logs' size.
(Batch is an area of its own: mlops/bench/batch.py.)

Load comes from `hey` (installed with apt-get when missing and allowed, else the built-in
Python client, which the report then says). The model is nyc_taxi's champion when the
provisioned workspace has one, else a small fixture model. Everything runs on 127.0.0.1 in a
temporary endpoint registry, never touching the workspace's own endpoints."""

from __future__ import annotations

import contextlib
import csv
import http.client
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mlops.bench import SOAK_DEFAULT, Section
from mlops.serving import code_folder, processes

C1_REQUESTS = 400  # per server, over all rounds
C8_REQUESTS = 2000
CONCURRENCY = 8
ROUNDS = 4
WARMUP = 30
MODEL = "nyc_taxi"
ENDPOINT = "bench-online"


def _say(message: str) -> None:
    print(f"  serving: {message}", flush=True)


def run(config, args) -> Section:
    section = Section("serving", "Serving: online latency and throughput, redeploy, soak")
    soak_minutes = getattr(args, "soak_minutes", SOAK_DEFAULT)
    with tempfile.TemporaryDirectory(prefix="factory-bench-serving-") as tmp:
        _run(config, Path(tmp), section, soak_minutes)
    return section


# -- load clients -------------------------------------------------------------------------------
@dataclass
class Load:
    latencies: list[float] = field(default_factory=list)  # seconds, answered 200
    errors: int = 0
    wall: float = 0.0
    cpu: float = 0.0  # CPU seconds the server's processes used meanwhile

    @property
    def cpu_ms_per_request(self) -> float:
        n = len(self.latencies) + self.errors
        return self.cpu / n * 1000 if n else float("nan")

    @property
    def p50_ms(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("nan")

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


def find_hey(section: Section) -> str | None:
    """hey on PATH, else installed from Debian when this process may; None: fall back."""
    found = shutil.which("hey")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        _say("hey not found; installing it with apt-get (Debian package hey)")
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (["apt-get", "install", "-y", "-q", "hey"],
                        ["sh", "-c", "apt-get update -q && apt-get install -y -q hey"]):
            subprocess.run(command, capture_output=True, env=env, timeout=600, check=False)
            if shutil.which("hey"):
                return shutil.which("hey")
    section.notes.append("`hey` was not available and could not be installed: the online load "
                         "came from the built-in Python client (keep-alive http.client "
                         "threads), which costs more client CPU than hey on the same cores.")
    return None


def load(hey: str | None, url: str, body: Path, headers: dict[str, str], total: int,
         concurrency: int) -> Load:
    """total POSTs of body from concurrency keep-alive clients."""
    if hey:
        return _hey(hey, url, body, headers, total, concurrency)
    return _python_load(url, body.read_bytes(), headers, total, concurrency)


@dataclass(frozen=True)
class Target:
    url: str
    body: Path
    headers: dict[str, str]
    pids: Callable[[], list[int]]  # the server's processes, for its CPU time


def interleaved(hey: str | None, targets: dict[str, Target], total: int, concurrency: int,
                rounds: int = ROUNDS) -> dict[str, Load]:
    """total requests per target, sent in rounds that take turns between the targets, so a
    burst of load from other users of the machine hits all of them alike."""
    merged = {name: Load() for name in targets}
    for _ in range(rounds):
        for name, target in targets.items():
            before = processes.cpu_seconds(target.pids())
            one = load(hey, target.url, target.body, target.headers, total // rounds,
                       concurrency)
            merged[name].cpu += processes.cpu_seconds(target.pids()) - before
            merged[name].latencies += one.latencies
            merged[name].errors += one.errors
            merged[name].wall += one.wall
    return merged


def _hey(hey: str, url: str, body: Path, headers: dict[str, str], total: int,
         concurrency: int) -> Load:
    command = [hey, "-n", str(total), "-c", str(concurrency), "-m", "POST", "-T",
               "application/json", "-D", str(body), "-t", "120", "-o", "csv"]
    for name, value in headers.items():
        command += ["-H", f"{name}: {value}"]
    done = subprocess.run(command + [url], capture_output=True, text=True, timeout=1800)
    result = Load()
    end = 0.0
    for row in csv.DictReader(io.StringIO(done.stdout)):
        if row.get("status-code") == "200":
            result.latencies.append(float(row["response-time"]))
        else:
            result.errors += 1
        end = max(end, float(row["offset"]) + float(row["response-time"]))
    sent = total // concurrency * concurrency  # hey gives each client n/c requests
    result.errors = sent - len(result.latencies)  # other statuses and connection errors
    result.wall = end
    return result


def _python_load(url: str, body: bytes, headers: dict[str, str], total: int,
                 concurrency: int, stop: threading.Event | None = None) -> Load:
    """total requests (or until stop) from concurrency keep-alive clients."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    result = Load()
    lock = threading.Lock()
    counter = iter(range(total))
    headers = {"Content-Type": "application/json", **headers}

    def client() -> None:
        conn = None
        while not (stop is not None and stop.is_set()):
            with lock:
                if next(counter, None) is None:
                    return
            start = time.perf_counter()
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=180)
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError:
                ok, conn = False, None
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    result.latencies.append(elapsed)
                else:
                    result.errors += 1

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result.wall = time.perf_counter() - wall
    return result


# -- the model ----------------------------------------------------------------------------------
def _model(config, tmp: Path) -> tuple[str, Path, Path]:
    """(description, MLmodel folder, sample request) of the model to measure."""
    from mlops.naming import run_names
    from mlops.paths import resolve
    from mlops.platform.local.endpoints import champion_model

    entry = config.entry(MODEL, "dev")
    sample = resolve(entry.realtime.test_request_path)
    try:
        from mlops.infra import read_workspace

        if not json.loads(sample.read_text()).get("input_data"):
            raise ValueError(f"{sample} has no rows")
        workspace = read_workspace(config, "local")
        for env in ("dev", "pr"):  # the deployed champion, else the PR build's (same model)
            name = run_names(config.entry(MODEL, env)).model_name
            try:
                version, folder = champion_model(workspace, name, tmp / "models")
            except Exception:  # noqa: BLE001 - try the next environment
                continue
            return f"{MODEL} champion {name} v{version}", folder, sample
        raise LookupError("no champion on env dev or pr")
    except Exception as exc:  # noqa: BLE001 - any gap means: measure the fixture model instead
        reason = (str(exc) or type(exc).__name__).splitlines()[0][:120]
        _say(f"no {MODEL} champion to measure ({reason}); using the fixture model")
    from mlops.bench import _serving_model as fixture

    folder = fixture.save(tmp / "models" / "fixture" / "model")
    sample = fixture.write_sample_request(tmp / "sample-request.json", rows=3)
    return "fixture model (4 features, linear pipeline)", folder, sample


def _records(sample: Path) -> list[dict]:
    """The sample request's rows, whichever form it uses (records or columns/data)."""
    from mlops.serving.signature_input import parse_request

    return parse_request(sample.read_bytes())


# -- the run ------------------------------------------------------------------------------------
def _run(config, tmp: Path, section: Section, soak_minutes: float) -> None:
    from mlops.serving import online, settings, supervision
    from mlops.serving.registry import EndpointRegistry

    hey = find_hey(section)
    description, model_dir, sample = _model(config, tmp)
    workers = settings.default_worker_count()
    rows = len(_records(sample))
    section.notes.append(
        f"Model: {description}; each online request is the sample request ({rows} rows). "
        f"Load: {'hey' if hey else 'the Python client'}, keep-alive, on 127.0.0.1, in "
        f"{ROUNDS} rounds that take turns between the servers (all running at once). The "
        f"deployment runs azmlinfsrv with WORKER_COUNT={workers} (one per core, the default); "
        f"`mlflow models serve` runs at its default (1 worker, the target's anchor) and with "
        f"`-w {workers}`; all with OMP_NUM_THREADS=1; the in-process anchors run one thread. "
        f"The machine is shared: compare the ratios, measured in one run.")
    registry = EndpointRegistry(tmp / "endpoints")
    spec = online.OnlineSpec(endpoint=ENDPOINT, model=MODEL, model_name="bench",
                             model_version="1", model_dir=model_dir,
                             serving_dir=tmp / "no-own-script", sample_request=sample)
    mlflow_body = tmp / "mlflow-request.json"
    mlflow_body.write_text(json.dumps({"dataframe_records": _records(sample)}))
    try:
        t0 = time.monotonic()
        record = online.deploy(registry, spec, say=_say)
        section.add("online: first deploy (start, health, smoke test)",
                    time.monotonic() - t0, "s")
        key = registry.read_key(ENDPOINT)
        dep = record.live_deployment
        deployment_pids = lambda: processes.tree(dep.process.pid)  # noqa: E731
        targets = {
            "front": Target(record.scoring_uri, sample, {"Authorization": f"Bearer {key}"},
                            lambda: [record.front.pid, *deployment_pids()]),
            "deployment": Target(f"http://127.0.0.1:{dep.port}/score", sample,
                                 supervision.token_headers(registry, ENDPOINT, dep),
                                 deployment_pids)}
        with contextlib.ExitStack() as servers:
            for label, count in (("mlflow", "1"), (f"mlflow -w {workers}", workers)):
                if label == "mlflow" or workers != "1":
                    started = servers.enter_context(_mlflow_server(model_dir, tmp, count))
                    if started:
                        url, pid = started
                        targets[label] = Target(url, mlflow_body, {},
                                                lambda pid=pid: processes.tree(pid))
            for target in targets.values():
                load(hey, target.url, target.body, target.headers, WARMUP, 1)
            c1 = interleaved(hey, targets, C1_REQUESTS, 1)
            c8 = interleaved(hey, targets, C8_REQUESTS, CONCURRENCY)
        run_ms, predict_ms = _in_process(model_dir, sample, tmp)
        _report_online(section, workers, c1, c8, run_ms, predict_ms)
        _redeploy_under_load(section, registry, spec, record.scoring_uri, sample.read_bytes(),
                             key)
        if soak_minutes > 0:
            from mlops.bench import _soak

            _soak.soak(section, registry, spec, soak_minutes * 60, say=_say)
    finally:
        online.undeploy(registry, ENDPOINT)


LABELS = {"front": "through the front", "deployment": "straight to the deployment",
          "mlflow": "`mlflow models serve` (its default, 1 worker)"}


def _report_online(section: Section, workers: str, c1: dict[str, Load], c8: dict[str, Load],
                   run_ms: float, predict_ms: float) -> None:
    for name in c1:
        label = LABELS.get(name, f"`{name.replace('mlflow', 'mlflow models serve')}`")
        errors = c1[name].errors + c8[name].errors
        section.add(f"online {label}: errors", errors, "requests", "0", errors == 0)
        section.add(f"online {label}: p50 at c=1", c1[name].p50_ms, "ms")
        section.add(f"online {label}: throughput at c={CONCURRENCY}", c8[name].rps, "req/s")
        section.add(f"online {label}: server CPU per request at c={CONCURRENCY}",
                    c8[name].cpu_ms_per_request, "ms")
    section.add("in-process: the scoring path (parse, check, frame, predict) p50", run_ms, "ms")
    section.add("in-process: the model's predict alone p50", predict_ms, "ms")
    front1, front8 = c1["front"], c8["front"]
    ratio = front1.p50_ms / c1["deployment"].p50_ms
    section.add("ratio: p50 c=1 front / deployment", ratio, "", "<= 1.2", ratio <= 1.2)
    if "mlflow" in c1:
        ratio = front1.p50_ms / c1["mlflow"].p50_ms
        section.add("ratio: p50 c=1 front / mlflow models serve", ratio, "", "<= 1.0",
                    ratio <= 1.0)
        ratio = front8.rps / c8["mlflow"].rps
        section.add(f"ratio: throughput c={CONCURRENCY} front / mlflow models serve (default)",
                    ratio, "", ">= 2", ratio >= 2)
    if f"mlflow -w {workers}" in c8:
        section.add(f"ratio: throughput c={CONCURRENCY} front / mlflow models serve -w "
                    f"{workers} (as many workers)", front8.rps / c8[f"mlflow -w {workers}"].rps,
                    "")
    if "mlflow" in c8:
        cost = c8["mlflow"].cpu_ms_per_request / front8.cpu_ms_per_request
        section.add("ratio: server CPU per request, mlflow models serve / front + deployment "
                    "(robust to other load on the machine)", cost, "")
        section.add(f"estimate: throughput c={CONCURRENCY} front / mlflow models serve "
                    f"(default) on {workers} idle cores, from those CPU costs",
                    cost * int(workers), "", ">= 2", cost * int(workers) >= 2)
    section.add("ratio: p50 front c=1 / in-process scoring path", front1.p50_ms / run_ms, "")
    section.add("ratio: in-process scoring path / model predict", run_ms / predict_ms, "")


@contextlib.contextmanager
def _mlflow_server(model_dir: Path, tmp: Path, workers: str
                   ) -> Iterator[tuple[str, int] | None]:
    """`mlflow models serve` of the model with this many workers: its /invocations URL and
    pid, or None when it does not start (said, not fatal)."""
    from mlops.serving import settings
    from mlops.serving.client import wait_until_up

    port = processes.free_port()
    log = tmp / f"mlflow-serve-{workers}.log"
    bin_dir = str(Path(sys.executable).parent)  # mlflow runs `uvicorn` by name
    env = {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
           **settings.DEPLOYMENT_DEFAULTS}
    proc = processes.spawn([sys.executable, "-m", "mlflow", "models", "serve", "-m",
                            str(model_dir), "--env-manager", "local", "-h", "127.0.0.1",
                            "-p", str(port), "-w", workers], log, env=env)
    started = processes.start_time(proc.pid)
    try:
        if wait_until_up(f"http://127.0.0.1:{port}/ping", settings.READY_TIMEOUT_S,
                         alive=lambda: proc.poll() is None):
            yield f"http://127.0.0.1:{port}/invocations", proc.pid
        else:
            _say(f"`mlflow models serve -w {workers}` did not start: "
                 f"{processes.log_tail(log, 5)}")
            yield None
    finally:
        processes.stop(proc.pid, started)


def _in_process(model_dir: Path, sample: Path, tmp: Path, calls: int = 300
                ) -> tuple[float, float]:
    """p50 ms of the staged online score.py's run() on the sample request, and of the
    model's predict on the frame run() builds: one thread, model loaded once."""
    import importlib.util

    from threadpoolctl import threadpool_limits

    code = code_folder.stage(tmp / "no-own-script", "online", tmp / "in-process-code")
    os.environ["AZUREML_MODEL_DIR"] = str(model_dir)
    spec = importlib.util.spec_from_file_location("bench_online_score", code / "score.py")
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    score.init()
    body = sample.read_text()
    from signature_input import parse_request, rows_to_frame  # staged beside score.py

    frame = rows_to_frame(parse_request(body), score.model.columns)

    def p50(call) -> float:
        times = []
        for _ in range(calls):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
        return statistics.median(times) * 1000

    with threadpool_limits(1):
        p50(lambda: score.run(body))  # warm-up
        return p50(lambda: score.run(body)), p50(lambda: score.model.predict(frame))


def _redeploy_under_load(section: Section, registry, spec, url: str, body: bytes,
                         key: str) -> None:
    from mlops.serving import online

    stop = threading.Event()
    result: dict = {}
    loader = threading.Thread(target=lambda: result.update(load=_python_load(
        url, body, {"Authorization": f"Bearer {key}"}, 1_000_000, 4, stop=stop)))
    loader.start()
    try:
        time.sleep(1.0)
        t0 = time.monotonic()
        online.deploy(registry, spec, force=True, say=_say)
        seconds = time.monotonic() - t0
        time.sleep(1.0)
    finally:
        stop.set()
        loader.join(300)
    done = result.get("load", Load())
    section.add(f"redeploy under load: failed requests (of "
                f"{len(done.latencies) + done.errors} sent during the swap)", done.errors,
                "requests", "0", done.errors == 0)
    section.add("redeploy under load: blue/green swap time", seconds, "s")
