"""A small MLflow sklearn regression model with a signature, registered as champion in a
workspace's SQLite registry: what the serving benchmark and the serving tests deploy when
they must not depend on a full pipeline run."""

from __future__ import annotations

import json
from pathlib import Path

FEATURES = {"distance": "float", "passengers": "int", "vendor": "str", "pickup_hour": "int"}


def frame(rows: int, seed: int = 0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "distance": rng.uniform(0.2, 20.0, rows).round(3),
        "passengers": rng.integers(1, 6, rows).astype("int64"),
        "vendor": rng.choice(["CMT", "VTS"], rows),
        "pickup_hour": rng.integers(0, 24, rows).astype("int64"),
    })


def fit(seed: int = 0, slope: float = 2.5):
    """(features, regression pipeline) on 400 rows."""
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LinearRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder

    x = frame(400, seed)
    y = slope * x["distance"] + 0.3 * x["passengers"] + (x["vendor"] == "CMT") + 2.0
    return x, make_pipeline(
        ColumnTransformer([("vendor", OneHotEncoder(handle_unknown="ignore"), ["vendor"])],
                          remainder="passthrough"), LinearRegression()).fit(x, y)


def _requirements() -> list[str]:
    """Pinned from this environment, as the pipeline's models are (factory_steps.modelio):
    MLflow would otherwise infer them by loading the model in a new interpreter (about 8 s)."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "cloudpickle",
                                                    "pandas")]


def save(folder: Path, *, seed: int = 0, slope: float = 2.5) -> Path:
    """The regression model saved as an MLflow model folder (no registry involved)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    x, model = fit(seed, slope)
    mlflow.sklearn.save_model(model, folder, signature=infer_signature(x, model.predict(x)),
                              serialization_format="cloudpickle",
                              pip_requirements=_requirements())
    return folder


def train_and_register(workspace, model_name: str, *, seed: int = 0,
                       slope: float = 2.5) -> str:
    """Fit, log with signature, register as model_name and point 'champion' at it."""
    import mlflow
    from mlflow import MlflowClient
    from mlflow.models import infer_signature

    for folder in (workspace.root / "mlflow", workspace.artifact_root):
        folder.mkdir(parents=True, exist_ok=True)
    x, model = fit(seed, slope)
    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    experiment = client.get_experiment_by_name("serving-fixture")
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(
        "serving-fixture", artifact_location=workspace.artifact_root.as_uri())
    mlflow.set_tracking_uri(workspace.mlflow_tracking_uri)
    mlflow.set_registry_uri(workspace.mlflow_registry_uri)
    try:
        with mlflow.start_run(experiment_id=experiment_id):
            info = mlflow.sklearn.log_model(model, name="model", registered_model_name=model_name,
                                            signature=infer_signature(x, model.predict(x)),
                                            input_example=x.head(2),
                                            pip_requirements=_requirements())
    finally:  # the process's other MLflow clients keep their own stores
        mlflow.set_tracking_uri(None)
        mlflow.set_registry_uri(None)
    version = str(info.registered_model_version)
    client.set_registered_model_alias(model_name, "champion", version)
    return version


def write_sample_request(path: Path, rows: int = 2, seed: int = 7) -> Path:
    records = frame(rows, seed).to_dict(orient="records")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"input_data": records}, default=_plain) + "\n")
    return path


def write_batch_files(folder: Path, files: int, rows_per_file: int, seed: int = 11) -> int:
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(files):
        data = frame(rows_per_file, seed + n)
        data["cost"] = 1.0  # an extra column (the actual target) the batch scorer ignores
        data.to_csv(folder / f"part-{n:04d}.csv", index=False)
    return files * rows_per_file


def _plain(value):
    return value.item() if hasattr(value, "item") else str(value)
