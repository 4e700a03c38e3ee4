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

from mlops.config import load_config
from mlops.pipeline import kept
from mlops.pipeline.loader import load_pipeline
from mlops.pipeline.runner import RunSettings, StepFailed, run_pipeline
from mlops.testkit.signals import interruptible

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
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=interruptible)
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


# -- warm (forked) steps ---------------------------------------------------------------------
def one_step_pipeline(folder: Path, script: str, *, name: str = "step", command: str = "",
                      tags: dict | None = None, code: str = "src",
                      modules: dict[str, str] | None = None) -> Path:
    """A pipeline of one job running ``script`` (as step.py in ``code``) with --out <folder>."""
    src = folder / code
    src.mkdir(parents=True, exist_ok=True)
    (src / "step.py").write_text(textwrap.dedent(script))
    for module, text in (modules or {}).items():
        (src / f"{module}.py").write_text(text)
    component = {"name": name, "version": "1", "type": "command", "code": f"../{code}",
                 "outputs": {"out": {"type": "uri_folder"}},
                 "command": command or "python step.py --out ${{outputs.out}}",
                 **({"tags": tags} if tags else {})}
    (folder / "components").mkdir(exist_ok=True)
    (folder / "components" / f"{name}.yml").write_text(json.dumps(component))
    pipeline = {"type": "pipeline", "jobs": {"step": {"type": "command",
                                                      "component": f"file:components/{name}.yml"}}}
    (folder / "pipeline.yml").write_text(json.dumps(pipeline))
    return folder / "pipeline.yml"


def test_a_forked_step_lives_in_the_world_a_spawned_one_does(tmp_path, monkeypatch):
    spec = load_pipeline(FIXTURE)
    records, lines = {}, {}
    for start in ("spawn", "fork"):
        monkeypatch.setenv("FACTORY_STEP_START", start)
        lines[start] = []
        run = run_pipeline(spec, settings(tmp_path / start, lines=lines[start]))
        records[start] = branch_record(run, "left")
    assert sum("forked from the warm interpreter" in line for line in lines["fork"]) == 4
    assert sum("spawned (warm start is off)" in line for line in lines["spawn"]) == 4
    spawned, forked = records["spawn"], records["fork"]
    for key in ("python", "prefix", "cwd", "path0", "main", "file", "stdin", "side"):
        assert forked[key] == spawned[key], key
    assert forked["stdin"] == "/dev/null"
    assert forked["argv"][0] == "branch.py" and forked["file"] == str(FIXTURE.parent / "src" /
                                                                       "branch.py")
    assert [a for a in forked["argv"] if a.startswith("--")] == \
        [a for a in spawned["argv"] if a.startswith("--")]
    assert forked["pid"] == forked["pgid"] == forked["sid"]  # its own session and group
    assert forked["tracking_uri"] != spawned["tracking_uri"]  # each run's own store
    for start in ("spawn", "fork"):  # each step's output went to its own log
        logs = list((tmp_path / start / "runs" / "steps").glob("tiny_branch-*/std_log.txt"))
        assert sorted("left: done" in p.read_text() for p in logs) == [False, True]


def test_each_pipeline_imports_its_own_same_named_module(tmp_path):
    step = """
        import json, sys
        from pathlib import Path
        import schema
        out = Path(sys.argv[sys.argv.index("--out") + 1])
        (out / "r.json").write_text(json.dumps({"value": schema.VALUE, "file": schema.__file__}))
    """
    specs = {model: load_pipeline(one_step_pipeline(tmp_path / model, step, name=model,
                                                    modules={"schema": f"VALUE = {model!r}\n"}))
             for model in ("nyc", "london")}
    orphan = load_pipeline(one_step_pipeline(tmp_path / "orphan", step, name="orphan"))
    from mlops.pipeline.pool import shared_pool

    with shared_pool() as pool:  # one warm server for all three, as in one build
        for model, spec in specs.items():
            run = run_pipeline(spec, settings(tmp_path / "ws"))
            record = json.loads((run.output("step", "out") / "r.json").read_text())
            assert record == {"value": model, "file": str(tmp_path / model / "src" / "schema.py")}
        with pytest.raises(StepFailed, match="ModuleNotFoundError: No module named 'schema'"):
            run_pipeline(orphan, settings(tmp_path / "ws"))  # no other model's module leaks
        assert pool._server is not None and pool._server.alive


