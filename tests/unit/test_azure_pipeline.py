"""The model's pipeline YAML submitted to Azure ML: the PipelineJob's bindings, submission,
waiting, results, the no-wait path and cancel on interrupt (MLClient faked at the boundary)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
import yaml
from azure.ai.ml.entities import CommandComponent, Environment, PipelineJob
from azure.core.exceptions import ClientAuthenticationError

from mlops.config import load_config
from mlops.errors import FactoryError
from mlops.naming import RunNames
from mlops.pipeline.runner import StepFailed
from mlops.platform.azure import client as azure_client
from mlops.platform.azure import data, pipeline
from mlops.platform.azure.client import AzureAuthError

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import (  # noqa: E402
    REPO,
    FakeMLClient,
    azure_workspace,
    fixture_entry,
    job,
    not_found,
    write_output,
)

NAMES = RunNames(experiment_name="nyc_taxi_experiment_pr_feature-x",
                 display_name="nyc_taxi_run_pr_4711", model_name="nyc_taxi_model_pr_feature-x",
                 branch="feature/x", build_id="4711")
ENV_REF = "azureml:nyc_taxi_env:0123456789abcdef"
RAW = "azureml:nyc_taxi_pr:feedfacecafebeef"
STEPS = ("prep", "transform", "train", "predict", "score", "register")

# Every configured model: its staged pipeline is what Azure ML receives.
MODEL_DIRS = [REPO / "mlops" / m for m in load_config(REPO).model_names]


@pytest.fixture(autouse=True)
def factory_root(tmp_path, monkeypatch):
    monkeypatch.setenv("FACTORY_ROOT", str(tmp_path / "root"))
    for var in ("TF_BUILD", "GITHUB_OUTPUT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture
def fake(monkeypatch) -> FakeMLClient:
    fake = FakeMLClient()
    monkeypatch.setattr(azure_client, "_ml_client", lambda workspace: fake)
    fake.environments.get.side_effect = not_found
    fake.jobs.create_or_update.side_effect = lambda j, **_: job("quiet_lemon_42", "NotStarted")
    return fake


def _data(tmp_path: Path) -> Path:
    for purpose in ("pr_data", "training_data", "batch_test_data"):
        (tmp_path / "data" / purpose).mkdir(parents=True)
        (tmp_path / "data" / purpose / "trips.csv").write_text("a\n1\n")
    return tmp_path / "data"


@pytest.mark.parametrize("model_dir", MODEL_DIRS, ids=lambda p: str(p.relative_to(REPO)))
def test_pipeline_yaml_loads_into_a_job_with_the_platform_bindings(model_dir, tmp_path):
    entry = fixture_entry("pr", tmp_path, model_dir=model_dir)

    job_ = pipeline.build_pipeline_job(entry, NAMES, compute="cpu-cluster",
                                       environment=ENV_REF, raw_data=RAW)

    assert isinstance(job_, PipelineJob)
    assert job_.experiment_name == NAMES.experiment_name
    assert job_.display_name == NAMES.display_name
    assert job_.settings.default_compute == "cpu-cluster"
    assert job_.inputs["raw_data"]._data.type == "uri_folder"
    assert job_.inputs["raw_data"]._data.path == RAW
    assert job_.inputs["model_name"]._data == NAMES.model_name
    assert job_.inputs["gate_metric"]._data == entry.gate_metric
    assert job_.inputs["gate_threshold"]._data == entry.gate_threshold
    assert set(STEPS) <= set(job_.jobs)
    for step, node in job_.jobs.items():
        component = node.component
        assert isinstance(component, CommandComponent), step
        assert component.environment == ENV_REF, step
        code = (Path(component.base_path) / component.code).resolve()
        assert code.is_dir(), f"{step}: code folder {code}"
        scripts = [t for t in component.command.split() if t.endswith(".py")]
        assert scripts, f"{step}: command runs no script: {component.command}"
        assert all((code / s).is_file() for s in scripts), f"{step}: {scripts} not in {code}"
    assert job_.jobs["prep"].inputs["raw_data"]._data == "${{parent.inputs.raw_data}}"
    register = job_.jobs["register"].inputs
    for name in ("model_name", "gate_metric", "gate_threshold"):
        assert register[name]._data == "${{parent.inputs." + name + "}}"

    rest = job_._to_rest_object().properties  # what create_or_update would send
    assert rest.settings["default_compute"] == "cpu-cluster"
    assert rest.inputs["raw_data"].uri == RAW
    assert rest.inputs["model_name"].value == NAMES.model_name
    assert rest.experiment_name == NAMES.experiment_name


def test_missing_or_broken_pipeline_yaml_names_the_file(tmp_path):
    from mlops.staging import stage_entry

    with pytest.raises(FactoryError, match=r"pipeline\.yml: no pipeline YAML"):
        pipeline.load_pipeline(tmp_path / "pipeline.yml")

    staged = stage_entry(fixture_entry("pr", tmp_path))
    copy = tmp_path / "staged"
    shutil.copytree(staged.folder, copy)
    spec = yaml.safe_load((copy / "pipeline.yml").read_text())
    del spec["inputs"]["gate_threshold"]
    (copy / "pipeline.yml").write_text(yaml.safe_dump(spec))
    with pytest.raises(FactoryError, match=r"pipeline\.yml: inputs lack gate_threshold"):
        pipeline.load_pipeline(copy / "pipeline.yml")

    (copy / "pipeline.yml").write_text("type: pipeline\njobs: [1, 2\n")
    with pytest.raises(FactoryError, match=r"pipeline\.yml: not a valid Azure ML pipeline"):
        pipeline.load_pipeline(copy / "pipeline.yml")

    shutil.rmtree(copy / "code")  # every component's code: ../code
    (copy / "pipeline.yml").write_text(staged.pipeline.read_text())
    with pytest.raises(FactoryError, match=r"jobs\.\w+\.component\.code: Can't find"):
        pipeline.load_pipeline(copy / "pipeline.yml")


def test_no_wait_submits_and_returns_the_job_name_without_polling(tmp_path, fake):
    entry = fixture_entry("pr", _data(tmp_path))

    result = pipeline.run_pipeline(azure_workspace(), entry, NAMES, wait=False)

    assert (result.status, result.run_id) == ("submitted", "quiet_lemon_42")
    fake.jobs.get.assert_not_called()
    fake.jobs.list.assert_not_called()
    submitted = fake.jobs.create_or_update.call_args.args[0]
    assert isinstance(submitted, PipelineJob)
    assert submitted.settings.default_compute == "cpu-cluster"  # CLUSTER_NAME of the workspace
    version = data.content_hash(tmp_path / "data" / "pr_data")[:data.VERSION_LENGTH]
    assert submitted.inputs["raw_data"]._data.path == f"azureml:nyc_taxi_pr:{version}"
    assert result.data == {"raw_data": f"nyc_taxi_pr:{version}"}  # shown to the approver
    env = fake.environments.create_or_update.call_args.args[0]
    assert isinstance(env, Environment)
    assert env.name == "nyc_taxi_env" and env.image == entry.env_base_image_name
    # CONDA_PATH's content, read by the SDK (the factory's shared file)
    assert env.conda_file["name"] == "model_env"
    assert all(n.component.environment == f"azureml:nyc_taxi_env:{env.version}"
               for n in submitted.jobs.values())
    assert fake.calls().index("environments.create_or_update") < \
        fake.calls().index("jobs.create_or_update")


def test_dev_builds_bind_training_data_and_reuse_a_known_environment(tmp_path, fake):
    fake.environments.get.side_effect = None
    entry = fixture_entry("dev", _data(tmp_path))

    pipeline.run_pipeline(azure_workspace(), entry, NAMES, wait=False)

    submitted = fake.jobs.create_or_update.call_args.args[0]
    assert submitted.inputs["raw_data"]._data.path.startswith("azureml:nyc_taxi_training:")
    assert submitted.inputs["gate_threshold"]._data == 0.8
    fake.environments.create_or_update.assert_not_called()


def test_no_wait_hands_the_job_name_to_the_ci(tmp_path, fake, monkeypatch, capsys):
    out = tmp_path / "github_output"
    monkeypatch.setenv("GITHUB_OUTPUT", str(out))
    monkeypatch.setenv("TF_BUILD", "True")

    pipeline.run_pipeline(azure_workspace(), fixture_entry("pr", _data(tmp_path)), NAMES,
                          wait=False)

    assert out.read_text() == "azureml_job_name=quiet_lemon_42\n"
    assert ("##vso[task.setvariable variable=AZUREML_JOB_NAME;isOutput=true]quiet_lemon_42"
            in capsys.readouterr().out)


def _children(status: str = "Completed", reused: tuple[str, ...] = ()) -> list:
    return [job(f"child_{s}", status if s in ("score", "register") else "Completed",
                display_name=s,
                properties={"azureml.isreused": "true" if s in reused else "false",
                            "StartTimeUtc": "2026-01-01T10:00:00Z",
                            "EndTimeUtc": "2026-01-01T10:00:30Z"})
            for s in STEPS]


def test_wait_polls_to_the_end_and_reads_metrics_and_gate_from_step_outputs(tmp_path, fake):
    statuses = iter(["Preparing", "Running", "Running", "Completed"])
    fake.jobs.get.side_effect = lambda name: job(name, next(statuses))
    fake.jobs.list.return_value = _children(reused=("prep",))[::-1]
    decision = {"passed": True, "registered": True, "reason": "beats champion",
                "metric": "r2", "candidate": 0.93, "champion": 0.91, "model_version": 7}

    def download(name, *, output_name, download_path, **_):
        if (name, output_name) == ("child_score", "score_report"):
            write_output(download_path, output_name, "metrics.json",
                         {"r2": 0.93, "rmse": 2.9, "mae": 1.8, "mse": 8.41})
        elif (name, output_name) == ("child_register", "registration"):
            write_output(download_path, output_name, "decision.json", decision)
        else:
            raise AssertionError(f"unexpected download {name} {output_name}")

    fake.jobs.download.side_effect = download
    sleeps: list[float] = []

    result = pipeline.run_pipeline(azure_workspace(), fixture_entry("pr", _data(tmp_path)),
                                   NAMES, interval=5, timeout=3600, sleep=sleeps.append)

    assert result.status == "completed" and result.run_id == "quiet_lemon_42"
    assert sleeps == [5, 5, 5]
    assert result.metrics == {"r2": 0.93, "rmse": 2.9, "mae": 1.8, "mse": 8.41}
    assert result.gate.registered and result.gate.candidate == 0.93
    assert result.gate.champion == 0.91 and result.gate.model_version == "7"
    steps = {s.name: s for s in result.steps}
    assert [s.name for s in result.steps] == list(STEPS)  # pipeline order, not listing order
    assert steps["prep"].reused and steps["prep"].status == "reused"
    assert steps["train"].status == "completed" and steps["train"].seconds == 30.0
    assert result.outputs["score_report"] == (tmp_path / "root" / ".factory" / "azure" / "jobs"
                                              / "quiet_lemon_42" / "named-outputs"
                                              / "score_report")


def test_a_failed_job_reports_failed_with_the_failed_steps_log_tail(tmp_path, fake, capsys):
    fake.jobs.get.side_effect = lambda name: job(name, "Failed")
    fake.jobs.list.return_value = _children(status="Failed")

    def download(name, *, download_path, output_name=None, **_):
        assert output_name is None  # default artifacts: the logs
        logs = Path(download_path) / "artifacts" / "user_logs"
        logs.mkdir(parents=True)
        lines = [f"line {i}" for i in range(100)] + [f"ValueError: {name} broke"]
        (logs / "std_log.txt").write_text("\n".join(lines))

    fake.jobs.download.side_effect = download

    with pytest.raises(StepFailed) as info:  # as the local runner fails
        pipeline.run_pipeline(azure_workspace(), fixture_entry("pr", _data(tmp_path)),
                              NAMES, interval=0, timeout=60, sleep=lambda s: None)

    result = info.value.result
    assert (result.status, result.run_id) == ("failed", "quiet_lemon_42")
    assert "step 'score' failed" in str(info.value)
    assert "ValueError: child_score broke" in str(info.value)
    steps = {s.name: s for s in result.steps}
    assert steps["score"].status == "failed" and steps["train"].status == "completed"
    assert steps["score"].log_tail.endswith("ValueError: child_score broke")
    assert len(steps["score"].log_tail.splitlines()) == pipeline.LOG_TAIL_LINES
    assert steps["train"].log_tail == ""
    assert "step score failed; end of its log" in capsys.readouterr().out


def test_interrupt_while_waiting_cancels_the_job_and_reraises(tmp_path, fake):
    fake.jobs.get.side_effect = lambda name: job(name, "Running")
    fake.jobs.list.return_value = []

    def interrupt(_):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        pipeline.run_pipeline(azure_workspace(), fixture_entry("pr", _data(tmp_path)), NAMES,
                              interval=1, timeout=60, sleep=interrupt)

    fake.jobs.begin_cancel.assert_called_once_with("quiet_lemon_42")


def test_timeout_cancels_the_job_and_fails(tmp_path, fake):
    fake.jobs.get.side_effect = lambda name: job(name, "Running")
    fake.jobs.list.return_value = []

    with pytest.raises(FactoryError, match="quiet_lemon_42 still Running after 0s"):
        pipeline.run_pipeline(azure_workspace(), fixture_entry("pr", _data(tmp_path)), NAMES,
                              interval=0, timeout=0, sleep=lambda s: None)
    fake.jobs.begin_cancel.assert_called_once_with("quiet_lemon_42")


def test_missing_credentials_surface_as_one_clear_error(tmp_path, fake):
    fake.data.get.side_effect = ClientAuthenticationError("DefaultAzureCredential failed")

    with pytest.raises(AzureAuthError, match="no Azure credentials.*az login"):
        pipeline.run_pipeline(azure_workspace(), fixture_entry("pr", _data(tmp_path)), NAMES)
    fake.jobs.create_or_update.assert_not_called()


def test_child_jobs_are_matched_to_steps_through_node_display_names():
    fake = FakeMLClient()
    fake.jobs.list.return_value = [job("c1", "Completed", display_name="Train the model"),
                                   job("c2", "Running", display_name="score")]
    client = azure_client.AzureClient(fake, "ws")

    children = pipeline._children(client, "parent", {"Train the model": "train"})

    assert {step: child.name for step, child in children.items()} == {"train": "c1",
                                                                      "score": "c2"}
    fake.jobs.list.assert_called_once_with(parent_job_name="parent")
