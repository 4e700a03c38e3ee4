"""prep -> transform -> train -> predict -> score run as subprocesses on small generated data, as the
local runner runs them; then the same train inside an MLflow run (SQLite store)."""

import json
import math

import pandas as pd
import pytest
import yaml

# Real subprocesses of every step: integration tests. pr_build skips them, since the pipeline
# run that follows executes the same steps end to end; `nox -s tests` runs them.
pytestmark = pytest.mark.integration

FAST = ["--max_iter", "60"]


@pytest.fixture(scope="module")
def trained(kit, raw_pr, tmp_path_factory):
    work = tmp_path_factory.mktemp("steps")
    kit.run("prep.py", "--raw_data", raw_pr, "--prep_data", work / "prep")
    kit.run("transform.py", "--clean_data", work / "prep", "--transformed_data", work / "tr")
    kit.run("train.py", "--training_data", work / "tr", "--model_output", work / "model",
             "--test_data", work / "test", *FAST)
    kit.run("predict.py", "--model_input", work / "model", "--test_data", work / "test",
             "--predictions", work / "pred")
    kit.run("score.py", "--predictions", work / "pred", "--score_report", work / "score")
    return work


def test_outputs_follow_the_contract(kit, trained):
    schema = kit.src("schema")
    test = pd.read_csv(trained / "test" / "test.csv")
    transformed = pd.read_csv(trained / "tr" / "transformed.csv")
    assert list(test.columns) == [*schema.FEATURES, schema.TARGET]
    assert len(test) == math.ceil(len(transformed) * 0.3)  # sklearn rounds the test share up
    predictions = pd.read_csv(trained / "pred" / "predictions.csv")
    assert {"actual", "predicted"} <= set(predictions.columns)
    assert predictions["actual"].tolist() == test[schema.TARGET].tolist()
    metrics = json.loads((trained / "score" / "metrics.json").read_text())
    assert set(metrics) == {"r2", "rmse", "mae", "mse"}
    assert metrics["r2"] > 0.5  # 600 raw rows, 60 trees: a sanity bound, not the quality bar
    assert metrics["rmse"] == pytest.approx(metrics["mse"] ** 0.5)


def test_model_is_an_mlflow_model_with_the_feature_signature(kit, trained):
    schema = kit.src("schema")
    mlmodel = yaml.safe_load((trained / "model" / "MLmodel").read_text())
    inputs = json.loads(mlmodel["signature"]["inputs"])
    assert [c["name"] for c in inputs] == schema.FEATURES
    assert (trained / "model" / "input_example.json").exists()


def test_sample_request_matches_the_model_input(kit, trained):
    import mlflow.pyfunc

    request = json.loads((kit.model_dir / "sample-data" / "sample-request.json").read_text())
    data = request["input_data"]
    frame = pd.DataFrame(data["data"], columns=data["columns"], index=data["index"])
    predicted = mlflow.pyfunc.load_model(str(trained / "model")).predict(frame)
    assert len(predicted) == len(frame)
    assert all(p > 0 for p in predicted)


def test_train_is_deterministic(kit, trained, tmp_path):
    kit.run("train.py", "--training_data", trained / "tr", "--model_output", tmp_path / "m",
             "--test_data", tmp_path / "t", *FAST)
    assert (tmp_path / "t" / "test.csv").read_bytes() == (trained / "test" / "test.csv").read_bytes()
    kit.run("predict.py", "--model_input", tmp_path / "m", "--test_data", tmp_path / "t",
             "--predictions", tmp_path / "p")
    first = pd.read_csv(trained / "pred" / "predictions.csv")["predicted"]
    assert pd.read_csv(tmp_path / "p" / "predictions.csv")["predicted"].equals(first)


@pytest.mark.integration
def test_train_logs_params_metrics_model_and_plot_to_the_active_run(kit, trained, tmp_path):
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("steps", artifact_location=str(tmp_path / "artifacts"))
    run_id = MlflowClient(uri).create_run(experiment).info.run_id
    env = kit.env(MLFLOW_TRACKING_URI=uri, MLFLOW_RUN_ID=run_id)
    kit.run("train.py", "--training_data", trained / "tr", "--model_output", tmp_path / "m",
             "--test_data", tmp_path / "t", *FAST, env=env)
    run = MlflowClient(uri).get_run(run_id)
    assert run.data.params["max_iter"] == "60"
    assert run.data.params["random_state"] == "42"
    assert set(run.data.metrics) >= {"r2", "rmse", "mae", "mse"}
    artifacts = [a.path for a in MlflowClient(uri).list_artifacts(run_id)]
    assert "predicted_vs_actual.png" in artifacts
    models = mlflow.search_logged_models(experiment_ids=[experiment], output_format="list")
    assert any(m.source_run_id == run_id for m in models)
    mlflow.set_tracking_uri(None)


def test_score_logs_metrics_to_the_active_run_without_the_local_handoff(kit, trained, tmp_path):
    """Azure ML sets MLFLOW_RUN_ID only: the step then logs through MLflow itself."""
    import mlflow
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    mlflow.set_tracking_uri(uri)
    experiment = mlflow.create_experiment("score", artifact_location=str(tmp_path / "artifacts"))
    run_id = MlflowClient(uri).create_run(experiment).info.run_id
    kit.run("score.py", "--predictions", trained / "pred", "--score_report", tmp_path / "s",
             env=kit.env(MLFLOW_TRACKING_URI=uri, MLFLOW_RUN_ID=run_id))
    written = json.loads((tmp_path / "s" / "metrics.json").read_text())
    assert MlflowClient(uri).get_run(run_id).data.metrics == pytest.approx(written)
    mlflow.set_tracking_uri(None)
