"""Start a step's process: forked from a warm interpreter (forkserver.py) when its command is the
simple form ``python <script>.py ...``, else spawned with bash as the command line says.

Either way the step is its own process group with its own argv, environment, working folder,
log and exit code, and the runner holds a handle with Popen's poll/wait/pid. A forked step
skips starting Python and importing the libraries the server preloaded: those of the step
scripts' module-level imports, and the heavy libraries (PRELOAD_ROOTS) wherever imported.
"""

from __future__ import annotations

import ast
import contextlib
import itertools
import json
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Protocol

from mlops.errors import FactoryError
from mlops.pipeline import kept
from mlops.pipeline.hashing import tree_files

SERVER = Path(__file__).with_name("forkserver.py")
# Libraries worth preloading even where a step imports them inside a function (they cost
# seconds to import). Submodules a library loads lazily on first use are listed with it.
PRELOAD_ROOTS: dict[str, tuple[str, ...]] = {
    "numpy": (), "pandas": (), "scipy": (), "pyarrow": (), "skops": ("skops.io",),
    "sklearn": ("sklearn.base", "sklearn.utils"),
    "mlflow": ("mlflow.tracking", "mlflow.models", "mlflow.pyfunc",
               "mlflow.store.tracking.sqlalchemy_store",
               "mlflow.store.model_registry.sqlalchemy_store"),
    "azure": (),  # azure-ai-ml: the contract tests load a model's pipeline with it (3+ s)
}
# The factory's own package: never imported into a server (a kept one would hold old code).
FACTORY_PACKAGE = __name__.split(".")[0]
# Heavy libraries a run preloads from a helper's function only when its own script imports
# them too: the steps' shared helpers import MLflow inside functions used only in a pipeline
# run, and a test that runs prep should not wait the seconds MLflow costs.
RUN_ONLY_ROOTS = ("mlflow",)
# Loaded when steps use both libraries: MLflow's sklearn flavour persists models with skops,
# whose import alone (it lists every sklearn estimator) costs about 2 s.
PRELOAD_TOGETHER: dict[tuple[str, ...], tuple[str, ...]] = {
    ("mlflow", "sklearn"): ("mlflow.sklearn", "skops.io"),
}
# Read-only caches of the installed environment (never tracking state: no URI, no run) worth
# filling once: MLflow maps modules to installed distributions, by scanning every package's
# metadata (2-4 s), each time a step loads a model. azure-ai-ml calls inspect.stack() whenever
# it builds an experimental schema class (_utils/_experimental.py, _should_skip_warning), and
# the first call maps every loaded module to its file (1-1.5 s once azure-ai-ml is loaded);
# later calls only map modules new since. module:function, called without arguments after the
# module is preloaded; a failure only costs the step that time again.
WARM_CALLS: dict[str, str] = {
    "mlflow.pyfunc": "mlflow.utils.requirements_utils:_init_packages_to_modules_map",
    "azure.ai.ml": "inspect:stack",
}
# Variables a library reads once, when the interpreter starts or the library loads: a step
# whose values differ from the server's cannot be forked from it (it is spawned instead).
STARTUP_PREFIXES = ("PYTHON", "OMP_", "OPENBLAS_", "MKL_", "KMP_", "GOTO", "LD_", "MALLOC_",
                    "ARROW_", "LC_")
STARTUP_NAMES = ("LANG", "TZ")
READY_TIMEOUT_SECONDS = 600.0  # preloading on a busy 2-core machine can take a while
REPLY_TIMEOUT_SECONDS = 60.0


class LaunchError(FactoryError):
    """The fork server could not start a step (it died, or did not answer)."""


class StepProcess(Protocol):
    """What the runner needs of a running step (subprocess.Popen has it)."""

    pid: int
    returncode: int | None

    def poll(self) -> int | None: ...

    def wait(self, timeout: float | None = None) -> int: ...