def test_mlflow_state_never_leaks_from_the_warm_server(tmp_path, monkeypatch):
    # a kept server of its own: one shared with earlier tests may hold their libraries
    monkeypatch.setenv(kept.DIR_ENV, str(tmp_path / "warm"))
    step = """
        import json, os, sys
        from pathlib import Path
        import mlflow
        out = Path(sys.argv[sys.argv.index("--out") + 1])
        (out / "r.json").write_text(json.dumps({
            "uri": mlflow.get_tracking_uri(), "active": mlflow.active_run() is not None,
            "run": os.environ["MLFLOW_RUN_ID"], "preloaded": "sklearn" in sys.modules}))
    """
    spec = load_pipeline(one_step_pipeline(tmp_path / "p", step))
    from mlops.pipeline.pool import shared_pool

    try:
        with shared_pool():
            first = run_pipeline(spec, settings(tmp_path / "one"))
            second = run_pipeline(spec, settings(tmp_path / "two"))
    finally:
        kept.stop_all(tmp_path / "warm")
    for root, run in ((tmp_path / "one", first), (tmp_path / "two", second)):
        record = json.loads((run.output("step", "out") / "r.json").read_text())
        assert record["uri"] == f"sqlite:///{root}/mlflow.db"
        assert not record["active"] and record["run"] == run.steps[0].run_id
        assert not record["preloaded"]  # the server loads only what these steps import


def test_opted_out_and_shell_commands_are_spawned(tmp_path):
    step = "import sys\nfrom pathlib import Path\n" \
           "Path(sys.argv[-1], 'r.txt').write_text('ok')\n"
    lines: list[str] = []
    opted = load_pipeline(one_step_pipeline(tmp_path / "a", step,
                                            tags={"factory.spawn": "true"}))
    run_pipeline(opted, settings(tmp_path / "a", lines=lines))
    shell = load_pipeline(one_step_pipeline(
        tmp_path / "b", step, command="python step.py --out ${{outputs.out}} && echo done"))
    run_pipeline(shell, settings(tmp_path / "b", lines=lines))
    started = [line for line in lines if "started" in line]
    assert started == ["  step: started (spawned (component tag factory.spawn))",
                       "  step: started (spawned (the command is not the simple "
                       "`python <script>.py ...` form))"]


def test_a_failing_forked_step_reports_its_exit_code_and_traceback(tmp_path):
    step = """
        import sys
        def load(column):
            raise ValueError(f"bad column {column!r}")
        if "--exit" in sys.argv:
            sys.exit(3)
        load("fare")
    """
    with pytest.raises(StepFailed) as caught:
        run_pipeline(load_pipeline(one_step_pipeline(tmp_path / "a", step)),
                     settings(tmp_path / "a"))
    message = str(caught.value)
    assert "Traceback (most recent call last)" in message
    assert 'File "' in message and "step.py\", line 4, in load" in message
    assert "ValueError: bad column 'fare'" in message
    assert "forkserver" not in message  # the traceback `python step.py` prints
    lines: list[str] = []
    with pytest.raises(StepFailed):
        run_pipeline(load_pipeline(one_step_pipeline(
            tmp_path / "b", step, command="python step.py --exit --out ${{outputs.out}}")),
            settings(tmp_path / "b", lines=lines))
    assert any("failed after" in line and "(exit 3)" in line for line in lines)


def depth(intervals: list[tuple[float, float]]) -> int:
    """The most intervals that overlap at one moment."""
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    deepest = current = 0
    for _, change in events:
        current += change
        deepest = max(deepest, current)
    return deepest


def test_pipelines_of_one_build_share_one_pool_of_step_slots(tmp_path):
    import contextvars
    import threading

    from mlops.pipeline.pool import shared_pool

    spec = load_pipeline(FIXTURE)
    sleeps = {"left_sleep": 1.0, "right_sleep": 1.0}
    for slots in (1, 2):
        runs: dict[str, object] = {}

        def build(model: str, slots=slots, runs=runs) -> None:
            runs[model] = run_pipeline(spec, settings(tmp_path / f"{slots}-{model}"), sleeps)

        with shared_pool(max_nodes=slots):
            threads = [threading.Thread(target=contextvars.copy_context().run, args=(build, m))
                       for m in ("nyc", "london")]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
        records = [branch_record(run, side) for run in runs.values() for side in ("left", "right")]
        assert depth([(r["start"], r["end"]) for r in records]) == slots


