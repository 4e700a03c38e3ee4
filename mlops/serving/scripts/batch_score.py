"""Batch scoring script of every model, staged as score.py into each batch deployment's code
folder by mlops/serving/code_folder.py (a model's own serving/batch/score.py wins). Run per mini
batch by Azure ML batch endpoints (ModelBatchDeployment, output action append_row) and by the
factory's local batch endpoint.

init() loads the MLflow model found under AZUREML_MODEL_DIR. run(mini_batch) reads every file
of the mini batch (CSV or Parquet), checks each against the model's signature, predicts them
in one call and returns one row per input row: source file, row index within that file,
prediction (a classifier adds one probability_<class> column per class). ``source_file`` is
the path relative to FACTORY_BATCH_INPUT_ROOT when the local runner sets it (same-named files
in different subfolders stay apart), else the path as given. A file that cannot be scored
raises an error naming the file and column, so the mini batch is retried and then reported,
never silently dropped."""

from __future__ import annotations

import logging
import os
import sys

import numpy as np
import pandas as pd

try:  # the fast CSV reader; imported here so the first mini batch does not pay for it
    import pyarrow as pa
    import pyarrow.csv as pacsv
except ImportError:  # pragma: no cover - pyarrow comes with mlflow
    pa = pacsv = None

# signature_input.py and served_model.py are staged beside this file
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from served_model import ServedModel, find_model_folder  # noqa: E402
from signature_input import file_frame  # noqa: E402

logger = logging.getLogger(__name__)
INPUT_ROOT_ENV = "FACTORY_BATCH_INPUT_ROOT"
BASE_COLUMNS = ["source_file", "row_index", "prediction"]
model: ServedModel | None = None


def init() -> None:
    global model
    folder = find_model_folder(os.environ["AZUREML_MODEL_DIR"])
    model = ServedModel(folder)
    logger.info("loaded %s model from %s", model.task, folder)


def output_columns() -> list[str]:
    return BASE_COLUMNS + [f"probability_{c}" for c in (model.classes or [])]


def source_name(path: str) -> str:
    root = os.environ.get(INPUT_ROOT_ENV)
    if root:
        relative = os.path.relpath(path, root)
        if not relative.startswith(".."):
            return relative
    return path


def _read(path: str) -> pd.DataFrame:
    if path.endswith(".parquet"):
        return pd.read_parquet(path)
    if not path.endswith(".csv"):
        raise ValueError("unsupported file type; expected .csv or .parquet")
    if os.path.getsize(path) == 0:
        return pd.DataFrame()
    if pacsv is None:  # pragma: no cover
        return pd.read_csv(path)
    # pyarrow's reader is the fast one; text columns stay text (it would turn date-like
    # strings into timestamps)
    text = {c.name: pa.string() for c in model.columns if c.type == "string"}
    table = pacsv.read_csv(path, convert_options=pacsv.ConvertOptions(column_types=text))
    return table.to_pandas()


def _load(path: str) -> tuple[str, pd.DataFrame]:
    name = source_name(path)
    try:
        frame = _read(path)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise ValueError(f"{name}: cannot read: {exc}") from exc
    return name, file_frame(frame, model.columns, name) if len(frame) else frame


def run(mini_batch) -> pd.DataFrame:
    loaded = [_load(str(path)) for path in mini_batch]
    parts = [(name, frame) for name, frame in loaded if len(frame)]
    if not parts:
        return pd.DataFrame(columns=output_columns())
    sizes = [len(frame) for _, frame in parts]
    inputs = pd.concat([frame for _, frame in parts], ignore_index=True)
    predictions, probabilities = model.predict(inputs)
    out = pd.DataFrame({
        "source_file": np.repeat([name for name, _ in parts], sizes),
        "row_index": np.concatenate([np.arange(n) for n in sizes]),
        "prediction": predictions})
    if probabilities is not None:
        for n, label in enumerate(model.classes):
            out[f"probability_{label}"] = probabilities[:, n]
    logger.info("scored %d file(s), %d rows", len(loaded), len(out))
    return out