def spawn(line: str, cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen:
    """The command line run by bash in its own session, output appended to ``log``."""
    with log.open("a") as handle:
        return subprocess.Popen(["/bin/bash", "-c", line], cwd=cwd, env=env, stdout=handle,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                start_new_session=True)


def startup_differences(env: dict[str, str], server_env: dict[str, str],
                        set_by_libraries: dict[str, str] | None = None) -> list[str]:
    """The start-up variables (see STARTUP_PREFIXES) whose values differ between a step's env
    and the server's. ``set_by_libraries``: what the server's preloaded libraries set for
    themselves on import; a step without such a variable gets the same from its own import,
    a step with it must have the same value."""
    library = set_by_libraries or {}
    effective = {**server_env, **library}
    keys = {k for k in (*env, *effective) if _startup(k)}
    return sorted(k for k in keys if env.get(k) != effective.get(k)
                  and not (k not in env and k in library))


def _startup(name: str) -> bool:
    return name.startswith(STARTUP_PREFIXES) or name in STARTUP_NAMES


def kept_environment(env: dict[str, str]) -> dict[str, str]:
    """What a kept server starts with: the start-up variables, which it must share with the
    steps it forks, and a few harmless ones; never the build's other variables (secrets
    among them), since it outlives the build (each forked step gets its own env anyway)."""
    return {k: v for k, v in env.items() if _startup(k) or k in kept.HARMLESS}


def _imports(tree: ast.Module) -> Iterable[tuple[str, bool]]:
    """(module, at module level) for every absolute import in ``tree``; module level includes
    imports under a module-level if/try, not those inside a function or class body."""
    top: set[int] = set()
    frontier: list[ast.AST] = list(tree.body)
    while frontier:
        node = frontier.pop()
        top.add(id(node))
        if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                                 ast.Lambda)):
            frontier.extend(ast.iter_child_nodes(node))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            yield node.module, id(node) in top


# CPython 3.11's AST constructor keeps its recursion depth per interpreter, not per thread:
# two pipelines parsing at once in one build fail with "SystemError: AST constructor recursion
# depth mismatch" (python/cpython#106905). One parse at a time.
_PARSING = threading.Lock()


def _parse(file: Path) -> ast.Module | None:
    try:
        with _PARSING:
            return ast.parse(file.read_bytes(), str(file))
    except (OSError, SyntaxError, ValueError):
        return None  # the step will report it when it runs


def _local_names(folder: Path) -> set[str]:
    """Top-level modules and packages a code folder provides."""
    return {p.stem if p.suffix == ".py" else p.name for p in folder.iterdir()
            if (p.suffix == ".py" and p.is_file()) or (p / "__init__.py").is_file()}


def _wanted(files: Iterable[Path], local: set[str], entry: Path | None = None) -> list[str]:
    """The files' module-level imports and every import of a PRELOAD_ROOTS library (with its
    companions) wherever it is; given an ``entry`` script, the other files' function-level
    imports of RUN_ONLY_ROOTS are left out. Never a module a code folder provides itself."""
    files = list(files)
    found: dict[str, None] = {}
    for file in files:
        tree = _parse(file)
        skipped = RUN_ONLY_ROOTS if entry is not None and file != entry else ()
        for module, top_level in _imports(tree) if tree is not None else ():
            root = module.split(".")[0]
            if top_level or (root in PRELOAD_ROOTS and root not in skipped):
                found.setdefault(module)
                for companion in PRELOAD_ROOTS.get(root, ()):
                    found.setdefault(companion)
    roots = {m.split(".")[0] for m in found}
    for together, companions in PRELOAD_TOGETHER.items():
        if roots >= set(together):
            found.update(dict.fromkeys(companions))
    return [m for m in found if m.split(".")[0] not in local | {"__future__"}]


def _sources(folders: Iterable[Path]) -> tuple[set[str], list[Path]]:
    """The modules the folders provide themselves, and their Python files."""
    local: set[str] = set()
    files: list[Path] = []
    for folder in folders:
        local |= _local_names(folder)
        files += [f for f in tree_files(folder) if f.suffix == ".py"]
    return local, files


def preload_modules(code_folders: Iterable[Path]) -> list[str]:
    """What a server should import for steps of these code folders: what every file of them
    imports (see _wanted); two models both have a `schema`: each child imports its own."""
    local, files = _sources(code_folders)
    return _wanted(files, local)


