"""The local batch endpoint: runs a model's batch score.py over a folder of files as Azure ML
batch deployments do — MINI_BATCH_SIZE files per mini batch, CLUSTER_INSTANCE_COUNT x
MAX_CONCURRENCY_PER_INSTANCE worker processes, each mini batch retried MAX_RETRIES times with
RETRY_TIMEOUT seconds per attempt — and writes OUTPUT_FILE_NAME (append_row: every returned
row) plus errors.json. A mini batch that still fails is split into single files, so one bad
file never loses the other files' predictions; the file that fails is named in errors.json."""

from __future__ import annotations

import json
import os
import queue
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlops.errors import FactoryError

WORKER_START_TIMEOUT_S = 300.0  # init() loads the model; not part of RETRY_TIMEOUT
ERRORS_FILE = "errors.json"


class BatchError(FactoryError):
    """The batch job could not run at all (no input files, workers cannot start)."""


@dataclass(frozen=True)
class BatchSpec:
    endpoint: str
    score_path: Path  # the batch score.py (in the deployment's code snapshot)
    model_dir: Path  # AZUREML_MODEL_DIR: a folder with the MLmodel folder inside
    mini_batch_size: int
    concurrency: int
    max_retries: int
    retry_timeout: float
    output_file_name: str = "predictions.csv"


@dataclass
class BatchResult:
    output: Path
    errors_path: Path
    rows: int
    files: int
    mini_batches: int
    failed_files: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def summary(self) -> dict:
        return {"output": str(self.output), "errors": str(self.errors_path), "rows": self.rows,
                "files": self.files, "mini_batches": self.mini_batches,
                "failed_files": self.failed_files, "seconds": round(self.seconds, 3)}


def input_files(folder: Path) -> list[Path]:
    """The files of a uri_folder input, in a stable order (hidden files skipped)."""
    if not folder.is_dir():
        raise BatchError(f"batch input {folder} is not a folder")
    files = sorted(p for p in folder.rglob("*") if p.is_file()
                   and not any(part.startswith(".") for part in p.relative_to(folder).parts))
    if not files:
        raise BatchError(f"batch input {folder} has no files to score")
    return files


@dataclass
class _Task:
    index: int  # position of its first file, keeps output order = input order
    files: list[Path]
    label: str


class _Worker:
    """A worker process and the pipe to it; restarted after a crash or a timeout."""

    def __init__(self, spec: BatchSpec):
        self.spec, self.process, self.conn = spec, None, None

    def ensure(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        import socket
        import sys
        from multiprocessing.connection import Connection

        ours, theirs = socket.socketpair()
        try:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "mlops.serving._batch_worker", "--fd",
                 str(theirs.fileno()), str(self.spec.score_path), str(self.spec.model_dir)],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), env=_worker_env())
        finally:
            theirs.close()
        self.conn = Connection(ours.detach())
        if not self.conn.poll(WORKER_START_TIMEOUT_S):
            self.kill()
            raise BatchError(f"{self.spec.endpoint}: batch worker did not start within "
                             f"{WORKER_START_TIMEOUT_S:.0f} s")
        try:
            status, _, detail = self.conn.recv()
        except (EOFError, OSError):
            status, detail = "died", f"exit code {self.process.wait(5)}"
        if status != "ready":
            self.kill()
            raise BatchError(f"{self.spec.endpoint}: batch score.py init() failed:\n{detail}")

    def run(self, task_id: int, files: list[Path], timeout: float):
        """("ok", frame) or ("error", message)."""
        self.ensure()
        try:
            self.conn.send((task_id, [str(f) for f in files]))
            if not self.conn.poll(timeout):
                self.kill()
                return "error", f"timed out after {timeout:g} s (RETRY_TIMEOUT)"
            status, _, payload = self.conn.recv()
        except (EOFError, OSError):
            code = self.process.wait(5) if self.process else None
            self.kill()
            return "error", f"worker process died (exit code {code})"
        return status, payload

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
        if self.process is not None:
            self.process.wait(10)
        if self.conn is not None:
            self.conn.close()
        self.process, self.conn = None, None

    def close(self) -> None:
        if self.process is not None and self.process.poll() is None:
            try:
                self.conn.send(None)
                self.process.wait(5)
            except (OSError, ValueError, subprocess.TimeoutExpired):
                pass
        self.kill()


