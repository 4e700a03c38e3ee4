"""The model builds behind `nox -s pr_build` and `nox -s ci_build`.

pr_build: per model, lint (ruff) and unit tests (pytest) of mlops/<model>, started first,
concurrently with its data registration and pipeline on environment ``pr``; fails when either
fails (the report says which) or when the gate's absolute threshold fails. ci_build: the data
registration and pipeline on ``dev`` (the register step gates and registers), then deploy and
smoke-test the new champion. A build registers its models' data itself, as `nox -s
register_data` does, so that its checks wait for no session before them. Several models build
concurrently, their pipelines sharing one pool of step slots (the compute cluster's max nodes)
and one warm interpreter (mlops.pipeline.pool). Both print a metrics table and write
reports/<model>_<env>.json and .md.

Lint + test results are cached by the content of the model folder (data excluded), the
same rule as pipeline-step reuse: unchanged code is not re-checked on this machine.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from pathlib import Path
from typing import Any

from mlops._environment import tool_environment
from mlops.build_report import BuildReport, table, write
from mlops.config import FactoryConfig, ModelEnvConfig
from mlops.errors import FactoryError
from mlops.naming import RunNames, run_names
from mlops.paths import repo_root, reports_dir, state_dir
from mlops.pipeline.pool import StepPool, shared_pool, sigterm_as_interrupt
from mlops.plugins import FACTORY_PATHS

Runner = Callable[..., subprocess.CompletedProcess]
_CHECK_SKIP_DIRS = {"data", "__pycache__", ".pytest_cache", ".ruff_cache"}


class BuildFailed(FactoryError):
    """One or more models failed their build; each has a report."""

    def __init__(self, message: str, checks: list[dict] | None = None):
        super().__init__(message)
        self.checks = checks or []


def _say(line: str) -> None:
    print(line, flush=True)


# -- lint and unit tests ---------------------------------------------------------------------
def _check_inputs(model_dir: Path, root: Path) -> list[Path]:
    """What a model's lint and tests depend on: its folder, and the factory code its tests
    exercise (mlops.plugins.FACTORY_PATHS: the same paths that trigger its PR build)."""
    files = [root / "pyproject.toml"]
    folders = [model_dir]
    for path in FACTORY_PATHS:
        if path.endswith("/*"):
            folders.append(root / path[:-2])
        else:
            files.append(root / path)
    for folder in folders:
        files += [p for p in folder.rglob("*") if p.is_file()
                  and not _CHECK_SKIP_DIRS & set(p.relative_to(folder).parts)
                  and p.suffix not in (".pyc", ".pyo")]
    return sorted(f for f in files if f.is_file())


def _checks_key(model_dir: Path, root: Path) -> str:
    digest = hashlib.sha256(f"{sys.executable}\0".encode())
    for file in _check_inputs(model_dir, root):
        digest.update(f"{file.relative_to(root).as_posix()}\0".encode())
        digest.update(file.read_bytes())
    return digest.hexdigest()


def _test_folders(entry: ModelEnvConfig) -> list[Path]:
    """The model's own tests and the factory's contract tests for it."""
    root = entry.model_dir.parent.parent
    return [p for p in (entry.model_dir / "tests", root / "tests" / "models") if p.is_dir()]


def check_commands(entry: ModelEnvConfig, python: str = sys.executable) -> list[tuple[str, list[str]]]:
    """(name, command) of each check: ruff over the model folder, pytest of its unit tests."""
    commands = [("lint", [python, "-m", "ruff", "check", "--quiet", str(entry.model_dir)])]
    # unit tests only: the pipeline run alongside is the end-to-end check
    commands.append(("tests", [python, "-m", "pytest", "-q", "--no-header", "-p",
                               "no:cacheprovider", "-m", "not integration and not slow",
                               "--factory-model", entry.model,
                               *map(str, _test_folders(entry))]))
    return commands


def _recorded_key(marker: Path) -> str | None:
    """The code key a model's last passed checks recorded."""
    try:
        return json.loads(marker.read_text()).get("key")
    except (OSError, ValueError):
        return None


def _checks_cached(entry: ModelEnvConfig, root: Path) -> bool:
    """Whether this exact code of the model passed its lint and unit tests before."""
    marker = state_dir(root) / "build-checks" / f"{entry.model}.json"
    return _recorded_key(marker) == _checks_key(entry.model_dir, root)


