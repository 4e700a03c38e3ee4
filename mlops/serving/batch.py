"""The local batch endpoint's job runner: a model's batch score.py over a folder of files, as
Azure ML batch deployments run it — MINI_BATCH_SIZE files per mini batch,
CLUSTER_INSTANCE_COUNT x MAX_CONCURRENCY_PER_INSTANCE worker processes (each loads the model
once: init()), each mini batch retried MAX_RETRIES times with RETRY_TIMEOUT seconds per attempt — and
writes OUTPUT_FILE_NAME (append_row: every returned row, in input order, by one writer) plus
errors.json. Both appear only when complete (written beside, then renamed), so a reader never
sees half a job. A mini batch that still fails is split into single files, so one bad file
never loses the other files' predictions; the file that fails is named in errors.json.

Workers are forked from a warm interpreter that has imported what the scoring scripts import
(mlops/pipeline/launch.py: a session of the server kept between builds), so a job's workers
start together in a fraction of a second plus their init(); each is still its own process,
calling init() itself as on Azure. Where no warm interpreter can be had, its start-up
variables differ from the job's, or a fork cannot connect, they are spawned as new
interpreters. Their output goes to
logs/worker-N.log in the job's folder."""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import queue
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from mlops.errors import FactoryError
from mlops.pipeline import launch

WORKER_START_TIMEOUT_S = 300.0  # init() loads the model; not part of RETRY_TIMEOUT
ERRORS_FILE = "errors.json"
INPUT_ROOT_ENV = "FACTORY_BATCH_INPUT_ROOT"  # batch_score.py names files relative to it


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
    seconds: float = 0.0  # the whole job, worker start included
    scoring_seconds: float = 0.0  # from the first worker ready to the output renamed in place

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
    index: int  # position of its first file: output order = input order
    files: list[Path]
    label: str


class _Worker:
    """A worker process and the pipe to it; restarted after a crash or a timeout."""

    def __init__(self, spec: BatchSpec, starter: _Starter, slot: int):
        self.spec, self.starter, self.slot = spec, starter, slot
        self.process, self.conn = None, None

    def ensure(self) -> None:
        if self.process is not None and self.process.poll() is None:
            return
        self.process, self.conn = self.starter.start(self.slot)
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
            if isinstance(self.process, subprocess.Popen):
                self.process.kill()
            else:  # forked: the leader of its own process group
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)
        if self.conn is not None:
            self.conn.close()
        self.process, self.conn = None, None


class _Starter:
    """Starts workers: forked from a warm interpreter when one can be had, else spawned."""

    def __init__(self, spec: BatchSpec, input_root: Path, job_dir: Path,
                 say: Callable[[str], None]):
        self.spec, self.env, self.say = spec, _worker_env(input_root), say
        self.logs = job_dir / "logs"
        self.sockets = Path(tempfile.mkdtemp(prefix="batch-"))  # 0700: only we connect
        self.server: launch.ForkServer | None = None
        self.retired: list[launch.ForkServer] = []  # closed at the end: its forks may still run
        self.starts = itertools.count(1)  # next() is atomic: slots start workers at once
        modules = launch.preload_modules([spec.score_path.parent]) + _flavor_modules(spec)
        try:
            server = launch.ForkServer(sys.executable, self.env, self.logs / "forkserver.log",
                                       modules)
        except (launch.LaunchError, OSError) as exc:
            say(f"{spec.endpoint}: workers spawned: no warm interpreter ({exc})")
            return
        differences = server.startup_differences(self.env)
        if differences:
            server.close()
            say(f"{spec.endpoint}: workers spawned: start-up variables differ "
                f"({', '.join(differences)})")
            return
        self.server = server

    def start(self, slot: int):
        """(process, connection) of a new worker for ``slot``."""
        from multiprocessing.connection import Connection

        server = self.server
        if server is not None and server.alive:
            path = self.sockets / f"w{next(self.starts)}.sock"
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                listener.bind(str(path))
                listener.listen(1)
                process = server.start(self._argv("--connect", str(path)), Path.cwd(), self.env,
                                       self.logs / f"worker-{slot}.log")
                return process, Connection(self._accept(listener, process).detach())
            except launch.LaunchError as exc:
                if self.server is server:
                    self.server = None
                    self.retired.append(server)
                    self.say(f"{self.spec.endpoint}: workers spawned from now on: the warm "
                             f"interpreter failed ({exc})")
            finally:
                listener.close()
                path.unlink(missing_ok=True)
        ours, theirs = socket.socketpair()
        try:
            process = subprocess.Popen(
                [sys.executable, *self._argv("--fd", str(theirs.fileno()))],
                stdin=subprocess.DEVNULL, pass_fds=(theirs.fileno(),), env=self.env)
        finally:
            theirs.close()
        return process, Connection(ours.detach())

    def _argv(self, *channel: str) -> list[str]:
        """The worker's command line after the interpreter, with its channel to us."""
        return ["-m", "mlops.serving._batch_worker", *channel, str(self.spec.score_path),
                str(self.spec.model_dir)]

    def _accept(self, listener: socket.socket, process) -> socket.socket:
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        listener.settimeout(0.2)
        while time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
                conn.setblocking(True)
                return conn
            except TimeoutError:
                if process.poll() is not None:  # a fork that cannot even connect: spawn
                    raise launch.LaunchError(f"a forked worker exited (code "
                                             f"{process.returncode}) before connecting; log: "
                                             f"{process.log}") from None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        raise BatchError(f"{self.spec.endpoint}: batch worker did not start within "
                         f"{WORKER_START_TIMEOUT_S:.0f} s")

    def close(self) -> None:
        for server in [*self.retired, *([self.server] if self.server else [])]:
            server.close()
        with contextlib.suppress(OSError):
            self.sockets.rmdir()
        for log in self.logs.glob("*.log"):  # workers that said nothing leave no log
            if log.stat().st_size == 0:
                log.unlink()
        with contextlib.suppress(OSError):
            self.logs.rmdir()