def check_preload(test_folders: Iterable[Path]) -> list[str]:
    """What a server should import for a build's unit-test run (`python -m pytest` over these
    folders): pytest, the test files' module-level imports and the heavy libraries they import
    anywhere; never the factory's own modules, nor the folders' own."""
    local, files = _sources(test_folders)
    return list(dict.fromkeys(["pytest", *_wanted(files, local | {FACTORY_PACKAGE})]))


def run_preload(folder: Path, argv: list[str]) -> list[str]:
    """What a server should import for one run of ``python argv...`` in ``folder`` (argv may
    start with "-m"): the module-level imports of its script and of the folder's own modules it
    reaches, followed import by import, and the heavy libraries any of them imports anywhere
    (a data generator's scikit-learn dataset, imported in a function of the model's module),
    except RUN_ONLY_ROOTS in helpers; not what the folder's other scripts import (a test that
    runs prep need not wait for what train imports)."""
    local = _local_names(folder)
    if argv[0] == "-m":
        parts = argv[1].split(".")
        queue = [folder.joinpath(*parts).with_suffix(".py"), folder.joinpath(*parts, "__main__.py")]
    else:
        queue = [folder / argv[0]]
    reached: list[Path] = []
    while queue:
        file = queue.pop()
        if file in reached or not file.is_file():
            continue
        reached.append(file)
        tree = _parse(file)
        for node in ast.walk(tree) if tree is not None else ():
            names: list[list[str]] = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".") for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                base = node.module.split(".")
                names = [base] + [base + [a.name] for a in node.names]
            for parts in names:
                if parts[0] not in local:
                    continue
                for depth in range(1, len(parts) + 1):
                    target = folder.joinpath(*parts[:depth])
                    queue += [target.with_suffix(".py"), target / "__init__.py"]
    return _wanted(reached, local, entry=reached[0] if reached else None)


class ForkedProcess:
    """A step forked by the server: poll/wait/pid like Popen; the exit code arrives by reply."""

    def __init__(self, request_id: int, log: Path):
        self.request_id, self.log = request_id, log
        self.pid = 0
        self.returncode: int | None = None
        self.error: str | None = None
        self._started, self._done = threading.Event(), threading.Event()

    def poll(self) -> int | None:
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        if not self._done.wait(timeout):
            raise subprocess.TimeoutExpired(f"forked step {self.pid}", timeout or 0.0)
        return self.returncode  # type: ignore[return-value]

    def _reply(self, message: dict[str, Any]) -> None:
        if "pid" in message:
            self.pid = int(message["pid"])
            self._started.set()
        elif "exit" in message:
            self._end(int(message["exit"]))
        elif "error" in message:
            self.error = str(message["error"])
            self._started.set()
            self._end(-1)

    def _end(self, code: int) -> None:
        self.returncode = code
        self._started.set()
        self._done.set()


class _Preload:
    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: dict[str, Any] = {}

    def _reply(self, message: dict[str, Any]) -> None:
        self.result = message
        self.done.set()

    def _end(self, code: int) -> None:
        self.done.set()


