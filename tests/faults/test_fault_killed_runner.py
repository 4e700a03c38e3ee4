"""Issue 11, item 10: `kill -9` of a build orphaned its steps. Steps run in their own sessions,
so they outlived the runner, their `.partial-*` folders stayed and the pipeline's MLflow run
stayed RUNNING. Reproduced for real: a runner process killed with SIGKILL mid-step, then the
next build on the same workspace."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlops.pipeline.lease import recover
from mlops.pipeline.loader import load_pipeline
from mlops.pipeline.runner import RunSettings, run_pipeline
from mlops.procinfo import start_time

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_pipeline" / "pipeline.yml"
DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mlops.pipeline.loader import load_pipeline
    from mlops.pipeline.runner import RunSettings, run_pipeline
    root = Path(sys.argv[1])
    settings = RunSettings(runs_root=root / "runs", experiment="tiny_experiment",
                           display_name="killed", tracking_uri=f"sqlite:///{root}/mlflow.db",
                           artifact_root=root / "artifacts", max_nodes=2)
    run_pipeline(load_pipeline(Path(sys.argv[2])), settings,
                 {"left_sleep": 300, "right_sleep": 300})
""")


def settings(root: Path, lines: list[str]) -> RunSettings:
    return RunSettings(runs_root=root / "runs", experiment="tiny_experiment",
                       display_name="next", tracking_uri=f"sqlite:///{root}/mlflow.db",
                       artifact_root=root / "artifacts", max_nodes=2, log=lines.append)


def alive(pid: int) -> bool:
    return start_time(pid) is not None


def runs(root: Path) -> dict[str, tuple[str, str | None]]:
    """"<pipeline run>/<step>" (or the pipeline run's name) -> (status, factory.end_reason)."""
    with sqlite3.connect(root / "mlflow.db") as conn:
        rows = conn.execute(
            "SELECT coalesce(p.name || '/', '') || r.name, r.status, t.value FROM runs r "
            "LEFT JOIN tags t ON t.run_uuid = r.run_uuid AND t.key = 'factory.end_reason' "
            "LEFT JOIN tags pt ON pt.run_uuid = r.run_uuid AND pt.key = 'mlflow.parentRunId' "
            "LEFT JOIN runs p ON p.run_uuid = pt.value")
        return {name: (status, reason) for name, status, reason in rows}


def kill_runner_mid_step(tmp_path: Path, start: str) -> tuple[int, list[int]]:
    """Start a pipeline in a runner process, SIGKILL it while both branch steps run."""
    pids = tmp_path / "pids"
    pids.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    env = {**os.environ, "TINY_PID_DIR": str(pids), "FACTORY_STEP_START": start}
    runner = subprocess.Popen([sys.executable, str(driver), str(tmp_path), str(FIXTURE)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while len(list(pids.glob("*.pid"))) < 2:
        assert runner.poll() is None, runner.stdout.read()
        assert time.monotonic() < deadline, "the steps never started"
        time.sleep(0.2)
    runner.kill()  # SIGKILL: no handler, no cleanup
    runner.wait()
    runner.stdout.close()
    return runner.pid, [int(p.read_text()) for p in pids.glob("*.pid")]


@pytest.mark.parametrize("start", ["spawn", "fork"])
def test_the_next_build_stops_orphans_removes_partials_and_marks_runs_killed(tmp_path, start):
    dead, step_pids = kill_runner_mid_step(tmp_path, start)
    steps = tmp_path / "runs" / "steps"
    partials = sorted(steps.glob(".*.partial-*"))
    assert len(partials) == 2  # the fault's debris: two half-written step folders...
    assert runs(tmp_path)["killed"][0] == "RUNNING"  # ...and a run that looks alive
    if start == "spawn":
        assert all(alive(pid) for pid in step_pids)  # orphans, until the next build
    else:  # the warm server saw its runner's pipe close and stopped its steps at once
        deadline = time.monotonic() + 30
        while any(alive(pid) for pid in step_pids) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not any(alive(pid) for pid in step_pids)

    lines: list[str] = []
    result = run_pipeline(load_pipeline(FIXTURE), settings(tmp_path, lines))
    assert result.status == "completed"
    assert not any(alive(pid) for pid in step_pids)
    assert not any(p.exists() for p in partials)
    assert not list(steps.glob(".*.partial-*"))
    recovered = [line for line in lines if line.startswith("recovered pipeline run")]
    assert len(recovered) == 1 and f"(pid {dead})" in recovered[0]
    if start == "spawn":
        assert "stopped left (pid" in recovered[0] and "right (pid" in recovered[0]
    after = runs(tmp_path)
    for name in ("killed", "killed/left", "killed/right"):
        status, reason = after[name]
        assert status == "KILLED" and f"runner pid {dead} died" in reason, (name, after[name])
    assert after["killed/make"] == ("FINISHED", None)  # it had finished: left as it was
    assert after["next"] == ("FINISHED", None)
    assert not list((tmp_path / "runs" / "leases").iterdir())  # every lease settled
    assert not list((tmp_path / "runs").glob(".forkserver-*.log"))


def test_a_reused_pid_is_never_mistaken_for_an_orphan(tmp_path):
    """The lease names a live process whose start time differs: it is someone else now."""
    leases = tmp_path / "runs" / "leases"
    leases.mkdir(parents=True)
    me = os.getpid()
    (leases / "abc.lock").write_text("")
    (leases / "abc.json").write_text(json.dumps({
        "schema_version": 1, "id": "abc", "run_id": "", "tracking_uri": "", "pid": 1,
        "steps": {"train": {"pid": me, "start_time": start_time(me) + 1, "run_id": "",
                            "partial": str(tmp_path / "runs" / "steps" / ".x.partial-abc-1")}},
        "helpers": {}}))
    lines: list[str] = []
    (found,) = recover(tmp_path / "runs", tmp_path / "runs" / "steps", lines.append)
    assert found.stopped == [] and alive(me)
    assert not list(leases.iterdir())


def test_a_live_runner_s_lease_is_left_alone(tmp_path):
    """Another build that is running holds its lease's lock: nothing of it is touched."""
    from mlops.pipeline.lease import Lease

    lease = Lease(tmp_path / "runs", f"sqlite:///{tmp_path}/mlflow.db")
    partial = tmp_path / "runs" / "steps" / ".s-k.partial-x"
    partial.mkdir(parents=True)
    sleeper = subprocess.Popen(["sleep", "60"], start_new_session=True)
    try:
        lease.add_step("train", "", partial)
        lease.started("train", sleeper.pid)
        assert recover(tmp_path / "runs", tmp_path / "runs" / "steps", print) == []
        assert alive(sleeper.pid) and partial.exists() and lease.path.exists()
    finally:
        os.killpg(sleeper.pid, signal.SIGKILL)
        sleeper.wait()
        lease.release()
