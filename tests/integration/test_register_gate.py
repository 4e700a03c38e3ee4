"""The register step against a real MLflow SQLite registry, run from a staged step folder as the
runner runs it: a good model becomes champion, a deliberately worse one runs to the end and
stays out; the same for a classifier gated on roc_auc; every registered version carries the
digest of its files."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def regression_data(seed: int, rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"distance": rng.uniform(0.5, 20, rows),
                          "passengers": rng.integers(1, 5, rows).astype(float)})
    frame["fare"] = 3 + 2.5 * frame["distance"] + 0.3 * frame["passengers"] \
        + rng.normal(0, 0.5, rows)
    return frame


def classification_data(seed: int, rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"size": rng.normal(0, 1, rows), "shape": rng.normal(0, 1, rows)})
    frame["label"] = np.where(frame["size"] + 0.5 * frame["shape"]
                              + rng.normal(0, 0.3, rows) > 0, "bad", "good")
    return frame


def save_model(kit, folder, train, estimator):
    """The candidate as the train step saves it (factory_steps/modelio.py)."""
    modelio = kit.src("factory_steps.modelio")
    features = list(kit.plugin.features)
    estimator.fit(train[features], train[kit.plugin.target])
    modelio.save(estimator, kit.plugin.task, train[features], folder)
    return folder


def run_step(kit, tmp, model, test_dir, metric, threshold, out):
    uri = f"sqlite:///{tmp}/mlflow.db"
    result = kit.run("step_register.py", "--model_path", model, "--test_data", test_dir,
                     "--model_name", "the_model", "--gate_metric", metric,
                     "--gate_threshold", threshold, "--registration", tmp / out,
                     env=kit.env(MLFLOW_TRACKING_URI=uri, MLFLOW_REGISTRY_URI=uri))
    assert "gate:" in result.stdout
    return json.loads((tmp / out / "decision.json").read_text())


def _client(tmp):
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp}/mlflow.db"
    return MlflowClient(uri, registry_uri=uri)


@pytest.mark.parametrize("task", ["regression", "classification"])
def test_gate_registers_a_good_model_and_keeps_a_worse_one_out(plugin_factory, tmp_path, task):
    from sklearn.dummy import DummyClassifier, DummyRegressor
    from sklearn.linear_model import LinearRegression, LogisticRegression

    if task == "regression":
        kit = plugin_factory(task, ["distance", "passengers"], "fare")
        data, good, worse, metric, lax = (regression_data, LinearRegression(),
                                          DummyRegressor(), "r2", -1.0)
    else:
        kit = plugin_factory(task, ["size", "shape"], "label")
        data, good, worse, metric, lax = (classification_data, LogisticRegression(),
                                          DummyClassifier(strategy="prior"), "roc_auc", 0.4)
    train, test = data(1), data(2)
    test_dir = tmp_path / "test_data"
    test_dir.mkdir()
    test.to_csv(test_dir / "test.csv", index=False)
    good_dir = save_model(kit, tmp_path / "good", train, good)
    worse_dir = save_model(kit, tmp_path / "worse", train, worse)

    first = run_step(kit, tmp_path, good_dir, test_dir, metric, 0.5, "reg1")
    assert first["passed"] and first["registered"] and first["model_version"] == "1"
    assert first["champion"] is None and first["candidate"] > 0.9
    assert first["task"] == task and metric in first["candidate_metrics"]

    # passes a lax threshold, but is worse than the champion on the same test data
    second = run_step(kit, tmp_path, worse_dir, test_dir, metric, lax, "reg2")
    assert second["passed"] and not second["registered"]
    assert second["model_version"] is None
    assert second["champion"] == pytest.approx(first["candidate"])
    assert "does not beat" in second["reason"]

    # below the absolute threshold: not registered either
    third = run_step(kit, tmp_path, worse_dir, test_dir, metric, 0.9, "reg3")
    assert not third["passed"] and not third["registered"]

    client = _client(tmp_path)
    champion = client.get_model_version_by_alias("the_model", "champion")
    assert str(champion.version) == "1"
    assert champion.tags["factory.champion"] == "true"
    assert float(champion.tags[f"gate.{metric}"]) == pytest.approx(first["candidate"])
    assert champion.tags["factory.model_digest"] == first["model_digest"]
    versions = client.search_model_versions("name = 'the_model'")
    assert [str(v.version) for v in versions] == ["1"]


def test_the_recorded_digest_is_the_registered_files(plugin_factory, tmp_path):
    """Download the registered version and hash it again: the digest names exactly its files."""
    import mlflow
    from sklearn.linear_model import LinearRegression

    kit = plugin_factory("regression", ["distance", "passengers"], "fare")
    test_dir = tmp_path / "test_data"
    test_dir.mkdir()
    regression_data(2).to_csv(test_dir / "test.csv", index=False)
    model = save_model(kit, tmp_path / "good", regression_data(1), LinearRegression())
    decision = run_step(kit, tmp_path, model, test_dir, "r2", 0.5, "reg")
    mlflow.set_tracking_uri(f"sqlite:///{tmp_path}/mlflow.db")
    try:
        version = _client(tmp_path).get_model_version("the_model", decision["model_version"])
        local = mlflow.artifacts.download_artifacts(version.source, dst_path=str(tmp_path / "dl"))
    finally:
        mlflow.set_tracking_uri(None)
    step = kit.src("step_register")
    assert step.model_digest(local) == decision["model_digest"] == step.model_digest(model)
