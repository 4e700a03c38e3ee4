"""`nox -s ui` for real: the MLflow UI over a workspace's SQLite store, started as a subprocess
through the function the ui command calls, its printed URL loaded in headless chromium; the
experiment and the registered model are listed; Ctrl-C stops the server."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlops import build_report
from mlops.bench import _serving_model as fixture_model
from mlops.build_report import BuildReport
from mlops.config import load_config
from mlops.paths import local_workspace
from mlops.serving.client import request
from mlops.serving.processes import tree
from mlops.testkit.signals import interruptible

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures"))
import browser  # noqa: E402

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
MODEL = "ui_fixture_model"
EXPERIMENT = "serving-fixture"  # the fixture model's experiment
SERVE = ("import json, sys\nfrom pathlib import Path\nfrom mlops.records import Workspace\n"
         "from mlops.ui import serve\n"
         "sys.exit(serve(Workspace.from_output(json.loads(sys.argv[1])), Path(sys.argv[2])))\n")


@pytest.fixture
def ui(tmp_path):
    workspace = local_workspace(load_config().infra_env("dev"), tmp_path / "state")
    fixture_model.train_and_register(workspace, MODEL)
    reports = tmp_path / "reports"
    build_report.write(BuildReport(
        model="nyc_taxi", env="pr", target="local", status="passed", experiment=EXPERIMENT,
        metrics={"r2": 0.9123, "rmse": 2.5}, steps=[{"name": "train", "status": "completed",
                                                    "reused": False, "seconds": 3.2}],
        gate={"passed": True, "registered": True, "reason": "beats the champion <&>",
              "metric": "r2", "candidate": 0.9123, "champion": None, "model_version": "1"}),
        reports)
    proc = subprocess.Popen([sys.executable, "-c", SERVE, json.dumps(workspace.to_output()),
                             str(reports)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=interruptible)
    lines, url = [], None
    deadline = time.monotonic() + 240
    while url is None and time.monotonic() < deadline and proc.poll() is None:
        line = proc.stdout.readline()
        lines.append(line)
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        url = found.group(1) if found else None
    try:
        assert url, "".join(lines)
        yield url, proc, lines
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)


def test_ui_lists_the_experiment_and_the_registered_model(ui):
    url, proc, lines = ui
    # the reports are linked next to the URL, and the build report reads in a browser
    while not any("nyc_taxi_pr.html" in line for line in lines):
        lines.append(proc.stdout.readline())
    link = next(re.search(r"(file://\S+)", line).group(1) for line in lines
                if "nyc_taxi_pr.html" in line)
    page = browser.dom(link)
    assert "nyc_taxi · pr · passed" in page and "0.9123" in page
    assert "beats the champion &lt;&amp;&gt;" in page  # escaped, not markup
    browser.screenshot(link, "build_report", size="900,600")
    assert request(url + "/health").status == 200
    experiments = browser.dom(url + "/#/experiments")
    assert EXPERIMENT in experiments
    models = browser.dom(url + "/#/models")
    assert MODEL in models
    browser.screenshot(url + "/#/models", "mlflow_ui_models")
    # the web server only: no job runner importing MLflow beside it (mlops.ui.environment)
    commands = [Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
                for pid in tree(proc.pid) if Path(f"/proc/{pid}").exists()]
    assert any("mlflow server" in c or "uvicorn" in c for c in commands), commands
    assert not [c for c in commands if "mlflow.server.jobs" in c], commands

    proc.send_signal(signal.SIGINT)  # Ctrl-C
    assert proc.wait(timeout=60) == 0
    with pytest.raises(OSError):
        request(url + "/health", timeout=5)