def _flavor_modules(spec: BatchSpec) -> list[str]:
    """What loading the model imports beyond the scripts: its flavour's library (scikit-learn
    models load through skops, whose import lists every estimator)."""
    import yaml

    for mlmodel in sorted(spec.model_dir.rglob("MLmodel")):
        with contextlib.suppress(OSError, yaml.YAMLError, AttributeError):
            if "sklearn" in (yaml.safe_load(mlmodel.read_text()).get("flavors") or {}):
                return ["sklearn", "skops.io"]
    return []


def _worker_env(input_root: Path) -> dict[str, str]:
    """Workers already run in parallel: one OpenMP thread each unless the user chose. Their
    output is unbuffered, as a warm interpreter's forks are (a difference would spawn them)."""
    return {"OMP_NUM_THREADS": "1", **os.environ, "PYTHONUNBUFFERED": "1",
            INPUT_ROOT_ENV: str(input_root.resolve())}


class _OrderedWriter:
    """The job's one writer: appends each mini batch's rows to the partial output as soon as
    every earlier file is done (rows stay in input order), on its own thread."""

    def __init__(self, path: Path):
        self.path = path
        self.pending: dict[int, tuple[int, object]] = {}  # first file -> (n files, frame)
        self.next_file = 0
        self.rows = 0
        self.header: list[str] | None = None
        self.queue: queue.Queue = queue.Queue()
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name="batch-writer", daemon=True)
        self.fh = open(path, "wb")  # noqa: SIM115 - closed by the writer thread
        self.thread.start()

    def put(self, index: int, n_files: int, frame) -> None:
        self.queue.put((index, n_files, frame))

    def finish(self) -> int:
        self.queue.put(None)
        self.thread.join()
        if self.error is not None:
            raise BatchError(f"writing {self.path} failed: {self.error}") from self.error
        return self.rows

    def _run(self) -> None:
        try:
            while (item := self.queue.get()) is not None:
                index, n_files, frame = item
                self.pending[index] = (n_files, frame)
                while self.next_file in self.pending:
                    n_files, frame = self.pending.pop(self.next_file)
                    if frame is not None:
                        self._append(frame)
                    self.next_file += n_files
            for index in sorted(self.pending):  # unreachable unless a task vanished
                n_files, frame = self.pending.pop(index)
                if frame is not None:
                    self._append(frame)
            if self.header is None:
                self.fh.write(b"source_file,row_index,prediction\n")
        except BaseException as exc:  # noqa: BLE001 - surfaced by finish()
            self.error = exc
        finally:
            self.fh.close()

    def _append(self, frame) -> None:
        if self.header is None:
            self.header = list(frame.columns)
        elif list(frame.columns) != self.header:
            frame = frame.reindex(columns=self.header)
        _write_csv(frame, self.fh, header=self.fh.tell() == 0)
        self.rows += len(frame)


def _write_csv(frame, fh, header: bool) -> None:
    try:
        import pyarrow as pa
        import pyarrow.csv as pacsv
    except ImportError:  # pragma: no cover - pyarrow comes with mlflow
        frame.to_csv(fh, header=header, index=False)
        return
    table = pa.Table.from_pandas(frame, preserve_index=False)
    pacsv.write_csv(table, fh, pacsv.WriteOptions(include_header=header,
                                                  quoting_style="needed"))


