"""Serving benchmarks: a local online endpoint (key-auth front + azmlinfsrv) under 1,000
requests at concurrency 8, beside `mlflow models serve` of the same model in the same run;
a blue/green redeploy under that load (failed requests); batch scoring of 100,000 rows.

The model is nyc_taxi's champion when the provisioned workspace has one and its sample request
has rows, else a small fixture model in a temporary registry. Everything runs on 127.0.0.1 in
a temporary endpoint registry, never touching the workspace's own endpoints."""

from __future__ import annotations

import http.client
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

from mlops.bench import Section
from mlops.serving import code_folder, processes

REQUESTS = 1000
CONCURRENCY = 8
BATCH_ROWS = 100_000
BATCH_FILES = 20
MODEL = "nyc_taxi"


def _say(message: str) -> None:
    print(f"  serving: {message}", flush=True)


def run(config, args) -> Section:
    section = Section("serving", "Serving: online endpoint, redeploy, batch")
    with tempfile.TemporaryDirectory(prefix="factory-bench-serving-") as tmp:
        _run(config, Path(tmp), section)
    return section


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
    from mlops.paths import local_workspace

    workspace = local_workspace(config.infra_env("dev"), tmp / "state")
    version = fixture.train_and_register(workspace, "bench_fixture_model")
    _, folder = champion_model(workspace, "bench_fixture_model", tmp / "models")
    sample = fixture.write_sample_request(tmp / "sample-request.json", rows=2)
    return f"fixture model v{version} (4 features, linear)", folder, sample


def _records(sample: Path) -> list[dict]:
    """The sample request's rows, whichever form it uses (records or columns/data)."""
    from mlops.serving.signature_input import parse_request

    return parse_request(sample.read_bytes())


def _run(config, tmp: Path, section: Section) -> None:
    from mlops.serving import online
    from mlops.serving.registry import EndpointRegistry

    description, model_dir, sample = _model(config, tmp)
    rows = len(_records(sample))
    section.notes.append(f"Model: {description}; each request carries the sample request "
                         f"({rows} rows). Both servers run 1 worker process (WORKER_COUNT=1, "
                         f"`-w 1`) with OMP_NUM_THREADS=1 (the endpoint default: with OpenMP "
                         f"threads on 2 shared cores the nyc_taxi model's p50 was 764 ms); "
                         f"clients keep connections alive; all on 127.0.0.1.")
    entry = config.entry(MODEL, "dev")
    registry = EndpointRegistry(tmp / "endpoints")
    spec = online.OnlineSpec(endpoint="bench-online", model=MODEL, model_name="bench",
                             model_version="1", model_dir=model_dir,
                             code_dir=entry.model_dir / "serving" / "online",
                             sample_request=sample, environment={"WORKER_COUNT": "1"})
    try:
        t0 = time.monotonic()
        record = online.deploy(registry, spec, say=_say)
        section.add("online endpoint: first deploy (start, health, smoke test)",
                    time.monotonic() - t0, "s")
        key = registry.read_key("bench-online")
        body = sample.read_bytes()
        stats = _load_test(record["scoring_uri"], body, {"Authorization": f"Bearer {key}"})
        _report(section, "online endpoint (front + azmlinfsrv)", stats)
        _mlflow_serve(section, model_dir, sample, tmp)
        _redeploy_under_load(section, registry, spec, record["scoring_uri"], body, key)
    finally:
        online.undeploy(registry, "bench-online")
    _batch(section, entry, model_dir, sample, tmp)