def _worker_env() -> dict[str, str]:
    """Workers already run in parallel: one OpenMP thread each unless the user chose."""
    return {"OMP_NUM_THREADS": "1", **os.environ}


def run_batch(spec: BatchSpec, input_dir: Path, job_dir: Path,
              say: Callable[[str], None] = print) -> BatchResult:
    """Score every file under input_dir; results land in job_dir."""
    start = time.monotonic()
    files = input_files(input_dir)
    size = max(1, spec.mini_batch_size)
    tasks = [_Task(i, files[i:i + size], f"mini batch {n + 1}")
             for n, i in enumerate(range(0, len(files), size))]
    total = len(tasks)
    say(f"{spec.endpoint}: {len(files)} file(s) in {total} mini batch(es) of up to {size}, "
        f"{spec.concurrency} worker(s), {spec.max_retries} retries, "
        f"{spec.retry_timeout:g} s per attempt")
    pending: queue.Queue[_Task] = queue.Queue()
    for task in tasks:
        pending.put(task)
    state = {"outstanding": total, "done": 0}
    results: dict[int, object] = {}
    failures: list[dict] = []
    lock = threading.Lock()
    fatal: list[BaseException] = []

    def slot() -> None:
        worker = _Worker(spec)
        try:
            while True:
                with lock:
                    if state["outstanding"] == 0 or fatal:
                        return
                try:
                    task = pending.get(timeout=0.1)
                except queue.Empty:
                    continue
                _process(worker, task)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the main thread
            with lock:
                fatal.append(exc)
        finally:
            worker.close()

    def _process(worker: _Worker, task: _Task) -> None:
        errors = []
        for attempt in range(1, spec.max_retries + 2):
            status, payload = worker.run(task.index, task.files, spec.retry_timeout)
            if status == "ok":
                with lock:
                    results[task.index] = payload
                    state["outstanding"] -= 1
                    state["done"] += 1
                    done = state["done"]
                say(f"{spec.endpoint}: {task.label} ({len(task.files)} file(s)) -> "
                    f"{len(payload)} rows, attempt {attempt} [{done} done]")
                return
            errors.append(str(payload))
            say(f"{spec.endpoint}: {task.label} attempt {attempt} failed: {payload}")
        if len(task.files) > 1:  # isolate the bad file: the others still get scored
            say(f"{spec.endpoint}: {task.label} failed after {spec.max_retries} retries; "
                f"scoring its {len(task.files)} files one by one")
            with lock:
                state["outstanding"] += len(task.files) - 1
            for offset, path in enumerate(task.files):
                pending.put(_Task(task.index + offset, [path], f"{task.label} file {path.name}"))
            return
        with lock:
            failures.append({"file": str(task.files[0]), "mini_batch": task.label,
                             "attempts": len(errors), "error": errors[-1]})
            state["outstanding"] -= 1

    threads = [threading.Thread(target=slot, name=f"batch-slot-{n}", daemon=True)
               for n in range(max(1, spec.concurrency))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if fatal:
        raise fatal[0] if isinstance(fatal[0], FactoryError) else BatchError(str(fatal[0]))
    result = _write(spec, job_dir, results, failures, len(files), total)
    result.seconds = time.monotonic() - start
    say(f"{spec.endpoint}: wrote {result.rows} prediction rows to {result.output}"
        + (f"; {len(failures)} file(s) failed, see {result.errors_path}" if failures else ""))
    return result


def _write(spec: BatchSpec, job_dir: Path, results: dict, failures: list[dict],
           n_files: int, n_batches: int) -> BatchResult:
    import pandas as pd

    job_dir.mkdir(parents=True, exist_ok=True)
    frames = [results[i] for i in sorted(results)]
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(
        columns=["source_file", "row_index", "prediction"])
    output = job_dir / spec.output_file_name
    tmp = output.with_name(f".{output.name}.tmp")
    frame.to_csv(tmp, index=False)
    os.replace(tmp, output)
    errors_path = job_dir / ERRORS_FILE
    tmp = errors_path.with_name(f".{ERRORS_FILE}.tmp")
    failures = sorted(failures, key=lambda f: f["file"])
    tmp.write_text(json.dumps(failures, indent=2) + "\n")
    os.replace(tmp, errors_path)
    return BatchResult(output, errors_path, len(frame), n_files, n_batches,
                       [f["file"] for f in failures])
