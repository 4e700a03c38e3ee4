"""Issue 11, item 2, on the runner's tiny fixture pipeline: reuse re-checks every cached output
against the digest recorded when its step completed; anything else reruns the step, saying why.
(The real model's repro is in test_fault_real_cache.py.)"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mlops.pipeline.loader import load_pipeline
from mlops.pipeline.runner import RunSettings, run_pipeline

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_pipeline" / "pipeline.yml"


def run(root: Path, lines: list[str]):
    lines.clear()
    settings = RunSettings(runs_root=root / "runs", experiment="tiny_experiment",
                           display_name="tiny_run", tracking_uri=f"sqlite:///{root}/mlflow.db",
                           artifact_root=root / "artifacts", max_nodes=2, log=lines.append)
    result = run_pipeline(load_pipeline(FIXTURE), settings)
    return {s.name: s.status for s in result.steps}, result


def make_folder(root: Path) -> Path:
    (folder,) = (root / "runs" / "steps").glob("tiny_make-*")
    return folder


@pytest.mark.parametrize(("corrupt", "why"), [
    (lambda out: out.joinpath("data.json").write_text('{"total": 1400}'),
     "its output 'data' changed since the step recorded it (sha256 "),
    (lambda out: out.joinpath("data.json").unlink(),
     "its output 'data' changed since the step recorded it"),
    (lambda out: out.joinpath("extra.csv").write_text("x"),
     "its output 'data' changed since the step recorded it"),
    (lambda out: shutil.rmtree(out),
     "its output 'data' is missing"),
])
def test_a_changed_cached_output_reruns_its_step_and_says_why(tmp_path, corrupt, why):
    lines: list[str] = []
    run(tmp_path, lines)
    corrupt(make_folder(tmp_path) / "outputs" / "data")
    statuses, result = run(tmp_path, lines)
    assert statuses["make"] == "completed"
    assert any(line.startswith("  make: not reused: ") and why in line
               and line.endswith("; running it again") for line in lines), lines
    # the rerun restored the same content: what consumed it is still trusted and reused
    assert statuses == {"make": "completed", "left": "reused", "right": "reused",
                        "join": "reused"}
    assert json.loads((result.output("join", "result") / "result.json").read_text()) == \
        {"sum": 28}
    assert json.loads((make_folder(tmp_path) / "outputs" / "data" / "data.json").read_text()) \
        == {"total": 14}


def test_a_record_without_digests_is_not_trusted(tmp_path):
    lines: list[str] = []
    run(tmp_path, lines)
    record = make_folder(tmp_path) / "step.json"
    data = json.loads(record.read_text())
    data["outputs"] = {}
    record.write_text(json.dumps(data))
    statuses, _ = run(tmp_path, lines)
    assert statuses["make"] == "completed"
    assert "  make: not reused: its record lists no digest for output(s) data; running it again" \
        in lines


def test_an_intact_cache_is_verified_and_reused(tmp_path):
    lines: list[str] = []
    run(tmp_path, lines)
    statuses, _ = run(tmp_path, lines)
    assert set(statuses.values()) == {"reused"}
    assert sum("outputs verified" in line for line in lines) == 4
