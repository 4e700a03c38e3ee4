"""Classification is first-class: a classifier saved with MLflow metadata
``{"task": "classification", "classes": [...]}`` is served by the factory's scripts with its
classes and probabilities, online (azmlinfsrv behind the front) and in batch (one
probability_<class> column per class). A regression model keeps {"predictions": [...]}."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlops.records import BatchSettings
from mlops.serving import batch_endpoint, online, processes
from mlops.serving.client import request
from mlops.serving.registry import EndpointRegistry
from mlops.serving.shutdown import stop_all

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]
CLASSES = ["long", "medium", "short"]  # sorted: what LogisticRegression.classes_ holds


def _trips(rows: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"distance": rng.uniform(0.1, 30.0, rows).round(2),
                         "passengers": rng.integers(1, 6, rows).astype("int64")})


def _label(frame: pd.DataFrame) -> pd.Series:
    return pd.cut(frame["distance"], [0, 5, 15, 100], labels=["short", "medium", "long"]
                  ).astype(str)


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    x = _trips(300, 0)
    model = LogisticRegression(max_iter=2000).fit(x, _label(x))
    assert list(model.classes_) == CLASSES
    folder = tmp_path_factory.mktemp("classifier") / "model"
    mlflow.sklearn.save_model(model, folder, signature=infer_signature(x, model.predict(x)),
                              serialization_format="cloudpickle",
                              metadata={"task": "classification", "classes": CLASSES})
    return folder, model


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    registry = EndpointRegistry(tmp_path_factory.mktemp("endpoints"))
    yield registry
    stop_all(registry)
    for pid, _ in processes.processes_using(registry.root):
        processes.kill_group(pid)


def test_online_answers_classes_and_probabilities(classifier, registry, tmp_path):
    folder, model = classifier
    rows = _trips(4, 1)
    sample = tmp_path / "sample.json"
    sample.write_text(json.dumps({"input_data": rows.to_dict(orient="records")}))
    record = online.deploy(registry, online.OnlineSpec(
        endpoint="clf-online", model="fixture", model_name="clf", model_version="1",
        model_dir=folder, serving_dir=tmp_path / "none", sample_request=sample,
        environment={"WORKER_COUNT": "1"}), say=lambda _: None)
    reply = request(record.scoring_uri, sample.read_bytes(), key=registry.read_key("clf-online"))
    assert reply.status == 200, reply.text
    answer = reply.json()
    assert set(answer) == {"predictions", "probabilities", "classes"}
    assert answer["classes"] == CLASSES
    assert answer["predictions"] == model.predict(rows).tolist()
    probabilities = np.array(answer["probabilities"])
    assert probabilities.shape == (4, 3)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert np.allclose(probabilities, model.predict_proba(rows))
    assert [CLASSES[i] for i in probabilities.argmax(axis=1)] == answer["predictions"]
    bad = request(record.scoring_uri, b'{"input_data": [{"distance": "far", "passengers": 1}]}',
                  key=registry.read_key("clf-online"))
    assert bad.status == 400 and "'distance'" in bad.json()["message"]


def test_batch_adds_one_probability_column_per_class(classifier, registry, tmp_path):
    folder, model = classifier
    data = tmp_path / "input"
    data.mkdir()
    frames = {f"part-{n}.csv": _trips(50, 10 + n) for n in range(3)}
    for name, frame in frames.items():
        frame.to_csv(data / name, index=False)
    batch_endpoint.deploy(registry, batch_endpoint.BatchDeploySpec(
        endpoint="clf-batch", deployment="clf-batch-dep", model="fixture", model_name="clf",
        model_version="1", model_dir=folder, serving_dir=tmp_path / "none",
        settings=BatchSettings(2, 2, 0, 120, "predictions.csv")), say=lambda _: None)
    result = batch_endpoint.invoke(registry, "clf-batch", data, say=lambda _: None)
    out = pd.read_csv(result.output)
    assert list(out.columns) == ["source_file", "row_index", "prediction",
                                 *(f"probability_{c}" for c in CLASSES)]
    expected = pd.concat(frames.values(), ignore_index=True)
    assert out["prediction"].tolist() == model.predict(expected).tolist()
    assert np.allclose(out[[f"probability_{c}" for c in CLASSES]].to_numpy(),
                       model.predict_proba(expected))


def test_metadata_that_disagrees_with_the_model_fails_init_naming_it(classifier, tmp_path,
                                                                    monkeypatch):
    import importlib.util
    import shutil

    from mlops.serving import code_folder

    folder, _ = classifier
    broken = tmp_path / "model"
    shutil.copytree(folder, broken)
    mlmodel = (broken / "MLmodel").read_text().replace("- short", "- tiny")
    (broken / "MLmodel").write_text(mlmodel)
    code = code_folder.stage(tmp_path / "none", "online", tmp_path / "code")
    spec = importlib.util.spec_from_file_location("score_broken_clf", code / "score.py")
    score = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(score)
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(broken))
    with pytest.raises(ValueError, match=r"metadata.classes .* do not match the "
                                         r"classifier's classes_"):
        score.init()