def run_checks(entry: ModelEnvConfig, *, runner: Runner | None = None,
               cache_dir: Path | None = None, root: Path | None = None) -> list[dict]:
    """Lint and unit tests of one model; raises BuildFailed with the output tail on failure."""
    root = root or repo_root()
    cache_dir = cache_dir or state_dir(root) / "build-checks"
    key = _checks_key(entry.model_dir, root)
    marker = cache_dir / f"{entry.model}.json"
    if _recorded_key(marker) == key:
        _say(f"  {entry.model}: lint + unit tests passed earlier for this exact code (cached)")
        return [{"name": "lint", "status": "cached"}, {"name": "tests", "status": "cached"}]
    runner = runner or subprocess.run
    results: list[dict] = []
    for name, cmd in check_commands(entry):
        if name == "tests":
            _say(f"  {entry.model}: unit tests (pytest {cmd[-1]}) ...")
        started = time.monotonic()
        out = runner(cmd, cwd=root, capture_output=True, text=True, env=tool_environment(),
                     check=False)
        seconds = round(time.monotonic() - started, 2)
        if name == "tests" and out.returncode == 5:  # pytest: no tests collected
            _say(f"  {entry.model}: {name}: no tests collected")
            results.append({"name": name, "status": "no tests", "seconds": seconds})
            continue
        if out.returncode != 0:
            tail = "\n".join((out.stdout + out.stderr).strip().splitlines()[-30:])
            results.append({"name": name, "status": "failed", "seconds": seconds})
            raise BuildFailed(f"{entry.model}: {name} failed ({' '.join(cmd[2:4])} exit "
                              f"{out.returncode}):\n{tail}", results)
        _say(f"  {entry.model}: {name} passed in {seconds:.1f}s")
        results.append({"name": name, "status": "passed", "seconds": seconds})
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = cache_dir / f".{entry.model}.{uuid.uuid4().hex[:8]}.tmp"
    tmp.write_text(json.dumps({"key": key, "checks": results}))
    tmp.replace(marker)
    return results


# -- builds ----------------------------------------------------------------------------------
def _platform(config: FactoryConfig, target: str, platform):
    if platform is not None:
        return platform
    from mlops.platform import get_platform

    return get_platform(target, config)


def _warm_up(pool: StepPool, config: FactoryConfig, entries: list[ModelEnvConfig],
             target: str, tested: list[ModelEnvConfig] | None = None) -> None:
    """Local steps fork from the build's warm interpreter (mlops/pipeline/launch.py): start it
    now, so that it preloads while the workspace is provisioned and each pipeline set up.
    The unit tests of the ``tested`` models fork from it too: what they import (pytest,
    azure-ai-ml...) the kept server imports after this build's session is forked."""
    if target != "local" or not entries:
        return
    from mlops.config import selected_infra_env
    from mlops.pipeline.launch import check_preload, preload_modules
    from mlops.pipeline.runner import step_base_env
    from mlops.staging import stage_entry

    def steps() -> list[str]:
        return preload_modules(dict.fromkeys(stage_entry(e).code for e in entries))

    def tests() -> list[str]:  # kept for the next build: this one's steps never wait for them
        return check_preload(dict.fromkeys(f for e in tested or () for f in _test_folders(e)))

    max_nodes = config.infra_env(selected_infra_env()).cluster_max_nodes
    pool.warm_up(sys.executable, step_base_env(pool.max_nodes or max_nodes),
                 state_dir(config.root) / f".forkserver-{os.getpid()}.log", steps, tests)


def _pipeline(platform, config: FactoryConfig, entry: ModelEnvConfig, names: RunNames,
              target: str, wait: bool) -> BuildReport:
    """The model's data registered (content-versioned: unchanged data is a no-op), then its
    pipeline; a failure of either is the model's failed report, never the other models'."""
    from mlops.data_registration import register_model_data
    from mlops.pipeline.runner import StepFailed

    try:
        register_model_data(platform, config, [entry.model])
        _say(f"{entry.model}: pipeline on environment {entry.env} ({target}), run "
             f"{names.display_name}")
        result = platform.run_pipeline(entry, names, wait=wait)
    except StepFailed as exc:
        report = BuildReport(entry.model, entry.env, target, "failed",
                             experiment=names.experiment_name, display_name=names.display_name,
                             run_id=exc.result.run_id, error=str(exc),
                             steps=[{"name": s.name, "status": s.status, "reused": s.reused,
                                     "seconds": s.seconds} for s in exc.result.steps])
        return report
    except FactoryError as exc:  # bad data, a DATA_PATH typo, a failed cloud job...
        return BuildReport(entry.model, entry.env, target, "failed",
                           experiment=names.experiment_name, display_name=names.display_name,
                           error=str(exc))
    report = BuildReport.from_result(result, target)
    if result.status == "submitted":
        _say(f"{entry.model}: submitted pipeline job {result.run_id} (not waiting)")
        return report
    gate = result.gate
    if gate is None:
        report.status, report.error = "failed", "the pipeline wrote no gate decision"
    elif not gate.passed:
        report.status, report.error = "failed", f"gate: {gate.reason}"
    return report