def _load_test(url: str, body: bytes, headers: dict[str, str], total: int = REQUESTS,
               concurrency: int = CONCURRENCY, stop: threading.Event | None = None) -> dict:
    """total requests (or until stop) from concurrency keep-alive clients."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    latencies: list[float] = []
    errors: list[str] = []
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
                    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
                conn.request("POST", parts.path, body=body, headers=headers)
                response = conn.getresponse()
                response.read()
                ok = response.status == 200
                if response.getheader("Connection", "").lower() == "close":
                    conn.close()
                    conn = None
            except OSError as exc:
                ok, conn = False, None
                response = exc
            elapsed = time.perf_counter() - start
            with lock:
                if ok:
                    latencies.append(elapsed)
                else:
                    errors.append(str(getattr(response, "status", response)))

    for _ in range(20):  # warm-up, not measured
        try:
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
            conn.request("POST", parts.path, body=body, headers=headers)
            conn.getresponse().read()
            conn.close()
        except OSError:
            pass
    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    wall = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - wall
    return {"latencies": latencies, "errors": errors, "wall": wall}


def _report(section: Section, label: str, stats: dict) -> None:
    latencies = sorted(stats["latencies"])
    n = len(latencies) + len(stats["errors"])
    section.add(f"{label}: errors in {n} requests at concurrency {CONCURRENCY}",
                len(stats["errors"]), "requests", "0", not stats["errors"])
    if latencies:
        p99 = latencies[min(len(latencies) - 1, int(round(0.99 * len(latencies))) - 1)]
        section.add(f"{label}: p50 latency", statistics.median(latencies) * 1000, "ms")
        section.add(f"{label}: p99 latency", p99 * 1000, "ms")
        section.add(f"{label}: throughput", len(latencies) / stats["wall"], "req/s")


def _mlflow_serve(section: Section, model_dir: Path, sample: Path, tmp: Path) -> None:
    from mlops.serving.client import wait_until_up

    port = processes.free_port()
    log = tmp / "mlflow-serve.log"
    proc = processes.spawn([sys.executable, "-m", "mlflow", "models", "serve", "-m",
                            str(model_dir), "--env-manager", "local", "-h", "127.0.0.1",
                            "-p", str(port), "-w", "1"], log, env=_with_venv_path())
    started = processes.start_time(proc.pid)
    try:
        if not wait_until_up(f"http://127.0.0.1:{port}/ping", 180,
                             alive=lambda: proc.poll() is None):
            section.notes.append(f"`mlflow models serve` did not start: "
                                 f"{processes.log_tail(log, 5)}")
            return
        body = json.dumps({"dataframe_records": _records(sample)}).encode()
        stats = _load_test(f"http://127.0.0.1:{port}/invocations", body, {})
        _report(section, "mlflow models serve", stats)
    finally:
        processes.stop(proc.pid, started)


def _with_venv_path() -> dict[str, str]:
    """mlflow runs `uvicorn` by name: find it in this interpreter's environment."""
    import os

    from mlops.serving import online

    bin_dir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": os.pathsep.join([bin_dir, os.environ.get("PATH", "")]),
            **online.SERVING_DEFAULTS}  # same thread settings as the endpoint


def _redeploy_under_load(section: Section, registry, spec, url: str, body: bytes,
                         key: str) -> None:
    from mlops.serving import online

    stop = threading.Event()
    result: dict = {}
    loader = threading.Thread(target=lambda: result.update(_load_test(
        url, body, {"Authorization": f"Bearer {key}"}, total=50_000, stop=stop)))
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
    done = len(result.get("latencies", [])) + len(result.get("errors", []))
    section.add(f"redeploy under load: failed requests (of {done} sent during the swap)",
                len(result.get("errors", [])), "requests", "0", not result.get("errors"))
    section.add("redeploy under load: blue/green swap time", seconds, "s")


def _batch(section: Section, entry, model_dir: Path, sample: Path, tmp: Path) -> None:
    import pandas as pd

    from mlops.serving.batch import BatchSpec, run_batch

    records = _records(sample)
    per_file = BATCH_ROWS // BATCH_FILES
    frame = pd.DataFrame(records * (per_file // len(records) + 1)).head(per_file)
    folder = tmp / "batch-input"
    folder.mkdir()
    for n in range(BATCH_FILES):
        frame.to_csv(folder / f"part-{n:03d}.csv", index=False)
    batch = entry.batch
    code = code_folder.stage(entry.model_dir / "serving" / "batch", tmp / "batch-code")
    spec = BatchSpec(endpoint="bench-batch", score_path=code / "score.py",
                     model_dir=model_dir.parent, mini_batch_size=batch.mini_batch_size,
                     concurrency=batch.concurrency, max_retries=batch.max_retries,
                     retry_timeout=batch.retry_timeout)
    result = run_batch(spec, folder, tmp / "batch-job", say=lambda _: None)
    section.add(f"batch: {result.rows:,} rows in {BATCH_FILES} files, concurrency "
                f"{batch.concurrency}, mini batch {batch.mini_batch_size} (incl. worker start)",
                result.rows / result.seconds, "rows/s")
    section.add("batch: rows written (one per input row)", result.rows, "rows",
                f"= {BATCH_FILES * per_file:,}", result.rows == BATCH_FILES * per_file)
