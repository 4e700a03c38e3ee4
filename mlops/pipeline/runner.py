"""Execute a PipelineSpec on this machine.

Each job's component command runs as its own process (its own process group) in the component's
code folder, with the runner's python first on PATH as ``python`` and MLFLOW_* pointing at the
job's child run: forked from the build's warm interpreter when the command is the simple
``python <script>.py ...`` form, else spawned with bash (see launch.py). Jobs start as soon as
their inputs exist, within the step slots of the pool (the compute cluster's max_nodes, shared
by every pipeline of a build: pool.py).

Reuse: a job's key hashes its component (name, version, command, code folder content), its
literal inputs and the content hashes of its data inputs (upstream outputs are hashed once,
when they are produced). A finished job is stored under <runs_root>/steps/<component>-<key>/
with its outputs and a step.json record holding each output's digest; a later job with the same
key uses those outputs only after re-hashing them and, for a step with an effect outside its
outputs (effects.py), checking that the effect still holds. Otherwise the step runs again and
the runner says why.

A runner that dies (even by SIGKILL) is cleaned up after by the next one: see lease.py.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops._environment import tool_environment
from mlops.errors import FactoryError
from mlops.pipeline import command as commands
from mlops.pipeline.effects import Effect, effect_for
from mlops.pipeline.graph import order
from mlops.pipeline.hashing import hash_tree, hash_value
from mlops.pipeline.launch import (
    LaunchError,
    StepProcess,
    preload_modules,
    spawn,
)
from mlops.pipeline.lease import Lease, partial_marker, recover
from mlops.pipeline.pool import (
    StepPool,
    current_pool,
    sigterm_as_interrupt,
    thread_variables,
)
from mlops.pipeline.spec import JobSpec, PipelineSpec
from mlops.pipeline.tracking import Tracker, open_tracker
from mlops.records import StepResult

RECORD = "step.json"
LOG = "std_log.txt"
# Steps append {"metric": value} JSON lines here; the runner logs them into the step's run, so
# a step that only reports numbers need not import MLflow (see each model's src/tracking.py).
METRICS_HANDOFF = "step_metrics.jsonl"
TAIL_LINES = 40
POLL_SECONDS = 0.05
TERMINATE_GRACE_SECONDS = 5.0


def step_base_env(max_nodes: int) -> dict[str, str]:
    """The factory's environment as steps get it (and the fork server that forks them): native
    thread pools sized per slot (pool.thread_variables) unless the user set them, unbuffered
    output, no MLflow run of the caller's."""
    env = tool_environment()
    env["PYTHONUNBUFFERED"] = "1"
    for name, value in thread_variables(max_nodes).items():
        env.setdefault(name, value)
    for name in ("MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID"):
        env.pop(name, None)
    return env


class StepFailed(FactoryError):
    """A pipeline step exited non-zero; the graph was stopped."""

    def __init__(self, message: str, result: PipelineRun):
        super().__init__(message)
        self.result = result


class PipelineInputError(FactoryError):
    """A pipeline or job input has no usable value (missing data folder, unknown override)."""


@dataclass
class RunSettings:
    runs_root: Path  # <workspace.root>/runs
    experiment: str
    display_name: str
    tracking_uri: str
    registry_uri: str | None = None
    artifact_root: Path | None = None
    max_nodes: int = 1
    python: str = sys.executable
    parent_tags: dict[str, str] = field(default_factory=dict)
    log: Callable[[str], None] = lambda line: print(line, flush=True)
    pool: StepPool | None = None  # default: the build's shared pool, else one of its own
    label: str = ""  # names the pipeline's step lines when several pipelines run at once


@dataclass
class PipelineRun:
    run_id: str
    experiment_id: str
    status: str  # completed | failed | cancelled
    steps: list[StepResult]
    outputs: dict[tuple[str, str], Path]  # (job, output) -> path
    seconds: float

    def output(self, job: str, name: str) -> Path:
        return self.outputs[(job, name)]


@dataclass
class _Running:
    job: JobSpec
    key: str
    run_id: str
    partial: Path
    process: StepProcess
    started: float
    values: dict[str, Any]