def _finish(reports: list[BuildReport], kind: str) -> list[BuildReport]:
    folder = reports_dir()
    for report in reports:
        write(report, folder)
    _say("")
    _say(table(reports))
    _say(f"reports: {', '.join(f'reports/{r.model}_{r.env}.json' for r in reports)}")
    failed = [r for r in reports if r.status == "failed"]
    if failed:
        details = "\n".join(f"--- {r.model} ({r.env}) ---\n{r.error}" for r in failed)
        raise BuildFailed(f"{kind} failed for {', '.join(r.model for r in failed)}:\n{details}")
    return reports


# A kept server that has the build's libraries gives the build its session in well under a
# second; one still importing them (the first build) would hold the unit tests for many.
TESTS_WAIT_SECONDS = 1.5


class _CheckProcesses:
    """The check processes of a build (a ``Runner``), so that a cancelled build stops them. The
    unit tests (`python -m pytest`) fork from the build's warm interpreter when ``pool`` has
    one (pandas, scikit-learn, azure-ai-ml already imported), else start as a new one."""

    def __init__(self, pool: StepPool | None = None) -> None:
        self.pool = pool
        self._lock = threading.Lock()
        self._running: set[Any] = set()  # Popen or ForkedProcess: pid, wait(timeout)

    def _track(self, process: Any) -> None:
        with self._lock:
            self._running.add(process)

    def _forked(self, cmd: list[str], cwd, env) -> subprocess.CompletedProcess | None:
        if self.pool is None or cmd[:3] != [sys.executable, "-m", "pytest"]:
            return None
        from mlops.pipeline.launch import LaunchError, run_captured

        server = self.pool.warmed_server(TESTS_WAIT_SECONDS)
        if server is None:  # still importing (a first build): a new interpreter is sooner
            return None
        forked: list[Any] = []

        def started(process: Any) -> None:
            forked.append(process)
            self._track(process)

        try:
            return run_captured(server, cmd[1:], Path(cwd or os.getcwd()),
                                server.aligned(dict(env or os.environ)), started=started)
        except LaunchError:
            return None  # started anew below
        finally:
            with self._lock:
                self._running.difference_update(forked)

    def run(self, cmd: list[str], *, cwd=None, env=None, capture_output: bool = True,
            text: bool = True, check: bool = False) -> subprocess.CompletedProcess:
        result = self._forked(cmd, cwd, env)
        if result is not None:
            return result
        process = subprocess.Popen(cmd, cwd=cwd, env=env, text=text, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   start_new_session=True)
        self._track(process)
        try:
            out, err = process.communicate()
        finally:
            with self._lock:
                self._running.discard(process)
        return subprocess.CompletedProcess(cmd, process.returncode, out, err)

    def stop(self) -> None:
        with self._lock:
            running = list(self._running)
        for process in running:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for process in running:
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


class _Concurrent:
    """A build's tasks run at once, each in a thread with a copy of this context (so that their
    pipelines share the build's pool), each started as soon as it can be: a model's lint and
    unit tests before the workspace is provisioned, its pipeline after. Leaving the block
    early (Ctrl-C, SIGTERM, or an error such as a failed provisioning) stops them all: steps
    terminated and their runs marked KILLED, check processes stopped."""

    def __init__(self, pool: StepPool, checks: _CheckProcesses, size: int):
        self.pool, self.checks = pool, checks
        self.futures: dict[str, Future] = {}
        self._executor = ThreadPoolExecutor(max_workers=max(1, size),
                                            thread_name_prefix="build")
        self._signals = sigterm_as_interrupt()

    def __enter__(self) -> _Concurrent:
        self._signals.__enter__()
        return self

    def start(self, name: str, task: Callable[[], Any]) -> None:
        self.futures[name] = self._executor.submit(contextvars.copy_context().run, task)

    def wait(self) -> dict[str, Future]:
        pending = set(self.futures.values())
        while pending:  # short waits: Ctrl-C reaches the main thread
            _, pending = wait_for(pending, timeout=0.2)
        return self.futures

    def __exit__(self, kind, error, traceback) -> None:
        try:
            if kind is not None:
                self.pool.cancel()
                self.checks.stop()
                wait_for(self.futures.values())
        finally:
            self._executor.shutdown(wait=True)
            self._signals.__exit__(kind, error, traceback)


