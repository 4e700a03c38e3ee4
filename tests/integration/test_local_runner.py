"""The local pipeline runner on a tiny fixture pipeline (trivial python steps): real
subprocesses, a real MLflow SQLite store."""

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

from mlops.pipeline.loader import load_pipeline
from mlops.pipeline.runner import RunSettings, StepFailed, run_pipeline

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_pipeline" / "pipeline.yml"


def settings(root: Path, max_nodes: int = 2, lines: list[str] | None = None) -> RunSettings:
    return RunSettings(runs_root=root / "runs", experiment="tiny_experiment",
                       display_name="tiny_run", tracking_uri=f"sqlite:///{root}/mlflow.db",
                       artifact_root=root / "artifacts", max_nodes=max_nodes,
                       log=(lines.append if lines is not None else print))


def statuses(run) -> dict[str, str]:
    return {s.name: s.status for s in run.steps}


def branch_record(run, side: str) -> dict:
    return json.loads((run.output(side, "out") / "out.json").read_text())


def db_rows(root: Path, sql: str, *params) -> list[tuple]:
    with sqlite3.connect(root / "mlflow.db") as conn:
        return list(conn.execute(sql, params))


def test_runs_in_dependency_order_and_reuses_everything_the_second_time(tmp_path):
    spec = load_pipeline(FIXTURE)
    lines: list[str] = []
    first = run_pipeline(spec, settings(tmp_path, lines=lines))
    assert statuses(first) == dict.fromkeys(["make", "left", "right", "join"], "completed")
    result = json.loads((first.output("join", "result") / "result.json").read_text())
    assert result == {"sum": (3 + 4) * 2 * 2}  # scale 2, both branches
    record = branch_record(first, "left")
    # the step ran with the runner's python, in its code folder, inside its own child run
    assert record["prefix"] == sys.prefix  # the factory environment, not a bare interpreter
    assert record["cwd"] == str(FIXTURE.parent / "src")
    assert record["mlflow_run_id"] == next(s.run_id for s in first.steps if s.name == "left")
    assert record["tracking_uri"] == f"sqlite:///{tmp_path}/mlflow.db"

    lines.clear()
    second = run_pipeline(spec, settings(tmp_path, lines=lines))
    assert statuses(second) == dict.fromkeys(["make", "left", "right", "join"], "reused")
    assert all(s.reused for s in second.steps)
    assert sum("reused" in line for line in lines) == 4
    assert second.output("join", "result") == first.output("join", "result")

    from mlflow.tracking import MlflowClient  # read back what the fast SQLite path wrote

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    experiment = client.get_experiment_by_name("tiny_experiment")
    runs = client.search_runs([experiment.experiment_id], max_results=50)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert {r.info.run_id for r in parents} == {first.run_id, second.run_id}
    assert all(r.info.run_name == "tiny_run" and r.info.status == "FINISHED" for r in parents)
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == second.run_id]
    assert sorted(r.info.run_name for r in children) == ["join", "left", "make", "right"]
    assert all(r.data.tags["factory.reused"] == "true" for r in children)
    assert all(r.info.status == "FINISHED" for r in children)


def test_metrics_a_step_hands_off_are_logged_to_its_run_and_kept_on_reuse(tmp_path):
    spec = load_pipeline(FIXTURE)
    first = run_pipeline(spec, settings(tmp_path))
    second = run_pipeline(spec, settings(tmp_path))
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db")
    for run in (first, second):
        make = next(s for s in run.steps if s.name == "make")
        assert client.get_run(make.run_id).data.metrics == {"total": 14.0}
    assert next(s for s in second.steps if s.name == "make").reused


def test_a_malformed_metrics_handoff_fails_the_step_naming_the_file(tmp_path, monkeypatch):
    monkeypatch.setenv("TINY_BAD_METRICS", '{"total": "lots"}')
    with pytest.raises(StepFailed) as caught:
        run_pipeline(load_pipeline(FIXTURE), settings(tmp_path))
    assert "step_metrics.jsonl: line 1: expected a JSON object of metric name -> number" \
        in str(caught.value)
    assert statuses(caught.value.result)["make"] == "failed"
    assert not list((tmp_path / "runs" / "steps").glob("tiny_make-*"))  # never reusable