def _python_shim(runs_root: Path, python: str) -> Path:
    """A folder whose ``python``/``python3`` run the runner's interpreter (put first on PATH).
    Wrapper scripts, not symlinks: a symlinked venv python would not find its pyvenv.cfg."""
    shim = runs_root / ".bin"
    shim.mkdir(parents=True, exist_ok=True)
    script = f'#!/bin/sh\nexec {shlex.quote(python)} "$@"\n'
    for name in ("python", "python3"):
        path = shim / name
        if path.is_symlink() or not path.is_file() or path.read_text() != script:
            tmp = shim / f".{name}.{uuid.uuid4().hex}"
            tmp.write_text(script)
            tmp.chmod(0o755)
            tmp.replace(path)
    return shim


def _tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    return "\n".join(text.rstrip().splitlines()[-lines:])


def _read_metrics(path: Path) -> dict[str, float]:
    """The metrics a step handed off (later lines win); ValueError names a malformed line."""
    try:
        lines = path.read_text().splitlines()
    except FileNotFoundError:
        return {}
    metrics: dict[str, float] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
            if not isinstance(entry, dict):
                raise ValueError("not an object")
            metrics.update({str(k): float(v) for k, v in entry.items()})
        except (ValueError, TypeError) as exc:
            raise ValueError(f"{path}: line {number}: expected a JSON object of metric name "
                             f"-> number ({exc})") from None
    return metrics


