"""`nox -s gate` and `nox -s wait_job` at the SDK boundary: the MLClient is faked (autospecced
operation groups), the parent job is a real azure-ai-ml PipelineJob read back from the REST
shape the service returns, the commands run through the CLI entry point."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.commands import _azure_job
from mlops.platform.azure import client as azure_client
from mlops.platform.azure import pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import FakeMLClient, azure_workspace  # noqa: E402
from pipeline_jobs import (  # noqa: E402
    JOB,
    KEPT,
    MISSED,
    REGISTERED,
    STEPS,
    STUDIO,
    children,
    finished,
    parent_job,
)


@pytest.fixture
def fake(monkeypatch, tmp_path) -> FakeMLClient:
    monkeypatch.delenv("FACTORY_ROOT", raising=False)  # the repository's config and models
    monkeypatch.setattr(pipeline, "state_dir", lambda: tmp_path / "state")  # downloads go here
    for var in ("TF_BUILD", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "AGENT_TEMPDIRECTORY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AZUREML_JOB_NAME", JOB)
    monkeypatch.setenv("FACTORY_AZURE_POLL_SECONDS", "0")
    fake = FakeMLClient()
    monkeypatch.setattr(azure_client, "_ml_client", lambda workspace: fake)
    monkeypatch.setattr(_azure_job, "workspace", lambda config: azure_workspace())
    return fake


def test_a_registered_candidate_passes_and_its_metadata_is_published(fake, monkeypatch,
                                                                     tmp_path, capsys):
    finished(fake, REGISTERED)
    out, summary = tmp_path / "github_output", tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    monkeypatch.setenv("TF_BUILD", "True")
    monkeypatch.setenv("AGENT_TEMPDIRECTORY", str(tmp_path))

    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 0

    stdout = capsys.readouterr().out
    variables = dict(line.split("=", 1) for line in out.read_text().splitlines())
    assert variables["model_version"] == "nyc_taxi_model_dev_develop version 7"
    assert variables["data_assets"] == "raw_data=nyc_taxi_training:feedfacecafebeef"
    assert variables["metrics"] == "r2=0.9300 rmse=2.9000 mae=1.8000 mse=8.4100"
    assert variables["gate_decision"].startswith(
        "registered as version 7: r2 candidate 0.9300 vs champion 0.9100")
    assert variables["azureml_job_url"] == STUDIO
    assert ("##vso[task.setvariable variable=MODEL_VERSION;isOutput=true]"
            "nyc_taxi_model_dev_develop version 7") in stdout
    assert f"##vso[task.uploadsummary]{tmp_path / 'nyc_taxi_gate.md'}" in stdout
    assert "| Model version | nyc_taxi_model_dev_develop version 7 |" in summary.read_text()
    assert "may proceed" in stdout
    # read only, from the finished job's step outputs
    assert fake.jobs.create_or_update.call_count == 0 and fake.jobs.begin_cancel.call_count == 0
    assert {c.kwargs["output_name"] for c in fake.jobs.download.call_args_list} == {
        "score_report", "registration"}


def test_a_champion_kept_fails_the_ci_run_naming_the_gates_reason(fake, capsys):
    finished(fake, KEPT)

    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 1

    err = capsys.readouterr().err
    assert "the dev build needs a registered candidate" in err
    assert "does not beat the champion's 0.9100 on the same test data; champion kept" in err


def test_a_pr_build_fails_only_on_the_threshold(fake, capsys):
    finished(fake, KEPT, env="pr")
    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 0

    finished(fake, MISSED, env="pr")
    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 1
    assert "fails the threshold (>= 0.8); not registered" in capsys.readouterr().err


def test_a_failed_job_fails_the_gate_naming_the_step_and_its_log(fake, capsys):
    finished(fake, None, status="Failed", failed_step="train")

    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 1

    err = capsys.readouterr().err
    assert f"Azure ML job {JOB}: step 'train' failed; see {STUDIO}" in err
    assert "ValueError: child_train broke" in err


def test_no_decision_a_running_job_or_another_models_job_is_refused(fake, capsys):
    finished(fake, None, steps=STEPS[:-1])  # a pipeline without its register step
    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 1
    assert "without a gate decision" in capsys.readouterr().err

    fake.jobs.get.side_effect = lambda name: parent_job("Running")
    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 1
    assert f"Azure ML job {JOB} is still Running" in capsys.readouterr().err

    fake.jobs.get.side_effect = lambda name: parent_job("Completed", model="london_taxi")
    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 1
    assert "is a build of model london_taxi, not nyc_taxi" in capsys.readouterr().err


def test_the_gate_needs_the_published_job_name_and_the_azure_target(fake, monkeypatch, capsys):
    monkeypatch.delenv("AZUREML_JOB_NAME")
    assert main(["gate", "nyc_taxi", "--target", "azure"]) == 1
    assert "AZUREML_JOB_NAME is not set" in capsys.readouterr().err

    assert main(["gate", "nyc_taxi", "--target", "local"]) == 2
    assert "local builds apply the gate in-process" in capsys.readouterr().err
    fake.jobs.get.assert_not_called()


class Clock:
    """Monotonic time that advances only when the code sleeps."""

    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock(monkeypatch) -> Clock:
    from mlops.commands import wait_job

    clock = Clock()
    monkeypatch.setattr(wait_job, "_clock", clock)
    monkeypatch.setattr(wait_job, "_sleep", clock.sleep)
    monkeypatch.setenv("FACTORY_AZURE_POLL_SECONDS", "60")
    return clock


def test_a_slice_ends_without_cancelling_a_running_job(fake, clock, monkeypatch, tmp_path):
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    fake.jobs.get.side_effect = lambda name: parent_job("Running")
    fake.jobs.list.return_value = children(status="Running")

    assert main(["wait-job", "nyc_taxi", "--target", "azure"]) == 0

    from mlops.cicd._sessions import WAIT_SLICE_MINUTES
    assert clock.now == WAIT_SLICE_MINUTES * 60  # the whole slice, not a second more
    assert out.read_text() == "finished=false\n"
    fake.jobs.begin_cancel.assert_not_called()


def test_a_slice_reports_a_completed_job_finished(fake, clock, monkeypatch, tmp_path):
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    statuses = iter(["Running", "Running", "Completed"])
    fake.jobs.get.side_effect = lambda name: parent_job(next(statuses))
    fake.jobs.list.return_value = children()

    assert main(["wait-job", "nyc_taxi", "--target", "azure"]) == 0

    assert clock.now == 120
    assert out.read_text() == "finished=true\n"


def test_a_slice_fails_on_a_failed_job_naming_the_step(fake, clock, monkeypatch, tmp_path,
                                                       capsys):
    out = tmp_path / "out"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    finished(fake, None, status="Failed", failed_step="score")

    assert main(["wait-job", "nyc_taxi", "--target", "azure"]) == 1

    assert out.read_text() == "finished=true\n"  # later slices are skipped...
    assert f"step 'score' failed; see {STUDIO}" in capsys.readouterr().err  # ...and it says why
