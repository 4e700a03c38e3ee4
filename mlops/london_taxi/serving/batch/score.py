"""Batch scoring script, run per mini batch by Azure ML batch endpoints (ModelBatchDeployment,
output action append_row) and by the factory's local batch endpoint. init() loads the MLflow
model found under AZUREML_MODEL_DIR; run(mini_batch) reads each file (CSV or Parquet) and
returns one row per input row: source file, row index within that file, prediction. A file
that cannot be scored raises an error naming the file and column, so the mini batch is
retried and then reported, never silently dropped."""

from __future__ import annotations

import logging
import os
import sys

import pandas as pd

# signature_input.py is staged beside this file (mlops/serving/code_folder.py)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from signature_input import file_frame, signature_columns  # noqa: E402

logger = logging.getLogger(__name__)
OUTPUT_COLUMNS = ["source_file", "row_index", "prediction"]
model = None
columns = None


def find_model_folder(root: str) -> str:
    """The folder holding the MLmodel file: AZUREML_MODEL_DIR itself or one below it."""
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        if "MLmodel" in files:
            return current
    raise FileNotFoundError(f"no MLmodel file under AZUREML_MODEL_DIR={root}")


def init() -> None:
    global model, columns
    import mlflow.pyfunc

    folder = find_model_folder(os.environ["AZUREML_MODEL_DIR"])
    model = mlflow.pyfunc.load_model(folder)
    columns = signature_columns(model.metadata.signature)
    logger.info("loaded model from %s", folder)


def _read(path: str) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    if path.endswith(".csv"):
        return pd.read_csv(path)
    raise ValueError(f"{path}: unsupported file type; expected .csv or .parquet")


def score_file(path: str) -> pd.DataFrame:
    name = os.path.basename(path)
    try:
        frame = _read(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{name}: cannot read: {exc}") from exc
    if frame.empty:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    predictions = model.predict(file_frame(frame, columns, name))
    return pd.DataFrame({"source_file": name, "row_index": range(len(frame)),
                         "prediction": list(predictions)}, columns=OUTPUT_COLUMNS)


def run(mini_batch) -> pd.DataFrame:
    frames = [score_file(str(path)) for path in mini_batch]
    logger.info("scored %d file(s)", len(frames))
    if not frames:
        return pd.DataFrame(columns=OUTPUT_COLUMNS)
    return pd.concat(frames, ignore_index=True)
