"""The MLflow model a deployment serves, as both scoring scripts use it: found under
AZUREML_MODEL_DIR, its input columns from the signature, its task from the MLmodel metadata
(``{"task": "classification", "classes": [...]}``; "regression" or none is regression).

A model with the sklearn flavor is called directly: the request was already checked and typed
against the signature (signature_input.py), so pyfunc's second schema pass is skipped; other
flavors go through pyfunc. A classifier needs the sklearn flavor (predict_proba).

Staged beside score.py by mlops/serving/code_folder.py; imports mlflow, pandas and numpy only."""

from __future__ import annotations

import os

from signature_input import Column, signature_columns

REGRESSION, CLASSIFICATION = "regression", "classification"
TASKS = (REGRESSION, CLASSIFICATION)


class ModelError(ValueError):
    """The MLflow model cannot be served as its metadata says; the message names the field."""


def find_model_folder(root: str) -> str:
    """The folder holding the MLmodel file: AZUREML_MODEL_DIR itself or one below it."""
    for current, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        if "MLmodel" in files:
            return current
    raise FileNotFoundError(f"no MLmodel file under AZUREML_MODEL_DIR={root}")


class ServedModel:
    def __init__(self, folder: str):
        from mlflow.models import Model

        mlmodel = Model.load(folder)
        where = os.path.join(folder, "MLmodel")
        metadata = mlmodel.metadata or {}
        self.task = metadata.get("task", REGRESSION)
        if self.task not in TASKS:
            raise ModelError(f"{where}: metadata.task {self.task!r}: expected one of "
                             f"{', '.join(TASKS)}")
        self.columns: list[Column] = signature_columns(mlmodel.signature)
        self.classes: list | None = None
        if "sklearn" in mlmodel.flavors:
            import mlflow.sklearn

            self.estimator = mlflow.sklearn.load_model(folder)
            self._predict = self.estimator.predict
        elif self.task == CLASSIFICATION:
            raise ModelError(f"{where}: a classifier needs the sklearn flavor (predict_proba); "
                             f"found flavors {', '.join(sorted(mlmodel.flavors))}")
        else:
            import mlflow.pyfunc

            self.estimator = None
            self._predict = mlflow.pyfunc.load_model(folder).predict
        if self.task == CLASSIFICATION:
            self.classes = self._classes(metadata.get("classes"), where)

    def _classes(self, declared, where: str) -> list:
        if not isinstance(declared, list) or not declared:
            raise ModelError(f"{where}: metadata.classes: expected the list of class labels "
                             f"of the classifier, found {declared!r}")
        if not hasattr(self.estimator, "predict_proba"):
            raise ModelError(f"{where}: metadata.task is classification but the model has no "
                             f"predict_proba")
        fitted = getattr(self.estimator, "classes_", None)
        if fitted is not None and [str(c) for c in fitted] != [str(c) for c in declared]:
            raise ModelError(f"{where}: metadata.classes {declared!r} do not match the "
                             f"classifier's classes_ {[_plain(c) for c in fitted]!r} (same "
                             f"labels, same order)")
        return declared

    def predict(self, frame):
        """(predictions, probabilities): arrays; probabilities (one column per class, in the
        order of ``classes``) only for a classifier, else None."""
        import numpy as np

        predictions = np.asarray(self._predict(frame))
        if self.task != CLASSIFICATION:
            return predictions, None
        return predictions, np.asarray(self.estimator.predict_proba(frame))


def _plain(value):
    return value.item() if hasattr(value, "item") else value