class ForkServer:
    """The runner's side of forkserver.py: one per build, shared by its pipelines' threads."""

    def __init__(self, python: str, env: dict[str, str], log: Path,
                 modules: Iterable[str] = (), wait: bool = True, keep: float | None = None,
                 later: Iterable[str] = ()):
        """A session of this environment's kept server (kept.py), or a server of its own when
        ``keep`` is 0 (default: kept.KEEP_ENV) or none can be had (see kept_note), importing
        ``modules``; ``wait``: until it has (else see wait_ready; until then close() stops
        it at once). ``later``: modules the kept server imports after forking this session
        (its later sessions have them; a server of its own ignores them)."""
        self.env = {**env, "PYTHONUNBUFFERED": "1"}
        self.python = python
        self.log = log
        self.kept_note = ""  # why this build has a server of its own, when it should not
        self.loaded: set[str] = set()
        self.failed: dict[str, str] = {}
        self.preload_seconds = 0.0
        self.set_by_libraries: dict[str, str] = {}
        self.error: str | None = None
        self._ids = itertools.count(1)
        self._waiting: dict[int, Any] = {}
        self._lock = threading.Lock()
        request_r, self._requests = os.pipe()
        self._replies, reply_w = os.pipe()
        modules = list(modules)
        ready = _Preload()
        self._waiting[0] = ready
        log.parent.mkdir(parents=True, exist_ok=True)
        keep = kept.keep_seconds() if keep is None else keep
        self.process: subprocess.Popen | kept.Session
        try:
            if keep <= 0:
                self.kept_note = f"no kept warm server: {kept.KEEP_ENV} is 0"
            else:
                try:
                    self.process = kept.session(
                        python, kept_environment(self.env), SERVER, log, modules,
                        (request_r, reply_w), keep, WARM_CALLS, READY_TIMEOUT_SECONDS,
                        list(later))
                except (kept.KeptServerError, OSError) as exc:
                    self.kept_note = f"no kept warm server: {exc}"
            if self.kept_note:
                with log.open("w") as out:
                    self.process = subprocess.Popen(
                        [python, str(SERVER), str(request_r), str(reply_w),
                         json.dumps(modules), json.dumps(WARM_CALLS)],
                        pass_fds=(request_r, reply_w), env=self.env, cwd=log.parent,
                        stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                        start_new_session=True)
        finally:
            os.close(request_r)
            os.close(reply_w)
        self._reader = threading.Thread(target=self._read, name="forkserver-replies",
                                        daemon=True)
        self._reader.start()
        self._starting: _Preload | None = ready
        self._ready_lock = threading.Lock()
        if wait:
            self.wait_ready()

    def wait_ready(self) -> None:
        """Wait until the server has imported its first modules (raises LaunchError if it
        failed or was stopped meanwhile)."""
        with self._ready_lock:
            if self._starting is not None:
                self._record(self._starting, READY_TIMEOUT_SECONDS, "start")
                self._starting = None

    # -- replies -----------------------------------------------------------------------------
    def _read(self) -> None:
        pending = b""
        while True:
            try:
                data = os.read(self._replies, 1 << 16)
            except OSError:
                data = b""
            if not data:
                break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                message = json.loads(line)
                if message.get("id") == 0 and isinstance(self.process, kept.Session):
                    self.process.known(int(message["pid"]))
                with self._lock:
                    waiter = self._waiting.get(message.get("id"))
                    if waiter is not None and ("exit" in message or "error" in message
                                               or "preloaded" in message):
                        del self._waiting[message["id"]]
                if waiter is not None:
                    waiter._reply(message)
        code = self.process.wait()
        with self._lock:
            how = (f"code {code}" if isinstance(self.process, subprocess.Popen) else
                   f"session {self.process.pid} of the kept server, whose log "
                   f"{self.process.socket_path.with_suffix('.log')} has its exit code")
            self.error = self.error or f"the fork server exited ({how}); log: {self.log}"
            waiting, self._waiting = list(self._waiting.values()), {}
        for waiter in waiting:
            if isinstance(waiter, ForkedProcess):
                if waiter.pid:  # no one reaps or stops it now: stop it here
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(waiter.pid, signal.SIGKILL)
                with contextlib.suppress(OSError), waiter.log.open("a") as out:
                    out.write(f"\nrunner: {self.error}; the step was stopped\n")
            waiter._end(-1)
        os.close(self._replies)

    def _send(self, message: dict[str, Any], waiter: Any) -> None:
        data = (json.dumps(message) + "\n").encode()
        with self._lock:
            if self.error:
                raise LaunchError(self.error)
            self._waiting[message["id"]] = waiter
            try:
                os.write(self._requests, data)
            except OSError as exc:
                del self._waiting[message["id"]]
                raise LaunchError(f"the fork server is not reading requests ({exc})") from None

    def _record(self, preload: _Preload, timeout: float, what: str) -> None:
        if not preload.done.wait(timeout):
            raise LaunchError(f"the fork server did not {what} within {timeout:.0f}s; log: "
                              f"{self.log}")
        if not preload.result:
            raise LaunchError(self.error or f"the fork server failed to {what}")
        self.loaded.update(preload.result.get("preloaded", []))
        self.failed.update(preload.result.get("failed", {}))
        self.set_by_libraries = dict(preload.result.get("set_by_libraries", {}))
        self.preload_seconds += float(preload.result.get("seconds", 0.0))

    # -- requests ----------------------------------------------------------------------------
    def startup_differences(self, env: dict[str, str]) -> list[str]:
        """Why a step with ``env`` cannot be forked from this server (empty: it can)."""
        return startup_differences(env, self.env, self.set_by_libraries)

    def aligned(self, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the server's start-up variables (for a process that may run with the
        server's: a build's unit tests get a slot's thread counts, as its steps do)."""
        kept_apart = {k: v for k, v in env.items() if not _startup(k)}
        return {**kept_apart, **{k: v for k, v in self.env.items() if _startup(k)}}

    @property
    def alive(self) -> bool:
        return self.error is None and self.process.poll() is None

    def preload(self, modules: Iterable[str]) -> None:
        """Import more modules into the server (later forks have them); waits until done."""
        missing = [m for m in modules if m not in self.loaded and m not in self.failed]
        if not missing:
            return
        waiter = _Preload()
        self._send({"op": "preload", "id": next(self._ids), "modules": missing}, waiter)
        self._record(waiter, READY_TIMEOUT_SECONDS, "preload")

    def start(self, argv: list[str], cwd: Path, env: dict[str, str], log: Path,
              err: Path | None = None) -> ForkedProcess:
        """Fork ``python argv...`` (argv may start with "-m") in ``cwd`` with ``env``, appending
        its output to ``log`` (its stderr to ``err`` when given)."""
        process = ForkedProcess(next(self._ids), log)
        self._send({"op": "run", "id": process.request_id, "argv": argv, "cwd": str(cwd),
                    "env": env, "log": str(log), "err": str(err) if err else None}, process)
        if not process._started.wait(REPLY_TIMEOUT_SECONDS):
            raise LaunchError(f"the fork server did not start {argv[0]} within "
                              f"{REPLY_TIMEOUT_SECONDS:.0f}s; log: {self.log}")
        if process.error or not process.pid:
            raise LaunchError(process.error or self.error or "the fork server failed to fork")
        return process

    def close(self) -> None:
        """Close the request pipe (the server stops what is left and exits) and reap it. A
        server still importing its first modules has forked nothing: it is stopped at once."""
        starting = self._starting
        stopped_early = starting is not None and not starting.done.is_set()
        if stopped_early:  # a kept server's session not forked yet ends as its pipe closes
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
        with self._lock:
            if self._requests < 0:
                return
            os.close(self._requests)
            self._requests = -1
            self.error = self.error or "the fork server was closed"
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                self.process.kill()
            self.process.wait()
        if not (stopped_early and isinstance(self.process, kept.Session)):
            self._reader.join(timeout=5)  # (a kept server importing for us still holds it)
        if stopped_early or (self.process.returncode == 0 and not self.failed):
            with contextlib.suppress(OSError):
                self.log.unlink()


def run_captured(server: ForkServer, argv: list[str], cwd: Path, env: dict[str, str],
                 timeout: float | None = None,
                 started: Callable[[ForkedProcess], None] | None = None
                 ) -> subprocess.CompletedProcess:
    """``python argv...`` forked from ``server``, its stdout and stderr captured apart, as
    ``subprocess.run(capture_output=True, text=True)`` gives them. ``started`` gets the process
    as soon as it runs (to stop it); past ``timeout`` its group is killed and TimeoutExpired
    raised. Raises LaunchError when the server cannot fork it."""
    command = [server.python, *argv]
    with tempfile.TemporaryDirectory(prefix="forked-") as scratch:
        out, err = Path(scratch) / "stdout", Path(scratch) / "stderr"
        process = server.start(argv, cwd, env, out, err)
        if started is not None:
            started(process)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            raise subprocess.TimeoutExpired(command, timeout or 0.0) from None
        read = lambda path: path.read_text(errors="replace") if path.exists() else ""  # noqa: E731
        return subprocess.CompletedProcess(command, code, read(out), read(err))
