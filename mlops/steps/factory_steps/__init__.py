"""The factory's helpers for pipeline steps, staged into every step's code folder beside the
model's own modules (schema, prep, features, generate_data, optionally estimator or a step of
its own). Steps run here on the local runner and on Azure ML alike, so nothing in this package
imports the factory (mlops.*): only the standard library, numpy, pandas, scikit-learn, MLflow.

The model's contract, read from its ``schema`` module: TASK ("regression" or
"classification", see tasks.py), FEATURES (input columns, in order) and TARGET.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


class DataError(Exception):
    """Bad input data; str() is the one-line message naming the file, column and problem."""

    def __init__(self, file, column, problem):
        super().__init__(f"{file}: column {column}: {problem}")


def raw_files(raw_data, what: str = "data") -> list[tuple[Path, str]]:
    """(path, label relative to the folder) of every .csv under ``raw_data``, in path order (so
    the listing order never changes a result); DataError when there is none."""
    raw_data = Path(raw_data)
    if not raw_data.is_dir():
        raise DataError(raw_data, "-", "raw_data is not a folder")
    files = sorted(p for p in raw_data.rglob("*") if p.is_file() and p.suffix.lower() == ".csv")
    if not files:
        raise DataError(raw_data, "-", f"no .csv {what} files in this folder")
    return [(path, path.relative_to(raw_data).as_posix()) for path in files]


def contract():
    """(task, features, target) of the model whose code folder this is."""
    import schema

    from factory_steps.tasks import task

    return task(getattr(schema, "TASK", "regression")), list(schema.FEATURES), schema.TARGET


def feature_frame(columns: dict, clean, integers=()):
    """The model input: ``columns`` (name -> values) in schema.FEATURES order, ``integers``
    as int64, plus the target taken from ``clean`` when it has one (training); serving passes
    rows without it."""
    import pandas as pd
    import schema

    out = pd.DataFrame(columns)
    out[list(integers)] = out[list(integers)].astype("int64")
    out = out[list(schema.FEATURES)]
    if schema.TARGET in clean.columns:
        target = clean[schema.TARGET]
        if getattr(schema, "TASK", "regression") == "regression":
            target = target.astype(float)
        out[schema.TARGET] = target.to_numpy()
    return out.reset_index(drop=True)


def write_atomic(folder: Path, name: str, write) -> Path:
    """Call ``write(tmp_path)`` for a temporary file in ``folder``, then rename it to ``name``:
    a reader never sees a half-written output, and a killed step leaves no partial file."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, folder / name)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return folder / name


def fail(message: str, code: int = 2) -> int:
    """One line on stderr (the runner shows the log tail); the step's exit code."""
    print(f"error: {message}", file=sys.stderr, flush=True)
    return code