def run_batch(spec: BatchSpec, input_dir: Path, job_dir: Path,
              say: Callable[[str], None] = print) -> BatchResult:
    """Score every file under input_dir; results land in job_dir (which must be this job's
    own folder: the partial files are named after it)."""
    start = time.monotonic()
    files = input_files(input_dir)
    size = max(1, spec.mini_batch_size)
    tasks = [_Task(i, files[i:i + size], f"mini batch {n + 1}")
             for n, i in enumerate(range(0, len(files), size))]
    total = len(tasks)
    say(f"{spec.endpoint}: {len(files)} file(s) in {total} mini batch(es) of up to {size}, "
        f"{spec.concurrency} worker(s), {spec.max_retries} retries, "
        f"{spec.retry_timeout:g} s per attempt")
    job_dir.mkdir(parents=True, exist_ok=True)
    output = job_dir / spec.output_file_name
    partial = job_dir / f".{spec.output_file_name}.{job_dir.name}.partial"
    writer = _OrderedWriter(partial)
    pending: queue.Queue[_Task | None] = queue.Queue()
    slots = max(1, spec.concurrency)
    for task in tasks:
        pending.put(task)
    state = {"outstanding": total, "done": 0, "first_ready": None}
    failures: list[dict] = []
    lock = threading.Lock()
    fatal: list[BaseException] = []

    workers: list[_Worker] = []
    starter = _Starter(spec, input_dir, job_dir, say)

    def slot(n: int) -> None:
        worker = _Worker(spec, starter, n)
        with lock:
            workers.append(worker)
        try:
            worker.ensure()
            with lock:
                state["first_ready"] = state["first_ready"] or time.monotonic()
            while True:
                with lock:
                    if state["outstanding"] == 0 or fatal:
                        return
                try:
                    task = pending.get(timeout=0.1)
                except queue.Empty:
                    continue
                if task is None:  # the last task is done
                    return
                _process(worker, task)
        except BaseException as exc:  # noqa: BLE001 - surfaced by the main thread
            with lock:
                fatal.append(exc)

    def _process(worker: _Worker, task: _Task) -> None:
        errors = []
        for attempt in range(1, spec.max_retries + 2):
            status, payload = worker.run(task.index, task.files, spec.retry_timeout)
            if status == "ok":
                writer.put(task.index, len(task.files), payload)
                with lock:
                    state["outstanding"] -= 1
                    state["done"] += 1
                    done = state["done"]
                    _wake_if_settled()
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
                pending.put(_Task(task.index + offset, [path],
                                  f"{task.label} file {path.relative_to(input_dir)}"))
            return
        writer.put(task.index, 1, None)
        with lock:
            failures.append({"file": str(task.files[0].relative_to(input_dir)),
                             "path": str(task.files[0]), "mini_batch": task.label,
                             "attempts": len(errors), "error": errors[-1]})
            state["outstanding"] -= 1
            _wake_if_settled()

    def _wake_if_settled() -> None:
        """(Under the lock.) After the last task: every idle slot stops now, not at its next
        poll of the queue."""
        if state["outstanding"] == 0:
            for _ in range(slots):
                pending.put(None)

    threads = [threading.Thread(target=slot, args=(n,), name=f"batch-slot-{n}", daemon=True)
               for n in range(slots)]
    for thread in threads:
        thread.start()
    errors_path = job_dir / ERRORS_FILE
    try:
        for thread in threads:
            thread.join()
        rows = writer.finish()
        if not fatal:  # the results go in place before the workers are torn down
            failures.sort(key=lambda f: f["file"])
            tmp = job_dir / f".{ERRORS_FILE}.{job_dir.name}.partial"
            tmp.write_text(json.dumps(failures, indent=2) + "\n")
            os.replace(tmp, errors_path)
            os.replace(partial, output)
            end = time.monotonic()
    finally:
        # The scoring contract has no shutdown hook: workers are killed, not waited for
        # (an interpreter with a model loaded takes seconds to tear down).
        for worker in workers:
            worker.kill()
        starter.close()
    if fatal:
        partial.unlink(missing_ok=True)
        raise fatal[0] if isinstance(fatal[0], FactoryError) else BatchError(str(fatal[0]))
    result = BatchResult(output, errors_path, rows, len(files), total,
                         [f["file"] for f in failures], seconds=end - start,
                         scoring_seconds=end - (state["first_ready"] or start))
    say(f"{spec.endpoint}: wrote {result.rows} prediction rows to {result.output}"
        + (f"; {len(failures)} file(s) failed, see {result.errors_path}" if failures else ""))
    return result
