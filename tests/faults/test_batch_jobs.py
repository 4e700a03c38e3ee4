"""Issue 11, item 3: two batch jobs started in the same second each get their own folder and
their own complete output; outputs appear only when complete; same-named files in different
subfolders stay apart in the output (relative path, not file name). Real worker processes, two
real invoking processes, the factory's batch score.py on a real MLflow model."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from _kit import wait_for

from mlops.bench import _serving_model as fixture_model
from mlops.records import BatchSettings
from mlops.serving import batch_endpoint
from mlops.serving.batch import BatchSpec, run_batch
from mlops.serving.registry import EndpointRegistry

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
REPO = Path(__file__).resolve().parents[2]
NAME = "fault-batch"


def _inputs(folder: Path, distance: float, files: dict[str, int]) -> int:
    """CSV files (relative path -> rows) whose every row has this distance: the job's mark."""
    total = 0
    for relative, rows in files.items():
        data = fixture_model.frame(rows, seed=len(relative))
        data["distance"] = distance
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        data.to_csv(folder / relative, index=False)
        total += rows
    return total


@pytest.fixture(scope="module")
def registry(tmp_path_factory, model_dir):
    registry = EndpointRegistry(tmp_path_factory.mktemp("batch") / "endpoints")
    batch_endpoint.deploy(registry, batch_endpoint.BatchDeploySpec(
        endpoint=NAME, deployment="fault-batch-dep", model="fixture", model_name="fixture_model",
        model_version="1", model_dir=model_dir, serving_dir=registry.root / "none",
        settings=BatchSettings(mini_batch_size=2, concurrency=2, max_retries=1,
                               retry_timeout=120, output_file_name="predictions.csv")),
        say=lambda _: None)
    return registry


INVOKE = textwrap.dedent("""
    import json, sys, time
    from pathlib import Path
    from mlops.serving import batch_endpoint
    from mlops.serving.registry import EndpointRegistry
    start_at = float(sys.argv[3])
    time.sleep(max(0.0, start_at - time.time()))  # both jobs begin at the same instant
    result = batch_endpoint.invoke(EndpointRegistry(Path(sys.argv[1])), "fault-batch",
                                   Path(sys.argv[2]), say=lambda _: None)
    print(json.dumps({"output": str(result.output), "rows": result.rows}))
""")


def test_two_jobs_in_the_same_second_each_write_their_own_complete_output(registry, tmp_path):
    layouts = {"a": (1.0, {"east/part.csv": 30, "west/part.csv": 20, "part.csv": 10}),
               "b": (50.0, {"east/part.csv": 7, "north/part.csv": 5, "x.csv": 9, "y.csv": 11})}
    expected = {}
    for job, (distance, files) in layouts.items():
        expected[job] = _inputs(tmp_path / job, distance, files)
    start_at = time.time() + 6  # both interpreters are up and waiting by then
    procs = {job: subprocess.Popen([sys.executable, "-c", INVOKE, str(registry.root),
                                    str(tmp_path / job), str(start_at)], cwd=REPO,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for job in layouts}
    results = {}
    for job, proc in procs.items():
        out, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        results[job] = json.loads(out.strip().splitlines()[-1])
    outputs = {job: Path(r["output"]) for job, r in results.items()}
    assert outputs["a"].parent != outputs["b"].parent  # two job folders
    for job, (_, files) in layouts.items():
        out = pd.read_csv(outputs[job])
        assert len(out) == results[job]["rows"] == expected[job]
        # each file under its relative path, each with all its rows, nothing of the other job
        assert out.groupby("source_file")["row_index"].apply(sorted).to_dict() == {
            name: list(range(rows)) for name, rows in files.items()}
    predictions = {job: pd.read_csv(outputs[job])["prediction"] for job in layouts}
    assert predictions["a"].max() < predictions["b"].min()  # distance 1 vs 50: no mixing
    for job_dir in (o.parent for o in outputs.values()):
        names = sorted(p.name for p in job_dir.iterdir())
        assert [n for n in names if n != "logs"] == ["errors.json", "predictions.csv"]
        # workers forked from a warm interpreter: each one's output in the job's own logs
        assert all(log.name.startswith("worker-") for log in job_dir.glob("logs/*"))


def test_job_folders_are_unique_within_one_second(registry):
    folders = [batch_endpoint.new_job_dir(registry, NAME) for _ in range(20)]
    assert len(set(folders)) == 20 and all(f.is_dir() for f in folders)
    for folder in folders:
        folder.rmdir()


SLOW_SCORE = textwrap.dedent('''
    import os, time
    import pandas as pd

    def init():
        pass

    def run(mini_batch):
        time.sleep(3)
        return pd.DataFrame({"source_file": [os.path.basename(p) for p in mini_batch],
                             "row_index": 0, "prediction": 1.0})
''')


def test_the_output_appears_only_complete(tmp_path):
    code = tmp_path / "code"
    code.mkdir()
    (code / "score.py").write_text(SLOW_SCORE)
    data = tmp_path / "input"
    data.mkdir()
    for n in range(4):
        (data / f"f{n}.csv").write_text("x\n1\n")
    spec = BatchSpec(endpoint="slow", score_path=code / "score.py", model_dir=tmp_path,
                     mini_batch_size=1, concurrency=1, max_retries=0, retry_timeout=60)
    job = tmp_path / "job-1"
    done = threading.Event()
    thread = threading.Thread(target=lambda: (run_batch(spec, data, job, say=lambda _: None),
                                              done.set()))
    thread.start()
    seen_partial = wait_for(lambda: list(job.glob(".predictions.csv.*.partial")), 60)
    assert seen_partial, "the job never started writing"
    assert not (job / "predictions.csv").exists() and not done.is_set()
    thread.join(120)
    assert pd.read_csv(job / "predictions.csv")["source_file"].tolist() == [
        "f0.csv", "f1.csv", "f2.csv", "f3.csv"]
    assert not list(job.glob(".*"))  # no partial file left behind
