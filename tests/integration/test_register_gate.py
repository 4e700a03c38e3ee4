"""The register step against a real MLflow SQLite registry: a good model becomes champion, a
deliberately worse one runs to the end and stays out."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

STEP = Path(__file__).resolve().parents[2] / "mlops" / "steps" / "register.py"


def data(seed: int, rows: int = 300) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({"distance": rng.uniform(0.5, 20, rows),
                          "passengers": rng.integers(1, 5, rows).astype(float)})
    frame["totalAmount"] = 3 + 2.5 * frame["distance"] + 0.3 * frame["passengers"] \
        + rng.normal(0, 0.5, rows)
    return frame


def save_model(folder: Path, train: pd.DataFrame, crippled: bool) -> Path:
    import mlflow.sklearn
    from mlflow.models import infer_signature
    from sklearn.dummy import DummyRegressor
    from sklearn.linear_model import LinearRegression

    features = train[["distance", "passengers"]]
    model = (DummyRegressor() if crippled else LinearRegression()).fit(features,
                                                                        train["totalAmount"])
    mlflow.sklearn.save_model(model, str(folder),
                              signature=infer_signature(features, model.predict(features)))
    return folder


def run_step(tmp: Path, model: Path, test_dir: Path, name: str, threshold: float,
             out: str) -> dict:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp}/mlflow.db",
           "MLFLOW_REGISTRY_URI": f"sqlite:///{tmp}/mlflow.db"}
    env.pop("MLFLOW_RUN_ID", None)
    result = subprocess.run(
        [sys.executable, str(STEP), "--model_path", str(model), "--test_data", str(test_dir),
         "--model_name", name, "--gate_metric", "r2", "--gate_threshold", str(threshold),
         "--registration", str(tmp / out)],
        cwd=tmp, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate:" in result.stdout
    return json.loads((tmp / out / "decision.json").read_text())


def test_gate_registers_a_good_model_and_keeps_a_worse_one_out(tmp_path):
    from mlflow.tracking import MlflowClient

    train, test = data(1), data(2)
    test_dir = tmp_path / "test_data"
    test_dir.mkdir()
    test.to_csv(test_dir / "test.csv", index=False)
    good = save_model(tmp_path / "good", train, crippled=False)
    worse = save_model(tmp_path / "worse", train, crippled=True)

    first = run_step(tmp_path, good, test_dir, "taxi_model", 0.5, "reg1")
    assert first["passed"] and first["registered"] and first["model_version"] == "1"
    assert first["champion"] is None and first["candidate"] > 0.9

    # passes a lax threshold, but is worse than the champion on the same test data
    second = run_step(tmp_path, worse, test_dir, "taxi_model", -1.0, "reg2")
    assert second["passed"] and not second["registered"]
    assert second["model_version"] is None
    assert second["champion"] == pytest.approx(first["candidate"])
    assert "does not beat" in second["reason"]

    # below the absolute threshold: not registered either
    third = run_step(tmp_path, worse, test_dir, "taxi_model", 0.5, "reg3")
    assert not third["passed"] and not third["registered"]

    client = MlflowClient(f"sqlite:///{tmp_path}/mlflow.db",
                          registry_uri=f"sqlite:///{tmp_path}/mlflow.db")
    champion = client.get_model_version_by_alias("taxi_model", "champion")
    assert str(champion.version) == "1"
    assert float(champion.tags["gate.r2"]) == pytest.approx(first["candidate"])
    versions = client.search_model_versions("name = 'taxi_model'")
    assert [str(v.version) for v in versions] == ["1"]
    # the champion loads from the registry and predicts
    import mlflow.pyfunc

    mlflow.set_registry_uri(f"sqlite:///{tmp_path}/mlflow.db")
    loaded = mlflow.pyfunc.load_model("models:/taxi_model@champion")
    assert len(loaded.predict(test[["distance", "passengers"]])) == len(test)
