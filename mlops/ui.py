"""`nox -s ui`: the MLflow UI over the local workspace's tracking and registry store (any
infrastructure environment: --env picks the workspace), bound to 127.0.0.1, its URL printed once
it answers; plus links to the HTML reports under reports/ (drift reports of `nox -s monitor`)
and the build reports. Runs until Ctrl-C, then stops the server's whole process group."""

from __future__ import annotations

import os
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from mlops.errors import FactoryError
from mlops.records import Workspace

PORT_ENV = "FACTORY_UI_PORT"
READY_TIMEOUT_S = 180.0
HEALTH = "/health"


class UIError(FactoryError):
    """The UI could not be started."""


def command(workspace: Workspace, port: int) -> list[str]:
    """`mlflow server` over the workspace's stores: the runs' artifacts are read where the
    runs recorded them (the workspace's artifact root), so the server proxies none."""
    if workspace.target != "local" or workspace.artifact_root is None:
        raise UIError(f"workspace {workspace.name} is on {workspace.target}: its UI is Azure ML "
                      f"studio (https://ml.azure.com); `nox -s ui` serves the local workspace")
    return [sys.executable, "-m", "mlflow", "server",
            "--backend-store-uri", workspace.mlflow_tracking_uri,
            "--registry-store-uri", workspace.mlflow_registry_uri,
            "--default-artifact-root", workspace.artifact_root.as_uri(),
            "--no-serve-artifacts", "--host", "127.0.0.1", "--port", str(port),
            "--workers", "1"]


def environment(environ=None) -> dict[str, str]:
    """The server's environment: MLflow's server jobs off. The UI runs none, and MLflow 3
    otherwise starts a job runner beside the web server, one more interpreter importing MLflow
    (mlflow/server/__init__.py, MLFLOW_SERVER_ENABLE_JOB_EXECUTION, default true)."""
    return {**(os.environ if environ is None else environ),
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}


def choose_port(environ=None) -> int:
    from mlops.serving.processes import free_port

    text = (os.environ if environ is None else environ).get(PORT_ENV, "").strip()
    if not text:
        return free_port()
    if not text.isdigit() or not 1024 <= int(text) <= 65535:
        raise UIError(f"{PORT_ENV}={text!r}: expected a port number between 1024 and 65535")
    return int(text)


def wait_ready(url: str, alive: Callable[[], bool], timeout: float = READY_TIMEOUT_S) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            with urllib.request.urlopen(url + HEALTH, timeout=5) as reply:
                if reply.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.3)
    return False


def report_links(reports: Path) -> list[str]:
    """file:// links of the HTML reports (drift, build), newest first."""
    found = [p for p in reports.glob("*.html") if p.is_file()]
    return [p.resolve().as_uri() for p in sorted(found, key=lambda p: -p.stat().st_mtime)]


def serve(workspace: Workspace, reports: Path, say: Callable[[str], None] = print) -> int:
    from mlops.serving import processes

    port = choose_port()
    argv = command(workspace, port)
    log = workspace.root / "ui" / "mlflow-ui.log"
    proc = processes.spawn(argv, log, env=environment(), cwd=workspace.root)
    started = processes.start_time(proc.pid)
    url = f"http://127.0.0.1:{port}"
    try:
        if not wait_ready(url, alive=lambda: proc.poll() is None):
            raise UIError(f"the MLflow UI did not answer on {url} within {READY_TIMEOUT_S:.0f} s;"
                          f" log {log}:\n{processes.log_tail(log)}")
        say(f"MLflow UI of workspace {workspace.name}: {url}  (Ctrl-C stops it)")
        for link in report_links(reports):
            say(f"  report: {link}")
        sys.stdout.flush()
        proc.wait()
        raise UIError(f"the MLflow UI stopped (exit {proc.returncode}); log {log}:\n"
                      f"{processes.log_tail(log)}")
    except KeyboardInterrupt:
        say("stopping the MLflow UI")
        return 0
    finally:
        processes.stop(proc.pid, started)

