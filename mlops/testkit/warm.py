"""Steps run by tests start as the local runner starts them: forked from a warm interpreter
(mlops/pipeline/forkserver.py) that has imported the libraries they use, one server per test
process shared by every model's kit. Each run is still its own process with its own argv,
environment, working folder, stdout, stderr and exit code.

FACTORY_STEP_START=spawn (the runner's switch) makes every run a new interpreter instead; so
does a run whose start-up variables (PYTHON*, OMP_*...) differ from the server's.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from mlops.pipeline.launch import ForkServer, LaunchError, run_captured, run_preload
from mlops.pipeline.pool import warm_by_default

_LOCK = threading.Lock()
_SERVER: ForkServer | None = None
_SCRATCH = Path(tempfile.mkdtemp(prefix="factory-kit-"))
atexit.register(shutil.rmtree, _SCRATCH, True)


def _server(code: Path, argv: list[str], env: dict[str, str]) -> ForkServer | None:
    """The process's warm server with what this run imports loaded (launch.run_preload: a run
    of prep does not wait for train's libraries); None when runs are spawned."""
    global _SERVER
    if not warm_by_default():
        return None
    modules = run_preload(code, argv)
    with _LOCK:
        try:
            if _SERVER is None or not _SERVER.alive:
                base = {k: v for k, v in env.items() if not k.startswith("MLFLOW_")}
                _SERVER = ForkServer(sys.executable, base, _SCRATCH / "forkserver.log", modules)
                atexit.register(_SERVER.close)
            else:
                _SERVER.preload(modules)
        except (LaunchError, OSError):
            return None
        return _SERVER


def run(argv: list[str], cwd: Path, env: dict[str, str],
        timeout: float = 600) -> subprocess.CompletedProcess:
    """``python argv...`` (argv may start with "-m") in ``cwd``, its output captured."""
    env = {**env, "PYTHONUNBUFFERED": "1"}
    server = _server(cwd, argv, env)
    if server is not None and not server.startup_differences(env):
        with contextlib.suppress(LaunchError):
            return run_captured(server, argv, cwd, env, timeout)
    return subprocess.run([sys.executable, *argv], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)
