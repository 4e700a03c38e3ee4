"""The MLflow model a step writes or reads: scikit-learn flavor, skops format, with the input
signature, an input example and the model's task in its metadata (serving reads the task to
answer class probabilities for classifiers)."""

from __future__ import annotations

import shutil
import tempfile
import warnings
from pathlib import Path

import numpy as np

from factory_steps.tasks import CLASSIFICATION

PINNED = ("mlflow", "scikit-learn", "skops", "pandas")


def pip_requirements() -> list[str]:
    """Pinned from this environment: saves MLflow's slow import-capturing subprocess."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in PINNED]


def trusted_types(estimator) -> list[str]:
    """The types skops will not load unreviewed. We trained this estimator, so we trust the
    types it is made of (the histogram booster's TreePredictor, for example)."""
    import skops.io

    return list(skops.io.get_untrusted_types(data=skops.io.dumps(estimator)))


def metadata(task_name: str, estimator) -> dict:
    data = {"task": task_name}
    if task_name == CLASSIFICATION:
        data["classes"] = [_plain(c) for c in estimator.classes_]
    return data


def _plain(value):
    return value.item() if isinstance(value, np.generic) else value


def save(estimator, task_name: str, x_example, model_output: Path):
    """Write the MLflow model folder; written beside, then copied in, because the output folder
    may already exist (Azure ML mounts it). Returns the signature."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = x_example.head(5)
    # MLflow's hint about integer columns and missing values: models get no missing values
    # (prep drops or rejects them), so integer columns are the honest input types.
    warnings.filterwarnings("ignore", message=".*[Ii]nteger column", category=UserWarning)
    signature = infer_signature(example, estimator.predict(example))
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "model"
        mlflow.sklearn.save_model(
            estimator, staged, signature=signature, input_example=example,
            skops_trusted_types=trusted_types(estimator), pip_requirements=pip_requirements(),
            metadata=metadata(task_name, estimator),
        )
        model_output = Path(model_output)
        model_output.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, model_output, dirs_exist_ok=True)
    return signature


def load(path: str | Path):
    """The scikit-learn estimator of an MLflow model folder or URI."""
    import mlflow.sklearn

    return mlflow.sklearn.load_model(str(path))


def input_columns(model_uri: str | Path) -> list[str] | None:
    """The signature's input column names, if the model has a named signature."""
    from mlflow.models import get_model_info

    schema = get_model_info(str(model_uri)).signature
    inputs = schema.inputs if schema is not None else None
    if inputs is None or not inputs.has_input_names():
        return None
    return list(inputs.input_names())


def predict_frame(estimator, task_name: str, features):
    """(predicted, probabilities or None, classes or None) for a feature frame."""
    predicted = estimator.predict(features)
    if task_name != CLASSIFICATION:
        return predicted, None, None
    return predicted, estimator.predict_proba(features), [_plain(c) for c in estimator.classes_]