def test_changing_one_parameter_reruns_only_that_step_and_downstream(tmp_path):
    spec = load_pipeline(FIXTURE)
    run_pipeline(spec, settings(tmp_path))
    changed = run_pipeline(spec, settings(tmp_path), {"right_sleep": 0.01})
    assert statuses(changed) == {"make": "reused", "left": "reused", "right": "completed",
                                 "join": "completed"}
    upstream = run_pipeline(spec, settings(tmp_path), {"scale": 3})
    assert statuses(upstream) == dict.fromkeys(["make", "left", "right", "join"], "completed")


def test_changing_the_data_reruns_the_steps_that_read_it(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.txt").write_text("1")
    spec = load_pipeline(FIXTURE)
    run_pipeline(spec, settings(tmp_path), {"raw_data": str(data)})
    assert statuses(run_pipeline(spec, settings(tmp_path), {"raw_data": str(data)})) == \
        dict.fromkeys(["make", "left", "right", "join"], "reused")
    (data / "a.txt").write_text("5")
    rerun = run_pipeline(spec, settings(tmp_path), {"raw_data": str(data)})
    assert all(s.status == "completed" for s in rerun.steps)
    assert json.loads((rerun.output("join", "result") / "result.json").read_text()) == \
        {"sum": 5 * 2 * 2}


def overlap(run) -> bool:
    left, right = branch_record(run, "left"), branch_record(run, "right")
    return left["start"] < right["end"] and right["start"] < left["end"]


def test_independent_steps_run_in_parallel_up_to_max_nodes(tmp_path):
    spec = load_pipeline(FIXTURE)
    sleeps = {"left_sleep": 1.5, "right_sleep": 1.5}
    assert overlap(run_pipeline(spec, settings(tmp_path / "two", max_nodes=2), sleeps))
    assert not overlap(run_pipeline(spec, settings(tmp_path / "one", max_nodes=1), sleeps))


def test_a_failing_step_stops_the_graph_and_shows_its_log_tail(tmp_path):
    spec = load_pipeline(FIXTURE)
    started = time.monotonic()
    with pytest.raises(StepFailed) as caught:
        run_pipeline(spec, settings(tmp_path), {"fail_step": "left", "right_sleep": 60})
    assert time.monotonic() - started < 45  # right was terminated, not waited for
    message = str(caught.value)
    assert "'left' failed" in message and "bad column 'fare'" in message
    assert statuses(caught.value.result) == {"make": "completed", "left": "failed",
                                             "right": "cancelled", "join": "skipped"}
    assert caught.value.result.status == "failed"
    # the failed step's log stays for reading; the cancelled step's partial outputs are gone
    partial = list((tmp_path / "runs" / "steps").glob(".tiny_branch-*.partial-*"))
    assert len(partial) == 1 and "failing on purpose" in (partial[0] / "std_log.txt").read_text()
    status = db_rows(tmp_path, "SELECT status FROM runs WHERE run_uuid = ?",
                     caught.value.result.run_id)
    assert status == [("FAILED",)]
    # a failed step is never reused: the next run executes it again
    again = run_pipeline(spec, settings(tmp_path))
    assert statuses(again)["left"] == "completed" and statuses(again)["make"] == "reused"


DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mlops.pipeline.loader import load_pipeline
    from mlops.pipeline.runner import RunSettings, run_pipeline
    root = Path(sys.argv[1])
    settings = RunSettings(runs_root=root / "runs", experiment="tiny_experiment",
                           display_name="interrupted", tracking_uri=f"sqlite:///{root}/mlflow.db",
                           artifact_root=root / "artifacts", max_nodes=2)
    try:
        run_pipeline(load_pipeline(Path(sys.argv[2])), settings,
                     {"left_sleep": 120, "right_sleep": 120})
    except KeyboardInterrupt:
        sys.exit(130)
""")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_sigint_terminates_running_steps_and_marks_the_run_killed(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(DRIVER)
    proc = subprocess.Popen([sys.executable, str(driver), str(tmp_path), str(FIXTURE)],
                            env={**os.environ, "TINY_PID_DIR": str(pids)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 180
    while len(list(pids.glob("*.pid"))) < 2:
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "steps never started"
        time.sleep(0.2)
    step_pids = [int(p.read_text()) for p in pids.glob("*.pid")]
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    assert not any(alive(pid) for pid in step_pids)
    rows = db_rows(tmp_path, "SELECT r.name, r.status FROM runs r")
    assert ("interrupted", "KILLED") in rows
    assert ("left", "KILLED") in rows and ("right", "KILLED") in rows
    assert not list((tmp_path / "runs" / "steps").glob(".*partial*"))
