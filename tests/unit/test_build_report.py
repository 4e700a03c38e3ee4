"""Build reports: JSON fields, markdown for a PR comment, the printed metrics table."""

from __future__ import annotations

import json

from mlops.build_report import BuildReport, markdown, table, write


def report(**kw) -> BuildReport:
    base = dict(model="nyc_taxi", env="pr", target="local", status="passed",
                experiment="nyc_taxi_experiment_pr_main", display_name="nyc_taxi_run_pr_1",
                run_id="abc", metrics={"r2": 0.93, "rmse": 2.0, "mae": 1.0, "mse": 4.0},
                gate={"passed": True, "registered": False, "reason": "does not beat",
                      "metric": "r2", "candidate": 0.93, "champion": 0.95,
                      "model_version": None},
                steps=[{"name": "train", "status": "completed", "reused": False, "seconds": 3.2},
                       {"name": "prep", "status": "reused", "reused": True, "seconds": 0.0}])
    base.update(kw)
    return BuildReport(**base)


def test_write_replaces_both_files(tmp_path):
    json_path, md_path = write(report(), tmp_path)
    data = json.loads(json_path.read_text())
    assert (json_path.name, md_path.name) == ("nyc_taxi_pr.json", "nyc_taxi_pr.md")
    assert set(data) >= {"model", "env", "experiment", "run_id", "metrics", "gate", "steps"}
    write(report(status="failed", error="boom"), tmp_path)
    assert json.loads(json_path.read_text())["status"] == "failed"
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp files left


def test_markdown_shows_outcome_metrics_gate_and_steps():
    md = markdown(report())
    assert md.startswith("### ✅ nyc_taxi · pr · passed")
    assert "| rmse | 2.0000 |" in md
    assert "passed, champion kept — does not beat" in md
    assert "| train | completed | 3.2 |" in md


def test_failed_markdown_carries_the_error():
    md = markdown(report(status="failed", metrics={}, gate=None,
                         error="step 'prep' failed\nmissing column 'fare'"))
    assert md.startswith("### ❌") and "missing column 'fare'" in md


def test_table_has_a_row_per_model_with_reuse_counts():
    lines = table([report(), report(model="london_taxi", gate=None, metrics={})]).splitlines()
    assert lines[0].split() == ["model", "env", "metrics", "reused", "gate"]
    assert "r2 0.9300  rmse 2.0000  mae 1.0000  mse 4.0000" in lines[2]
    assert "0.9300" in lines[2] and "1/2" in lines[2] and "champion kept" in lines[2]
    assert lines[3].startswith("london_taxi") and "no gate decision" in lines[3]
