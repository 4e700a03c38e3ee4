"""Every model's steps run as subprocesses from its staged code folder on small generated data,
as the local runner runs them (prep -> transform -> train -> predict -> score); then train and
score inside an MLflow run (SQLite store), as on a pipeline run."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import yaml

from mlops.tasks import task

# Real subprocesses of every step: integration tests. pr_build skips them, since the pipeline
# run that follows executes the same steps end to end; `nox -s tests` runs them.
pytestmark = pytest.mark.integration


def _fast(kit) -> list[str]:
    return ["--max_iter", "60"] if "max_iter" in kit.plugin.params else []


@pytest.fixture(scope="module")
def trained(model_kit, tmp_path_factory):
    kit = model_kit
    work = tmp_path_factory.mktemp("steps")
    raw = kit.generate(work / "raw", "pr_data", rows=600, seed=7)
    kit.run("step_prep.py", "--raw_data", raw, "--prep_data", work / "prep")
    kit.run("step_transform.py", "--clean_data", work / "prep", "--transformed_data", work / "tr")
    kit.run("step_train.py", "--training_data", work / "tr", "--model_output", work / "model",
            "--test_data", work / "test", *_fast(kit))
    kit.run("step_predict.py", "--model_input", work / "model", "--test_data", work / "test",
            "--predictions", work / "pred")
    kit.run("step_score.py", "--predictions", work / "pred", "--score_report", work / "score")
    return work


def test_outputs_follow_the_contract(model_kit, trained):
    plugin = model_kit.plugin
    test = pd.read_csv(trained / "test" / "test.csv")
    transformed = pd.read_csv(trained / "tr" / "transformed.csv")
    assert list(test.columns) == [*plugin.features, plugin.target]
    assert len(test) == math.ceil(len(transformed) * 0.3)  # sklearn rounds the test share up
    predictions = pd.read_csv(trained / "pred" / "predictions.csv")
    assert predictions["actual"].tolist() == test[plugin.target].tolist()
    metrics = json.loads((trained / "score" / "metrics.json").read_text())
    kind = task(plugin.task)
    assert set(metrics) == {*kind.metric_names, "task"} and metrics["task"] == kind.name
    headline = metrics[kind.default_gate_metric]
    assert headline > 0.5  # small data, few trees: a sanity bound, not the quality bar


def test_the_model_is_an_mlflow_model_with_signature_and_task(model_kit, trained):
    plugin = model_kit.plugin
    mlmodel = yaml.safe_load((trained / "model" / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [c["name"] for c in inputs] == list(plugin.features)
    assert mlmodel["metadata"]["task"] == plugin.task
    assert (trained / "model" / "input_example.json").exists()
    if plugin.task == "classification":
        predictions = pd.read_csv(trained / "pred" / "predictions.csv")
        classes = mlmodel["metadata"]["classes"]
        columns = [f"probability_{c}" for c in classes]
        assert predictions[columns].sum(axis=1).round(6).eq(1).all()


def test_the_sample_request_is_predicted(model_kit, trained):
    import mlflow.pyfunc

    request = json.loads((model_kit.model_dir / "sample-data" / "sample-request.json").read_text())
    data = request["input_data"]
    frame = pd.DataFrame(data["data"], columns=data["columns"], index=data["index"])
    predicted = mlflow.pyfunc.load_model(str(trained / "model")).predict(frame)
    assert len(predicted) == len(frame)


def test_train_is_deterministic(model_kit, trained, tmp_path):
    model_kit.run("step_train.py", "--training_data", trained / "tr", "--model_output",
                  tmp_path / "m", "--test_data", tmp_path / "t", *_fast(model_kit))
    assert (tmp_path / "t" / "test.csv").read_bytes() == (trained / "test" / "test.csv").read_bytes()
    model_kit.run("step_predict.py", "--model_input", tmp_path / "m", "--test_data",
                  tmp_path / "t", "--predictions", tmp_path / "p")
    first = pd.read_csv(trained / "pred" / "predictions.csv")["predicted"]
    assert pd.read_csv(tmp_path / "p" / "predictions.csv")["predicted"].equals(first)


def _run_in_store(tmp_path, name):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment(name, artifact_location=str(tmp_path / "artifacts"))
    mlflow.set_tracking_uri(None)
    return uri, MlflowClient(uri), MlflowClient(uri).create_run(experiment).info.run_id


def test_train_logs_params_metrics_and_plot_to_the_active_run(model_kit, trained, tmp_path):
    uri, client, run_id = _run_in_store(tmp_path, "train")
    env = model_kit.env(MLFLOW_TRACKING_URI=uri, MLFLOW_RUN_ID=run_id)
    model_kit.run("step_train.py", "--training_data", trained / "tr", "--model_output",
                  tmp_path / "m", "--test_data", tmp_path / "t", *_fast(model_kit), env=env)
    run = client.get_run(run_id)
    assert run.data.params["random_state"] == "42"
    assert set(run.data.params) >= set(model_kit.plugin.params)
    assert set(run.data.metrics) >= set(task(model_kit.plugin.task).metric_names)
    assert "diagnostic.png" in [a.path for a in client.list_artifacts(run_id)]


def test_score_logs_metrics_to_the_active_run_without_the_local_handoff(model_kit, trained,
                                                                         tmp_path):
    """Azure ML sets MLFLOW_RUN_ID only: the step then logs through MLflow itself."""
    uri, client, run_id = _run_in_store(tmp_path, "score")
    model_kit.run("step_score.py", "--predictions", trained / "pred", "--score_report",
                  tmp_path / "s", env=model_kit.env(MLFLOW_TRACKING_URI=uri, MLFLOW_RUN_ID=run_id))
    written = json.loads((tmp_path / "s" / "metrics.json").read_text())
    written.pop("task")
    logged = client.get_run(run_id).data.metrics
    assert logged == pytest.approx({k: v for k, v in written.items() if not math.isnan(v)})
