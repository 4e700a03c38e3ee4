"""The gate's verdict on a finished CI job (the build's rule) and the approver's metadata."""

from __future__ import annotations

import dataclasses

import pytest

from mlops.cicd import gate
from mlops.cicd._sessions import APPROVAL_VARIABLES
from mlops.records import GateDecision, PipelineResult, StepResult

REGISTERED = GateDecision(passed=True, registered=True, metric="r2", candidate=0.93,
                          champion=0.91, model_version="7", threshold=0.8,
                          model_name="nyc_taxi_model_dev_develop",
                          reason="candidate r2 0.9300 passes the threshold (>= 0.8) and beats "
                                 "the champion's 0.9100 on the same test data")
KEPT = dataclasses.replace(REGISTERED, registered=False, candidate=0.85, model_version=None,
                           reason="candidate r2 0.8500 passes the threshold (>= 0.8) and does "
                                  "not beat the champion's 0.9100 on the same test data; "
                                  "champion kept")
FAILED = dataclasses.replace(KEPT, passed=False, candidate=0.42,
                             reason="candidate r2 0.4200 fails the threshold (>= 0.8); "
                                    "not registered")


def result(env: str = "dev", gate_: GateDecision | None = REGISTERED, status: str = "completed",
           **extra) -> PipelineResult:
    values = dict(model="nyc_taxi", env=env, experiment_name="e", display_name="d",
                  run_id="quiet_lemon_42", status=status, gate=gate_,
                  metrics={"rmse": 2.9, "r2": 0.93, "mae": 1.8, "mse": 8.41},
                  data={"raw_data": "nyc_taxi_training:abc123"},
                  outputs={"studio_url": "https://ml.azure.com/runs/quiet_lemon_42"})
    return PipelineResult(**{**values, **extra})


@pytest.mark.parametrize(("env", "decision", "ok"), [
    ("dev", REGISTERED, True), ("dev", KEPT, False), ("dev", FAILED, False),
    ("pr", REGISTERED, True), ("pr", KEPT, True), ("pr", FAILED, False)])
def test_ci_needs_a_new_champion_and_pr_needs_the_threshold(env, decision, ok):
    decided = gate.verdict(result(env, decision))

    assert decided.ok is ok
    assert decision.reason in decided.message  # the register step's own words
    assert "quiet_lemon_42" in decided.message
    if not ok:
        wanted = "passed" if env == "pr" else "registered"
        assert f"the {env} build needs a {wanted} candidate" in decided.message


def test_no_decision_or_an_unfinished_job_never_passes():
    assert not gate.verdict(result(gate_=None)).ok
    assert "without a gate decision" in gate.verdict(result(gate_=None)).message
    failed = gate.verdict(result(status="failed"), "step 'train' failed; see ...")
    assert (failed.ok, failed.message) == (False, "step 'train' failed; see ...")


def test_approval_values_carry_version_metrics_decision_and_data():
    values = gate.approval_values(result())

    assert list(values) == list(APPROVAL_VARIABLES)  # the names the YAML maps, in its order
    assert values["MODEL_VERSION"] == "nyc_taxi_model_dev_develop version 7"
    assert values["METRICS"] == "r2=0.9300 rmse=2.9000 mae=1.8000 mse=8.4100"
    assert values["DATA_ASSETS"] == "raw_data=nyc_taxi_training:abc123"
    assert values["AZUREML_JOB_URL"] == "https://ml.azure.com/runs/quiet_lemon_42"
    decision = values["GATE_DECISION"]
    assert decision.startswith("registered as version 7: r2 candidate 0.9300 vs champion 0.9100")
    assert "threshold 0.8" in decision
    assert all("\n" not in v for v in values.values())


def test_a_first_model_and_a_kept_champion_say_so():
    first = dataclasses.replace(REGISTERED, champion=None)
    assert "vs champion none" in gate.approval_values(result(gate_=first))["GATE_DECISION"]
    kept = gate.approval_values(result(gate_=KEPT))
    assert kept["MODEL_VERSION"] == "none: no new version was registered"
    assert kept["GATE_DECISION"].startswith("passed, champion kept (not registered)")


def test_markdown_shows_every_value_and_the_verdict():
    failed_step = result(status="failed", gate_=None,
                         steps=[StepResult("train", "failed", False, 3.0)])
    decided = gate.verdict(failed_step, "Azure ML job x: step 'train' failed\n--- log ---\nboom")
    text = gate.markdown(failed_step, decided)

    assert text.startswith("### ❌ nyc_taxi · dev · gate")
    for label in APPROVAL_VARIABLES.values():
        assert f"| {label} |" in text
    assert "Azure ML job x: step 'train' failed" in text
    assert "```\n--- log ---\nboom\n```" in text