BUILD_DRIVER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from mlops.build import pr_build
    from mlops.config import load_config
    from mlops.pipeline.loader import load_pipeline
    from mlops.pipeline.runner import RunSettings, run_pipeline
    root, fixture, repo = Path(sys.argv[1]), Path(sys.argv[2]), Path(sys.argv[3])

    class TinyPlatform:  # each model's pipeline is the tiny one, run by the real runner
        def register_data(self, entry):
            return []

        def run_pipeline(self, entry, names, *, wait=True):
            settings = RunSettings(runs_root=root / "runs", experiment="tiny_experiment",
                                   display_name=entry.model, label=entry.model, max_nodes=2,
                                   tracking_uri=f"sqlite:///{root}/mlflow.db",
                                   artifact_root=root / "artifacts")
            run_pipeline(load_pipeline(fixture), settings,
                         {"left_sleep": 120, "right_sleep": 120, "scale": len(entry.model)})

    config = load_config(repo)
    try:
        pr_build(config, config.model_names, platform=TinyPlatform(), checks=False)
    except KeyboardInterrupt:
        sys.exit(130)
""")


def test_cancelling_a_build_stops_every_model_s_pipeline(tmp_path):
    """A cancelled CI job sends SIGTERM (Ctrl-C, SIGINT, takes the same path)."""
    pids = tmp_path / "pids"
    pids.mkdir()
    driver = tmp_path / "driver.py"
    driver.write_text(BUILD_DRIVER)
    repo = FIXTURE.parents[3]
    proc = subprocess.Popen([sys.executable, str(driver), str(tmp_path), str(FIXTURE), str(repo)],
                            env={**os.environ, "TINY_PID_DIR": str(pids),
                                 "FACTORY_ROOT": str(tmp_path)},
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 300
    while len(list(pids.glob("*.pid"))) < 2:  # the pool's two slots are taken
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "steps never started"
        time.sleep(0.2)
    step_pids = [int(p.read_text()) for p in pids.glob("*.pid")]
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert not any(alive(pid) for pid in step_pids)
    models = load_config(repo).model_names
    rows = db_rows(tmp_path, f"SELECT name, status FROM runs WHERE name IN "
                             f"({', '.join(repr(m) for m in models)})")
    assert sorted(rows) == [(model, "KILLED") for model in sorted(models)]
    assert not db_rows(tmp_path, "SELECT name FROM runs WHERE status = 'RUNNING'")
    assert not list((tmp_path / "runs" / "steps").glob(".*partial*"))
    assert not list((tmp_path / "runs" / "leases").iterdir())


@pytest.mark.parametrize("keep", ["0", "60"], ids=["own-server", "kept-server-session"])
def test_a_step_whose_warm_server_dies_fails_and_is_stopped(tmp_path, monkeypatch, keep):
    """The build's server (its own, or its session of the kept server) killed under a
    running step: the step is stopped and fails naming the server."""
    import threading

    monkeypatch.setenv(kept.KEEP_ENV, keep)

    step = """
        import os, sys, time
        from pathlib import Path
        Path(os.environ["PID_FILE"]).write_text(str(os.getpid()))
        time.sleep(120)
    """
    spec = load_pipeline(one_step_pipeline(tmp_path / "p", step))
    pid_file = tmp_path / "step.pid"
    caught: list[BaseException] = []

    def run() -> None:
        try:
            run_pipeline(spec, settings(tmp_path / "ws"))
        except BaseException as exc:  # noqa: BLE001 - examined below
            caught.append(exc)

    os.environ["PID_FILE"] = str(pid_file)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        deadline = time.monotonic() + 300
        while not pid_file.exists():
            assert thread.is_alive() and time.monotonic() < deadline
            time.sleep(0.1)
        (lease,) = (tmp_path / "ws" / "runs" / "leases").glob("*.json")
        server = json.loads(lease.read_text())["helpers"]["forkserver"]["pid"]
        os.kill(server, signal.SIGKILL)
        thread.join(timeout=60)
    finally:
        del os.environ["PID_FILE"]
    assert not thread.is_alive()
    (error,) = caught
    assert isinstance(error, StepFailed)
    assert "the fork server exited" in str(error) and "the step was stopped" in str(error)
    assert ("(code -9)" if keep == "0" else "of the kept server, whose log") in str(error)
    deadline = time.monotonic() + 10
    while alive(int(pid_file.read_text())) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not alive(int(pid_file.read_text()))
