"""`nox -s gate` and `nox -s wait_job` at the SDK boundary: the MLClient is faked (autospecced
operation groups), the parent job is a real azure-ai-ml PipelineJob read back from the REST
shape the service returns, the commands run through the CLI entry point."""

from __future__ import annotations

import functools
import importlib
import sys
from pathlib import Path

import pytest

from mlops.cli import main
from mlops.commands import _azure_job
from mlops.config import load_config
from mlops.naming import RunNames
from mlops.platform.azure import client as azure_client
from mlops.platform.azure import pipeline

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import FakeMLClient, azure_workspace, job, write_output  # noqa: E402

JOB = "quiet_lemon_42"
STUDIO = f"https://ml.azure.com/runs/{JOB}"
STEPS = ("prep", "transform", "train", "predict", "score", "register")
# Azure ML reads a data input back as the ARM id it resolved azureml:<name>:<version> to.
RAW_DATA_ID = ("azureml:/subscriptions/00000000-0000-0000-0000-000000000000/resourceGroups/"
               "rg-mlops-mf-001/providers/Microsoft.MachineLearningServices/workspaces/"
               "mlw-mlops-mf-001/data/nyc_taxi_training/versions/feedfacecafebeef")
METRICS = {"r2": 0.93, "rmse": 2.9, "mae": 1.8, "mse": 8.41}


@functools.cache  # loading the pipeline YAML takes seconds; the job is only read
def parent_job(status: str, env: str = "dev", model: str = "nyc_taxi"):
    """The pipeline job as jobs.get returns it: the model's real pipeline YAML, submitted, and
    parsed back from the REST object (status, studio link and resolved inputs as the service
    sends them)."""
    entry = load_config().entry(model, env)
    names = RunNames(f"{model}_experiment_{env}_develop", f"{model}_run_{env}_977",
                     f"{model}_model_{env}_develop", "develop", "977")
    built = pipeline.build_pipeline_job(entry, names, compute="cpu-cluster",
                                        environment="azureml:env:1", raw_data=RAW_DATA_ID)
    rest = built._to_rest_object()
    rest.name = JOB
    rest.properties.status = status
    models = importlib.import_module(type(rest.properties).__module__)
    rest.properties.services = {"Studio": models.JobService(endpoint=STUDIO)}
    return type(built)._from_rest_object(rest)


def children(status: str = "Completed", failed: str | None = None,
             steps: tuple[str, ...] = STEPS) -> list:
    """Child jobs; after a failed step the rest are cancelled (continue_on_step_failure off)."""
    after = STEPS.index(failed) if failed else len(STEPS)
    return [job(f"child_{s}", ("Failed" if i == after else "Canceled") if i >= after else status,
                display_name=s, properties={"azureml.isreused": "false"})
            for i, s in enumerate(STEPS) if s in steps]


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


def finished(fake: FakeMLClient, decision: dict | None, status: str = "Completed",
             env: str = "dev", failed_step: str | None = None,
             steps: tuple[str, ...] = STEPS) -> None:
    fake.jobs.get.side_effect = lambda name: parent_job(status, env)
    fake.jobs.list.return_value = children(failed=failed_step, steps=steps)

    def download(name, *, download_path, output_name=None, **_):
        if output_name is None:  # a failed step's logs
            logs = Path(download_path) / "artifacts" / "user_logs"
            logs.mkdir(parents=True)
            (logs / "std_log.txt").write_text(f"Traceback...\nValueError: {name} broke")
        elif (name, output_name) == ("child_score", "score_report"):
            write_output(download_path, output_name, "metrics.json", METRICS)
        elif (name, output_name) == ("child_register", "registration") and decision:
            write_output(download_path, output_name, "decision.json", decision)
        else:
            raise AssertionError(f"unexpected download {name} {output_name}")

    fake.jobs.download.side_effect = download


REGISTERED = {"passed": True, "registered": True, "metric": "r2", "threshold": 0.8,
              "candidate": 0.93, "champion": 0.91, "model_version": 7,
              "model_name": "nyc_taxi_model_dev_develop",
              "reason": "candidate r2 0.9300 passes the threshold (>= 0.8) and beats the "
                        "champion's 0.9100 on the same test data"}
KEPT = {**REGISTERED, "registered": False, "model_version": None, "candidate": 0.85,
        "reason": "candidate r2 0.8500 passes the threshold (>= 0.8) and does not beat the "
                  "champion's 0.9100 on the same test data; champion kept"}
MISSED = {**KEPT, "passed": False, "candidate": 0.42,
          "reason": "candidate r2 0.4200 fails the threshold (>= 0.8); not registered"}


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