def _read_record(folder: Path) -> dict[str, Any] | None:
    """The step.json of a completed step, or None."""
    try:
        record = json.loads((folder / RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if record.get("status") == "completed" else None


def _signal_group(pid: int, sig: int) -> None:
    """Signal a step's process group (or the process itself if it has no group yet)."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)


class _Execution:
    def __init__(self, spec: PipelineSpec, settings: RunSettings, inputs: dict[str, Any]):
        self.spec, self.settings, self.inputs = spec, settings, inputs
        self.order = order(spec)
        self.steps_root = settings.runs_root / "steps"
        self.results: dict[str, StepResult] = {}
        self.outputs: dict[tuple[str, str], Path] = {}
        self.output_hashes: dict[tuple[str, str], str] = {}
        self.data_hashes: dict[str, str] = {}
        self.code_hashes: dict[Path, str] = {}
        self.running: dict[str, _Running] = {}
        self.stale: set[Path] = set()  # step folders found untrustworthy: replaced when rerun
        self.waiting: dict[str, tuple[str, dict[str, Any]]] = {}  # job -> (key, values)
        self.tracker: Tracker | None = None
        self.lease: Lease | None = None
        self.parent_id = ""
        self.log = settings.log if not settings.label else (
            lambda line, say=settings.log, label=settings.label:
            say(f"  {label}/{line[2:]}" if line.startswith("  ") else line))
        self.own_pool = settings.pool is None and current_pool() is None
        self.pool = settings.pool or current_pool() or StepPool(settings.max_nodes)
        self._preload: list[str] | None = None
        self._effects: dict[str, Effect] = {}

    # -- keys and bindings -------------------------------------------------------------------
    def _data_hash(self, path: str, where: str) -> str:
        if path not in self.data_hashes:
            try:
                self.data_hashes[path] = hash_tree(Path(path))
            except FileNotFoundError:
                raise PipelineInputError(f"{where}: data path {path} does not exist") from None
        return self.data_hashes[path]

    def _resolve(self, job: JobSpec) -> tuple[dict[str, Any], dict[str, Any]]:
        """(values for the command, what the key hashes) for every input of ``job``."""
        values: dict[str, Any] = {}
        hashed: dict[str, Any] = {}
        for name, port in job.component.inputs.items():
            where = f"{self.spec.file}: job {job.name!r}: input {name!r}"
            binding = job.inputs.get(name)
            if binding is None:
                value = port.default
            elif binding.upstream:
                value = str(self.outputs[binding.upstream])
                values[name] = value
                hashed[name] = {"data": self.output_hashes[binding.upstream]}
                continue
            elif binding.parent_input:
                value = self.inputs.get(binding.parent_input)
            elif binding.path is not None:
                value = str((self.spec.file.parent / binding.path).resolve())
            else:
                value = binding.literal
            if value is None:
                if not port.optional and port.default is None:
                    raise PipelineInputError(f"{where}: has no value (bind it or give the "
                                             f"pipeline input a value)")
                continue
            values[name] = value
            hashed[name] = ({"data": self._data_hash(str(value), where)} if port.is_data
                            else {"value": value})
        return values, hashed

    def _key(self, job: JobSpec, hashed: dict[str, Any]) -> str:
        c = job.component
        return hash_value({"component": c.name, "version": c.version, "command": c.command,
                           "code": self._code_hash(c.code), "inputs": hashed,
                           "outputs": sorted(c.outputs)})

    def _code_hash(self, code: Path) -> str:
        if code not in self.code_hashes:  # components often share one code folder
            self.code_hashes[code] = hash_tree(code)
        return self.code_hashes[code]

    def _folder(self, job: JobSpec, key: str) -> Path:
        return self.steps_root / f"{job.component.name}-{key[:24]}"

    # -- trust before reuse ------------------------------------------------------------------
    def _effect(self, kind: str) -> Effect:
        if kind not in self._effects:
            self._effects[kind] = effect_for(
                kind, self.settings.registry_uri or self.settings.tracking_uri)
        return self._effects[kind]

    def _trusted(self, job: JobSpec, folder: Path,
                 values: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
        """(the record, "") when the step at ``folder`` may be reused; (None, why) when it ran
        before but cannot be trusted now; (None, "") when it never completed."""
        record = _read_record(folder)
        if record is None:
            return None, ""
        recorded = record.get("outputs") or {}
        missing = sorted(set(job.component.outputs) - set(recorded))
        if missing:
            return None, f"its record lists no digest for output(s) {', '.join(missing)}"
        for name in sorted(recorded):
            path = folder / "outputs" / name
            if not path.exists():
                return None, f"its output {name!r} is missing ({path})"
            digest = hash_tree(path)
            if digest != recorded[name]:
                return None, (f"its output {name!r} changed since the step recorded it "
                              f"(sha256 {recorded[name][:12]} then, {digest[:12]} now)")
        kind = job.component.effect
        if kind:
            witness = record.get("effect") or {}
            if witness.get("kind") != kind:
                return None, (f"it has an effect outside its outputs ({kind}) and its record "
                              f"holds no witness of it")
            effect = self._effect(kind)
            why = effect.differs(witness.get("state") or {},
                                 effect.observe(values, str(record.get("run_id", ""))))
            if why:
                return None, why
        return record, ""

    # -- one job -----------------------------------------------------------------------------
    def _reuse(self, job: JobSpec, key: str, record: dict[str, Any], folder: Path) -> None:
        for name, digest in record["outputs"].items():
            self.outputs[(job.name, name)] = folder / "outputs" / name
            self.output_hashes[(job.name, name)] = digest
        source = record.get("run_id", "")
        run_id = self.tracker.create_run(job.name, {
            "factory.step": job.name, "factory.reused": "true", "factory.reused_from": source,
            "factory.step_key": key, "azureml.isreused": "true"}, parent_id=self.parent_id)
        metrics = record.get("metrics") or {}
        if metrics:
            self.tracker.log_metrics(run_id, metrics)
        self.tracker.finish(run_id, "FINISHED")
        self.results[job.name] = StepResult(job.name, "reused", True, 0.0, run_id)
        checked = "outputs verified" + (f", {job.component.effect} effect holds"
                                        if job.component.effect else "")
        self.log(f"  {job.name}: reused (outputs of run {source[:12]}, code, inputs and "
                 f"parameters unchanged; {checked})")

    def _base_env(self) -> dict[str, str]:
        """What every step's environment (and the fork server's) starts from."""
        env = step_base_env(self.pool.max_nodes or self.settings.max_nodes)
        env["PATH"] = (f"{_python_shim(self.settings.runs_root, self.settings.python)}"
                       f"{os.pathsep}{env.get('PATH', '')}")
        return env

    def _start(self, job: JobSpec, line: str, env: dict[str, str],
               log_path: Path) -> tuple[StepProcess, str]:
        """The step's process, forked warm when it can be, and how it was started."""
        argv = None if job.component.spawn else commands.python_argv(job.component.command, line)
        how = ("spawned (component tag factory.spawn)" if job.component.spawn
               else "spawned (the command is not the simple `python <script>.py ...` form)")
        if argv is not None:
            if self._preload is None:
                self._preload = preload_modules(
                    dict.fromkeys(j.component.code for j in self.spec.jobs.values()))
            server = self.pool.server(self.settings.python, self._base_env(),
                                      self.settings.runs_root / f".forkserver-{os.getpid()}.log",
                                      self._preload)
            differs = server.startup_differences(env) if server else []
            if server is None:
                how = f"spawned ({self.pool.server_note or 'warm start is off'})"
            elif differs:
                how = f"spawned (start-up variables differ from the warm server's: {differs})"
            else:
                try:
                    process = server.start(argv, job.component.code, env, log_path)
                    self.lease.add_helper("forkserver", server.process.pid, server.log)
                    kept = server.kept_note or "a session of the server kept between builds"
                    return process, f"forked from the warm interpreter ({kept})"
                except LaunchError as exc:
                    how = f"spawned (warm start failed: {exc})"
        return spawn(line, job.component.code, env, log_path), how

    def _launch(self, job: JobSpec, key: str, values: dict[str, Any]) -> None:
        partial = self.steps_root / (f".{job.component.name}-{key[:24]}"
                                     f"{partial_marker(self.lease.id)}{uuid.uuid4().hex[:8]}")
        outputs: dict[str, str] = {}
        for name, port in job.component.outputs.items():
            path = partial / "outputs" / name
            (path.parent if port.type == "uri_file" else path).mkdir(parents=True, exist_ok=True)
            outputs[name] = str(path)
        line = commands.render(job.component.command, values, outputs,
                               where=f"{job.component.file}: ")
        run_id = self.tracker.create_run(job.name, {
            "factory.step": job.name, "factory.reused": "false", "factory.step_key": key,
            "factory.component": job.component.name}, parent_id=self.parent_id)
        env = self._base_env()
        env.update({
            "MLFLOW_TRACKING_URI": self.settings.tracking_uri,
            "MLFLOW_REGISTRY_URI": self.settings.registry_uri or self.settings.tracking_uri,
            "MLFLOW_RUN_ID": run_id,
            "MLFLOW_EXPERIMENT_ID": str(self.tracker.experiment_id),
            "FACTORY_STEP_METRICS": str(partial / METRICS_HANDOFF),
        })
        log_path = partial / LOG
        log_path.write_text(f"$ cd {job.component.code}\n$ {line}\n")
        self.lease.add_step(job.name, run_id, partial)
        started = time.monotonic()  # a step's time includes waiting for the warm interpreter
        try:
            process, how = self._start(job, line, env, log_path)
        except BaseException:
            self.lease.remove_step(job.name)
            self.tracker.finish(run_id, "FAILED")
            raise
        self.running[job.name] = _Running(job, key, run_id, partial, process, started, values)
        self.lease.started(job.name, process.pid)
        waited = time.monotonic() - started
        if waited >= 1.0 and how.startswith("forked"):  # the server was loading libraries
            how += f" after {waited:.1f}s of preloading"
        self.log(f"  {job.name}: started ({how})")

    def _finish(self, run: _Running, code: int) -> StepResult:
        self.pool.release()
        self.lease.remove_step(run.job.name)
        seconds = round(time.monotonic() - run.started, 2)
        job = run.job
        if code != 0:
            self.tracker.finish(run.run_id, "FAILED")
            log_path = run.partial / LOG
            self.log(f"  {job.name}: failed after {seconds:.1f}s (exit {code}); log: {log_path}")
            return StepResult(job.name, "failed", False, seconds, run.run_id, _tail(log_path))
        hashes = {name: hash_tree(run.partial / "outputs" / name)
                  for name in job.component.outputs if (run.partial / "outputs" / name).exists()}
        missing = sorted(set(job.component.outputs) - set(hashes))
        if missing:
            self.tracker.finish(run.run_id, "FAILED")
            return StepResult(job.name, "failed", False, seconds, run.run_id,
                              f"step did not write its output(s) {', '.join(missing)}")
        try:
            handed_off = _read_metrics(run.partial / METRICS_HANDOFF)
        except ValueError as exc:
            self.tracker.finish(run.run_id, "FAILED")
            self.log(f"  {job.name}: failed: {exc}")
            return StepResult(job.name, "failed", False, seconds, run.run_id, str(exc))
        if handed_off:
            self.tracker.log_metrics(run.run_id, handed_off)
        metrics = self.tracker.run_metrics(run.run_id)
        record = {"status": "completed", "job": job.name, "component": job.component.name,
                  "key": run.key, "run_id": run.run_id, "seconds": seconds, "outputs": hashes,
                  "metrics": metrics, "finished": time.time()}
        if job.component.effect:  # what the world looked like right after the step
            record["effect"] = {"kind": job.component.effect, "state": self._effect(
                job.component.effect).observe(run.values, run.run_id)}
        (run.partial / RECORD).write_text(json.dumps(record, indent=2))
        folder = self._folder(job, run.key)
        if folder in self.stale or _read_record(folder) is None:
            # else an identical run of another build finished first and verified: keep it
            self._replace(folder, run.partial)
        else:
            shutil.rmtree(run.partial, ignore_errors=True)
        for name, digest in hashes.items():
            self.outputs[(job.name, name)] = folder / "outputs" / name
            self.output_hashes[(job.name, name)] = digest
        self.tracker.finish(run.run_id, "FINISHED")
        self.log(f"  {job.name}: completed in {seconds:.1f}s")
        return StepResult(job.name, "completed", False, seconds, run.run_id)

    @staticmethod
    def _replace(folder: Path, partial: Path) -> None:
        """Put ``partial`` at ``folder``, moving an old (untrusted) folder aside first."""
        if folder.exists():
            trash = folder.with_name(f".{folder.name}.stale-{uuid.uuid4().hex[:8]}")
            folder.replace(trash)
            shutil.rmtree(trash, ignore_errors=True)
        partial.replace(folder)

    def _terminate(self, status: str) -> None:
        """Stop every running step's process group: SIGTERM, then SIGKILL after a grace."""
        for run in self.running.values():
            _signal_group(run.process.pid, signal.SIGTERM)
        deadline = time.monotonic() + TERMINATE_GRACE_SECONDS
        for run in self.running.values():
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            _signal_group(run.process.pid, signal.SIGKILL)  # the group may outlive its leader
            run.process.wait()
            self.pool.release()
            shutil.rmtree(run.partial, ignore_errors=True)  # incomplete outputs: never reused
            self.lease.remove_step(run.job.name)
            self.tracker.finish(run.run_id, "KILLED")
            self.results[run.job.name] = StepResult(
                run.job.name, "cancelled", False,
                round(time.monotonic() - run.started, 2), run.run_id)
            self.log(f"  {run.job.name}: {status}")
        self.running.clear()

    # -- the graph ---------------------------------------------------------------------------
    def _ready(self) -> list[str]:
        done = {n for n, r in self.results.items() if r.status in ("completed", "reused")}
        return [n for n in self.order if n not in self.results and n not in self.running
                and self.spec.jobs[n].depends_on <= done]

    def _schedule(self) -> None:
        """Reuse every ready job that can be trusted; start the others within free slots."""
        progressed = True
        while progressed:
            progressed = False
            for name in self._ready():
                job = self.spec.jobs[name]
                if name not in self.waiting:  # decided once: outputs are hashed once
                    values, hashed = self._resolve(job)
                    key = self._key(job, hashed)
                    folder = self._folder(job, key)
                    record, why = (self._trusted(job, folder, values)
                                   if job.component.is_deterministic else (None, ""))
                    if record is not None:
                        self._reuse(job, key, record, folder)
                        progressed = True
                        continue
                    if why:
                        self.stale.add(folder)
                        self.log(f"  {job.name}: not reused: {why}; running it again")
                    self.waiting[name] = (key, values)
                if self.pool.try_acquire(self.settings.max_nodes):
                    key, values = self.waiting.pop(name)
                    try:
                        self._launch(job, key, values)
                    except BaseException:
                        self.pool.release()
                        raise

    def validate(self) -> None:
        """Fail before anything runs when a pipeline-level input has no usable value."""
        for job in self.spec.jobs.values():
            for name, port in job.component.inputs.items():
                binding = job.inputs.get(name)
                if binding is None or binding.upstream:
                    continue
                where = f"{self.spec.file}: job {job.name!r}: input {name!r}"
                value = (self.inputs.get(binding.parent_input) if binding.parent_input
                         else binding.path if binding.path is not None else binding.literal)
                if value is None and not port.optional and port.default is None:
                    source = (f"pipeline input {binding.parent_input!r}" if binding.parent_input
                              else "its binding")
                    raise PipelineInputError(f"{where}: {source} has no value")
                if port.is_data and value is not None:
                    if str(value).startswith("azureml:"):
                        raise PipelineInputError(f"{where}: {value} is an Azure ML asset; the "
                                                 f"local platform binds a local folder")
                    path = (self.spec.file.parent / str(value)).resolve()
                    if not path.exists():
                        raise PipelineInputError(f"{where}: data path {path} does not exist")

    def _poll(self) -> StepResult | None:
        """Finish every step that ended; the first failure, if any."""
        for name, run in list(self.running.items()):
            code = run.process.poll()
            if code is None:
                continue
            del self.running[name]
            result = self._finish(run, code)
            self.results[name] = result
            if result.status == "failed":
                return result
        return None

    def run(self) -> PipelineRun:
        started = time.monotonic()
        s = self.settings
        self.validate()
        self.steps_root.mkdir(parents=True, exist_ok=True)
        recover(s.runs_root, self.steps_root, self.log)
        self.tracker = open_tracker(s.tracking_uri, s.experiment, s.artifact_root)
        self.lease = Lease(s.runs_root, s.tracking_uri)  # before the run: nothing left untracked
        self.parent_id = self.tracker.create_run(s.display_name, {
            "factory.pipeline": str(self.spec.file), **s.parent_tags})
        self.lease.set_run(self.parent_id)
        self.log(f"pipeline {self.spec.file.parent.name}/{self.spec.file.name}: "
                 f"{len(self.order)} steps, up to {max(1, s.max_nodes)} in parallel; run "
                 f"{s.display_name} ({self.parent_id[:12]}) in experiment {s.experiment}")
        failed: StepResult | None = None
        try:
            self._schedule()
            while self.running or self._ready():
                if self.pool.cancelled.is_set():
                    raise KeyboardInterrupt("the build was cancelled")
                time.sleep(POLL_SECONDS)
                failed = self._poll()
                if failed:
                    self._terminate("cancelled (an earlier step failed)")
                    break
                self._schedule()
        except KeyboardInterrupt:
            self._terminate("terminated (interrupted)")
            self.tracker.finish(self.parent_id, "KILLED")
            self.log("pipeline interrupted: running steps terminated, parent run marked KILLED")
            raise
        except BaseException:
            self._terminate("terminated (runner error)")
            self.tracker.finish(self.parent_id, "FAILED")
            raise
        finally:
            self.lease.release()
            if self.own_pool:
                self.pool.close()
        for name in self.order:
            if name not in self.results:
                self.results[name] = StepResult(name, "skipped", False, 0.0)
        status = "failed" if failed else "completed"
        self.tracker.finish(self.parent_id, "FAILED" if failed else "FINISHED")
        result = PipelineRun(self.parent_id, str(self.tracker.experiment_id), status,
                             [self.results[n] for n in self.order], dict(self.outputs),
                             round(time.monotonic() - started, 2))
        self._write_summary(result)
        if failed:
            raise StepFailed(
                f"pipeline {self.spec.file}: step {failed.name!r} failed after "
                f"{failed.seconds:.1f}s; the remaining steps were stopped.\n"
                f"--- last lines of {failed.name}'s log ---\n{failed.log_tail}", result)
        return result

    def _write_summary(self, result: PipelineRun) -> None:
        folder = self.settings.runs_root / "pipelines"
        folder.mkdir(parents=True, exist_ok=True)
        data = {"run_id": result.run_id, "pipeline": str(self.spec.file),
                "experiment": self.settings.experiment, "display_name": self.settings.display_name,
                "status": result.status, "seconds": result.seconds,
                "steps": [vars(step) for step in result.steps],
                "outputs": {f"{j}.{o}": str(p) for (j, o), p in result.outputs.items()}}
        tmp = folder / f".{result.run_id}.json.tmp"
        tmp.write_text(json.dumps(data, indent=2))
        tmp.replace(folder / f"{result.run_id}.json")


def run_pipeline(spec: PipelineSpec, settings: RunSettings,
                 inputs: dict[str, Any] | None = None) -> PipelineRun:
    """Run ``spec`` with its pipeline inputs overridden by ``inputs``; raises StepFailed when a
    step fails (after stopping the others) and re-raises KeyboardInterrupt after cleanup."""
    values = {name: item.value for name, item in spec.inputs.items()}
    unknown = sorted(set(inputs or {}) - set(values))
    if unknown:
        raise PipelineInputError(f"{spec.file}: the pipeline declares no input(s) "
                                 f"{', '.join(unknown)} (inputs: {', '.join(values) or 'none'})")
    values.update(inputs or {})
    with sigterm_as_interrupt():
        return _Execution(spec, settings, values).run()
