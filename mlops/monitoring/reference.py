"""The reference a model's production data is compared with: its training data as registered (a
content-versioned data asset) run through the model's own prep and features, i.e. the pipeline's
prep and transform steps, run as subprocesses from the model's staged code folder exactly as the
pipeline runs them (a model's code never runs inside the factory's process).

Cached by (staged code digest, data asset version): the same code on the same data is computed
once; a change to either computes it again."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from mlops._environment import tool_environment
from mlops.errors import FactoryError
from mlops.paths import state_dir
from mlops.staging import script, stage_entry

REFERENCE_FILE = "reference.csv"
_STEPS = (("prep", "--raw_data", "--prep_data"), ("transform", "--clean_data",
                                                  "--transformed_data"))
_OUTPUTS = {"prep": "clean.csv", "transform": "transformed.csv"}


class ReferenceError(FactoryError):
    """The reference features could not be computed."""


def _step_environment() -> dict[str, str]:
    """A step run by hand: no MLflow run, no metrics file (the steps then log nothing)."""
    return {k: v for k, v in tool_environment().items()
            if not k.startswith("MLFLOW_") and k != "FACTORY_STEP_METRICS"}


def run_step(entry, code: Path, step: str, args: list[str], python: str = sys.executable) -> None:
    """Run one of the pipeline's step scripts from the model's staged code folder."""
    command = [python, script(step), *args]
    result = subprocess.run(command, cwd=code, capture_output=True, text=True,
                            env=_step_environment(), check=False, timeout=1800)
    if result.returncode != 0:
        tail = "\n".join((result.stdout + result.stderr).strip().splitlines()[-15:])
        raise ReferenceError(f"{entry.model}: computing the monitoring reference, step {step} "
                             f"failed (exit {result.returncode}): {' '.join(command)}\n{tail}")


def reference_features(entry, data_folder: Path, data_version: str,
                       cache: Path | None = None, python: str = sys.executable) -> Path:
    """The CSV of the model's FEATURES and TARGET for the training data in ``data_folder``
    (the asset's version ``data_version``)."""
    staged = stage_entry(entry)
    target = ((cache or state_dir() / "monitor") / entry.model
              / f"{staged.digest[:16]}-{data_version}" / REFERENCE_FILE)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(dir=target.parent, prefix=".build-"))
    try:
        source = Path(data_folder)
        for step, in_flag, out_flag in _STEPS:
            out = work / step
            print(f"  reference: {step} ({entry.model}'s own code) on {source}", flush=True)
            run_step(entry, staged.code, step, [in_flag, str(source), out_flag, str(out)],
                     python)
            source = out
        os.replace(source / _OUTPUTS["transform"], target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return target


def reference_predictions(entry, frame, model_dir: Path, python: str = sys.executable) -> list:
    """The model's predictions for the rows of ``frame`` (FEATURES and TARGET), by the
    pipeline's predict step with the served model in ``model_dir`` (its MLmodel folder)."""
    import pandas as pd

    staged = stage_entry(entry)
    with tempfile.TemporaryDirectory(prefix="reference-predict-") as tmp:
        test = Path(tmp) / "test"
        test.mkdir()
        frame.to_csv(test / "test.csv", index=False)
        run_step(entry, staged.code, "predict", ["--model_input", str(model_dir), "--test_data",
                                                 str(test), "--predictions", f"{tmp}/out"],
                 python)
        return pd.read_csv(Path(tmp) / "out" / "predictions.csv")["predicted"].tolist()
