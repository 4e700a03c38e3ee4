"""Tests run a model's steps as the runner does: forked from a warm interpreter
(mlops/testkit/warm.py), each run still its own process with its own argv, working folder,
environment, stdout, stderr and exit code; FACTORY_STEP_START=spawn gives a new interpreter."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from mlops.pipeline import kept
from mlops.pipeline.pool import START_ENV, StepPool
from mlops.testkit import warm

pytestmark = pytest.mark.integration

PROBE = textwrap.dedent("""
    import json, os, sys
    import pandas  # a preloaded library: already in sys.modules when forked
    print(json.dumps({"argv": sys.argv, "cwd": os.getcwd(), "path0": sys.path[0],
                      "name": __name__, "pid": os.getpid(), "probe": os.environ.get("PROBE"),
                      "stdin": os.readlink("/proc/self/fd/0")}))
    print("to stderr", file=sys.stderr)
    sys.exit(int(os.environ.get("EXIT", "0")))
""")


@pytest.fixture
def code(tmp_path: Path) -> Path:
    folder = tmp_path / "code"
    (folder / "pkg").mkdir(parents=True)
    (folder / "probe.py").write_text(PROBE)
    (folder / "pkg" / "__init__.py").write_text("")
    (folder / "pkg" / "main.py").write_text(
        "import json, sys\nprint(json.dumps({'argv0': sys.argv[0], 'args': sys.argv[1:], "
        "'path0': sys.path[0], 'package': __package__}))\nraise SystemExit('bad input: x')\n")
    return folder


def _env(**extra: str) -> dict[str, str]:
    return {**{k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}, **extra}


def test_a_run_is_its_own_process_with_separate_streams_and_exit_code(code):
    result = warm.run(["probe.py", "--flag", "a b"], code, _env(PROBE="yes", EXIT="3"))
    assert result.returncode == 3
    seen = json.loads(result.stdout)
    assert seen["argv"] == ["probe.py", "--flag", "a b"]  # argv as given, no shell
    assert seen["cwd"] == str(code) and seen["path0"] == str(code)
    assert seen["name"] == "__main__" and seen["probe"] == "yes"
    assert seen["pid"] != os.getpid() and seen["stdin"] == "/dev/null"
    assert result.stderr == "to stderr\n"  # stderr apart from stdout, as subprocess gives it


def test_a_module_runs_as_python_dash_m(code):
    result = warm.run(["-m", "pkg.main", "--x", "1"], code, _env())
    seen = json.loads(result.stdout)
    assert seen["argv0"] == str(code / "pkg" / "main.py") and seen["args"] == ["--x", "1"]
    assert seen["path0"] == str(code) and seen["package"] == "pkg"
    assert result.returncode == 1 and result.stderr.strip() == "bad input: x"


def test_runs_fork_warm_unless_spawn_is_asked(code, monkeypatch):
    """The warm server imported pandas before the run asked: the forked run finds it loaded
    at start (its import costs nothing); a spawned run starts a new interpreter."""
    check = code / "loaded.py"
    check.write_text("import sys\nprint('pandas' in sys.modules)\nimport pandas\n")
    assert warm.run(["loaded.py"], code, _env()).stdout.strip() == "True"
    monkeypatch.setenv(START_ENV, "spawn")
    assert warm.run(["loaded.py"], code, _env()).stdout.strip() == "False"


def test_a_caller_that_imported_scikit_learn_still_forks(code):
    """Importing scikit-learn sets KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK in the caller's
    environment (setdefault in sklearn/__init__.py); the server has the same from its own
    import, whether or not its first caller had them: runs still fork."""
    check = code / "loaded.py"
    check.write_text("import sys\nprint('sklearn' in sys.modules)\nimport sklearn\n")
    import sklearn  # noqa: F401 - sets the KMP_* variables in this process

    env = _env()
    assert env["KMP_INIT_AT_FORK"] and env["KMP_DUPLICATE_LIB_OK"]
    assert warm.run(["loaded.py"], code, env).stdout.strip() == "True"
    seen = {**warm._SERVER.env, **warm._SERVER.set_by_libraries}
    assert {k: seen.get(k) for k in ("KMP_INIT_AT_FORK", "KMP_DUPLICATE_LIB_OK")} == \
        {k: env[k] for k in ("KMP_INIT_AT_FORK", "KMP_DUPLICATE_LIB_OK")}


def test_a_run_past_its_timeout_is_killed(code):
    (code / "sleep.py").write_text(
        "import os, time\nfrom pathlib import Path\n"
        "Path(os.environ['PID_FILE']).write_text(str(os.getpid()))\ntime.sleep(120)\n")
    pid_file = code / "sleep.pid"
    with pytest.raises(subprocess.TimeoutExpired):
        warm.run(["sleep.py"], code, _env(PID_FILE=str(pid_file)), timeout=5)
    pid = int(pid_file.read_text())
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not Path(f"/proc/{pid}").exists()


def test_a_build_warms_its_server_before_the_first_step_asks(tmp_path):
    """pool.warm_up starts the fork server in the background; the first step's request then
    finds it (one server, the modules of the warm-up loaded) instead of starting one."""
    pool = StepPool(max_nodes=1)
    modules_called = threading.Event()

    def modules() -> list[str]:
        modules_called.set()
        return ["decimal"]

    try:
        pool.warm_up(sys.executable, _env(PYTHONUNBUFFERED="1"), tmp_path / "fs.log", modules)
        deadline = time.monotonic() + 120
        while pool._server is None or not pool._server.loaded:
            assert time.monotonic() < deadline, "the warm-up never started the server"
            time.sleep(0.05)
        assert modules_called.is_set() and "decimal" in pool._server.loaded
        first = pool._server
        assert pool.server(sys.executable, _env(), tmp_path / "other.log", ["decimal"]) is first
    finally:
        pool.close()
    assert first.process.poll() is not None  # closing the pool stops it


def test_closing_a_pool_stops_a_server_still_preloading_at_once(tmp_path, monkeypatch):
    """A warm build reuses every step and never asks the server: the build must not wait for
    the warm-up's imports to end before it closes. (A server of its own: a kept server's
    session, see test_kept_server.py.)"""
    monkeypatch.setenv(kept.KEEP_ENV, "0")
    slow = tmp_path / "slow"
    slow.mkdir()
    (slow / "slowmod.py").write_text("import time\ntime.sleep(120)\n")
    pool = StepPool(max_nodes=1)
    pool.warm_up(sys.executable, _env(PYTHONPATH=str(slow)), tmp_path / "fs.log",
                 lambda: ["slowmod"])
    deadline = time.monotonic() + 60
    while pool._server is None:
        assert time.monotonic() < deadline, "the warm-up never started the server"
        time.sleep(0.05)
    server = pool._server
    started = time.monotonic()
    pool.close()
    assert time.monotonic() - started < 10
    assert server.process.poll() is not None  # stopped, not left importing
    assert not (tmp_path / "fs.log").exists()  # it forked nothing: no log to keep
    assert pool.server(sys.executable, _env(), tmp_path / "late.log", ["json"]) is None
