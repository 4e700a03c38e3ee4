"""The local batch endpoint for real: worker processes running a batch score.py over files."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from mlops.bench import _serving_model as fixture_model
from mlops.config import load_config
from mlops.paths import local_workspace
from mlops.platform.local.endpoints import champion_model
from mlops.records import BatchSettings
from mlops.serving import batch_endpoint
from mlops.serving.batch import BatchSpec, run_batch
from mlops.serving.registry import EndpointRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def test_one_prediction_per_row_and_a_bad_file_keeps_the_others(tmp_path):
    config = load_config()
    workspace = local_workspace(config.infra_env("dev"), tmp_path)
    version = fixture_model.train_and_register(workspace, "batch_model")
    registry = EndpointRegistry(workspace.endpoint_registry)
    _, model_dir = champion_model(workspace, "batch_model", tmp_path / "models")
    spec = batch_endpoint.BatchDeploySpec(
        endpoint="t-batch", deployment="t-batch-dep", model="nyc_taxi", model_name="batch_model",
        model_version=version, model_dir=model_dir, serving_dir=tmp_path / "no-own-script",
        settings=BatchSettings(mini_batch_size=2, concurrency=2, max_retries=1,
                               retry_timeout=120, output_file_name="predictions.csv"))
    batch_endpoint.deploy(registry, spec, say=lambda _: None)
    data = tmp_path / "input"
    fixture_model.write_batch_files(data, files=5, rows_per_file=40)
    bad = pd.read_csv(data / "part-0002.csv").astype({"distance": object})
    bad.loc[7, "distance"] = "far"  # mini batch 2 = part-0002 + part-0003
    bad.to_csv(data / "part-0002.csv", index=False)

    result = batch_endpoint.invoke(registry, "t-batch", data, say=lambda _: None)

    out = pd.read_csv(result.output)
    assert list(out.columns) == ["source_file", "row_index", "prediction"]
    assert len(out) == result.rows == 4 * 40
    assert sorted(out["source_file"].unique()) == [
        "part-0000.csv", "part-0001.csv", "part-0003.csv", "part-0004.csv"]
    for _, rows in out.groupby("source_file"):
        assert sorted(rows["row_index"]) == list(range(40))
    assert out["prediction"].notna().all()
    errors = json.loads(result.errors_path.read_text())
    assert [e["file"] for e in errors] == ["part-0002.csv"]
    assert "'distance'" in errors[0]["error"] and "row 7" in errors[0]["error"]
    assert errors[0]["attempts"] == 2  # first try + MAX_RETRIES
    assert registry.read("t-batch").last_job.rows == 160


LIGHT_SCORE = textwrap.dedent('''
    """A batch score.py without a model: slow and crashing files on purpose."""
    import os
    import time
    import pandas as pd

    def init():
        pass

    def run(mini_batch):
        frames = []
        for path in mini_batch:
            name = os.path.basename(path)
            if "slow" in name:
                time.sleep(30)
            if "crash" in name:
                os._exit(3)
            data = pd.read_csv(path)
            frames.append(pd.DataFrame({"source_file": name, "row_index": range(len(data)),
                                        "prediction": data["x"] * 2}))
        return pd.concat(frames, ignore_index=True)
''')


def test_timeouts_and_crashed_workers_are_retried_then_reported(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(LIGHT_SCORE)
    data = tmp_path / "input"
    data.mkdir()
    for name in ("a.csv", "b-slow.csv", "c.csv", "d-crash.csv", "e.csv"):
        pd.DataFrame({"x": [1, 2, 3]}).to_csv(data / name, index=False)
    spec = BatchSpec(endpoint="t-light", score_path=code / "score.py", model_dir=tmp_path,
                     mini_batch_size=2, concurrency=2, max_retries=1, retry_timeout=3)
    lines: list[str] = []

    result = run_batch(spec, data, tmp_path / "job", say=lines.append)

    out = pd.read_csv(result.output)
    assert sorted(out["source_file"].unique()) == ["a.csv", "c.csv", "e.csv"]
    assert len(out) == 9 and (out["prediction"] % 2 == 0).all()
    errors = {Path(e["file"]).name: e["error"] for e in
              json.loads(result.errors_path.read_text())}
    assert set(errors) == {"b-slow.csv", "d-crash.csv"}
    assert "timed out after 3 s" in errors["b-slow.csv"]
    assert "worker process died" in errors["d-crash.csv"]
    assert any("mini batch 1" in line for line in lines)  # progress per mini batch


WHO_SCORE = textwrap.dedent('''
    """Reports which process scored each file, and whether pandas was loaded before it."""
    import os
    import sys
    import time

    PRELOADED = "pandas" in sys.modules  # before this script imports it
    import pandas as pd

    INITS = []

    def init():
        INITS.append(os.getpid())
        with open(os.path.join(os.environ["AZUREML_MODEL_DIR"], f"init-{os.getpid()}"), "w"):
            pass

    def run(mini_batch):
        time.sleep(0.3)  # both workers get files
        return pd.DataFrame({"source_file": [os.path.basename(p) for p in mini_batch],
                             "row_index": 0, "prediction": 0.0, "pid": os.getpid(),
                             "ppid": os.getppid(), "preloaded": PRELOADED,
                             "inits": len(INITS)})
''')


def _who_job(tmp_path: Path) -> tuple[BatchSpec, Path]:
    code, data, model = tmp_path / "code", tmp_path / "input", tmp_path / "model"
    for folder in (code, data, model):
        folder.mkdir()
    (code / "score.py").write_text(WHO_SCORE)
    for n in range(6):
        (data / f"f{n}.csv").write_text("x\n1\n")
    return BatchSpec(endpoint="t-who", score_path=code / "score.py", model_dir=model,
                     mini_batch_size=1, concurrency=2, max_retries=0, retry_timeout=60), data


def test_workers_are_forked_warm_and_each_calls_init_itself(tmp_path, monkeypatch):
    monkeypatch.delenv("PYTHONUNBUFFERED", raising=False)  # forked even where it is unset
    spec, data = _who_job(tmp_path)
    lines: list[str] = []

    result = run_batch(spec, data, tmp_path / "job", say=lines.append)

    out = pd.read_csv(result.output)
    assert len(out) == 6 and not any("spawned" in line for line in lines)
    assert out["preloaded"].all()  # forked from an interpreter that had imported pandas
    assert os.getpid() not in set(out["ppid"])  # not children of the runner: of the server
    # still one process per worker, each calling init() once itself, as on Azure
    assert out["pid"].nunique() == 2 and (out["inits"] == 1).all()
    assert sorted(p.name for p in spec.model_dir.glob("init-*")) == sorted(
        f"init-{pid}" for pid in out["pid"].unique())


def test_workers_are_spawned_when_no_warm_interpreter_can_be_had(tmp_path, monkeypatch):
    from mlops.pipeline import launch

    def refuse(*_, **__):
        raise launch.LaunchError("the fork server exited (code 1)")

    monkeypatch.setattr(launch, "ForkServer", refuse)
    spec, data = _who_job(tmp_path)
    lines: list[str] = []

    result = run_batch(spec, data, tmp_path / "job", say=lines.append)

    out = pd.read_csv(result.output)
    assert "t-who: workers spawned: no warm interpreter (the fork server exited (code 1))" in lines
    assert len(out) == 6 and not out["preloaded"].any()  # new interpreters
    assert set(out["ppid"]) == {os.getpid()}  # children of the runner


def test_a_fork_that_cannot_connect_falls_back_to_spawning(tmp_path, monkeypatch):
    from mlops.pipeline import launch

    exits = tmp_path / "exits.py"
    exits.write_text("raise SystemExit(4)\n")
    real_start = launch.ForkServer.start

    def start_one_that_exits(self, argv, cwd, env, log, err=None):
        return real_start(self, [str(exits)], cwd, env, log, err)

    monkeypatch.setattr(launch.ForkServer, "start", start_one_that_exits)
    spec, data = _who_job(tmp_path)
    lines: list[str] = []

    result = run_batch(spec, data, tmp_path / "job", say=lines.append)

    out = pd.read_csv(result.output)
    said = [line for line in lines if "workers spawned from now on" in line]
    assert len(said) == 1 and "a forked worker exited (code 4) before connecting" in said[0]
    assert len(out) == 6 and not out["preloaded"].any()  # every file scored, by spawned workers