def _outcome(future: Future) -> Any:
    """A task's result; a task that was interrupted re-raises; a factory error is returned."""
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, FactoryError):
        return error
    raise error


def pr_build(config: FactoryConfig, models: list[str], target: str = "local", *,
             platform=None, wait: bool = True, runner: Runner | None = None,
             checks: bool = True) -> list[BuildReport]:
    """Lint + unit tests and, concurrently, the pipeline on env ``pr`` of each model; every
    model at once, their steps sharing the compute cluster's nodes."""
    entries = [config.entry(m, "pr") for m in models]
    with shared_pool() as pool:
        processes = _CheckProcesses(pool)
        with _Concurrent(pool, processes, 2 * len(models)) as tasks:
            if platform is None:
                tested = [e for e in entries if checks and runner is None
                          and not _checks_cached(e, config.root)]
                _warm_up(pool, config, entries, target, tested)
            for entry in entries if checks else ():  # need no workspace: before provisioning
                tasks.start(f"{entry.model}.checks", functools.partial(
                    run_checks, entry, runner=runner or processes.run, root=config.root))
            platform = _platform(config, target, platform)
            for entry in entries:
                tasks.start(f"{entry.model}.pipeline", functools.partial(
                    _pipeline, platform, config, entry, run_names(entry), target, wait))
            done = tasks.wait()
    reports = []
    for model in models:
        report = _outcome(done[f"{model}.pipeline"])
        if isinstance(report, FactoryError):
            report = BuildReport(model, "pr", target, "failed", error=str(report))
        if checks:
            result = _outcome(done[f"{model}.checks"])
            if isinstance(result, FactoryError):
                report.checks = getattr(result, "checks", None) or [{"name": "checks",
                                                                    "status": "failed"}]
                report.error = f"{result}\n{report.error}".strip() if report.status == "failed" \
                    else str(result)
                report.status = "failed"
            else:
                report.checks = result
        reports.append(report)
    return _finish(reports, "pr_build")


def _deploy(platform, entry: ModelEnvConfig, names: RunNames, report: BuildReport,
            target: str) -> None:
    """Deploy the new champion and smoke-test it, when the platform can."""
    if not (report.gate and report.gate.get("registered")):
        report.deployment = {"summary": "skipped: no new champion (the gate kept the current "
                                        "one, which is already deployed)"}
        _say(f"{entry.model}: champion unchanged; deployment skipped")
        return
    if not entry.endpoint_kinds:
        report.deployment = {"summary": f"skipped: {entry.not_served()}"}
        _say(f"{entry.not_served()}; deployment and smoke test skipped")
        return
    _say(f"{entry.model}: deploying the new champion ({', '.join(entry.endpoint_kinds)})")
    endpoints = platform.deploy(entry, names)
    _say(f"{entry.model}: smoke test")
    response = platform.invoke(entry)
    report.deployment = {
        "summary": ", ".join(f"{e.kind} {e.name} ({e.status})" for e in endpoints)
                   + "; smoke test passed",
        "endpoints": [{"name": e.name, "kind": e.kind, "status": e.status,
                       "model_version": e.model_version, "scoring_uri": e.scoring_uri}
                      for e in endpoints],
        "smoke_test": response}


def ci_build(config: FactoryConfig, models: list[str], target: str = "local", *,
             platform=None, wait: bool = True, deploy: bool = True) -> list[BuildReport]:
    """The pipeline on env ``dev`` with the registry gate, then deploy + smoke test; every model
    at once, their steps sharing the compute cluster's nodes."""

    def build(model: str) -> BuildReport:
        entry = config.entry(model, "dev")
        names = run_names(entry)
        report = _pipeline(platform, config, entry, names, target, wait)
        if report.status == "passed" and deploy:
            try:
                _deploy(platform, entry, names, report, target)
            except FactoryError as exc:
                report.status, report.error = "failed", f"deploy/smoke test: {exc}"
        return report

    with shared_pool() as pool, _Concurrent(pool, _CheckProcesses(), len(models)) as tasks:
        if platform is None:
            _warm_up(pool, config, [config.entry(m, "dev") for m in models], target)
        platform = _platform(config, target, platform)
        for model in models:
            tasks.start(model, functools.partial(build, model))
        done = tasks.wait()
    reports = []
    for model in models:
        report = _outcome(done[model])
        if isinstance(report, FactoryError):
            report = BuildReport(model, "dev", target, "failed", error=str(report))
        reports.append(report)
    return _finish(reports, "ci_build")
