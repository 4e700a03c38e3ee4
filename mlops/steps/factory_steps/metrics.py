"""The metrics of tasks.py, computed. Regression in plain numpy (same definitions as
scikit-learn's, so the score step runs without importing sklearn); classification through
sklearn.metrics, from the predicted classes and the class probabilities."""

from __future__ import annotations

import math

import numpy as np

from factory_steps.tasks import CLASSIFICATION, REGRESSION, Task

PROBABILITY_PREFIX = "probability_"  # one column per class in predictions.csv


def probability_column(label) -> str:
    return f"{PROBABILITY_PREFIX}{label}"


def regression(actual, predicted) -> dict[str, float]:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    error = actual - predicted
    mse = float(np.mean(error**2))
    total = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan")
    return {"r2": r2, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(error))), "mse": mse}


def classification(actual, predicted, probabilities, classes) -> dict[str, float]:
    """``probabilities``: rows x len(classes), columns in ``classes`` order."""
    from sklearn.metrics import accuracy_score, f1_score, log_loss, roc_auc_score

    actual = np.asarray(actual)
    probabilities = np.asarray(probabilities, dtype=float)
    classes = list(classes)
    binary = len(classes) == 2
    metrics = {"accuracy": float(accuracy_score(actual, predicted))}
    if binary:
        metrics["f1"] = float(f1_score(actual, predicted, pos_label=classes[1]))
    else:
        metrics["f1"] = float(f1_score(actual, predicted, average="macro", labels=classes))
    present = set(np.unique(actual))
    if len(present) < 2:  # AUC is undefined on one class
        metrics["roc_auc"] = float("nan")
    elif binary:
        metrics["roc_auc"] = float(roc_auc_score(actual == classes[1], probabilities[:, 1]))
    else:
        metrics["roc_auc"] = float(roc_auc_score(actual, probabilities, multi_class="ovr",
                                                 average="macro", labels=classes))
    metrics["log_loss"] = float(log_loss(actual, probabilities, labels=classes))
    return metrics


def compute(task: Task, actual, predicted, probabilities=None, classes=None) -> dict[str, float]:
    if task.name == REGRESSION:
        values = regression(actual, predicted)
    elif task.name == CLASSIFICATION:
        if probabilities is None or classes is None:
            raise ValueError("classification metrics need the class probabilities")
        values = classification(actual, predicted, probabilities, classes)
    else:
        raise ValueError(f"no metrics for task {task.name!r}")
    return {name: values[name] for name in task.metric_names}


def from_predictions(task: Task, frame) -> dict[str, float]:
    """Metrics of a predictions table (predict's output): actual, predicted, probability_*."""
    if task.name != CLASSIFICATION:
        return compute(task, frame["actual"], frame["predicted"])
    columns = [c for c in frame.columns if c.startswith(PROBABILITY_PREFIX)]
    classes = [_label(c[len(PROBABILITY_PREFIX):], frame["actual"]) for c in columns]
    return compute(task, frame["actual"], frame["predicted"], frame[columns].to_numpy(), classes)


def _label(text: str, actual):
    """A class label read back from its column name, typed like the actual labels."""
    sample = actual.iloc[0] if len(actual) else text
    if isinstance(sample, (int, np.integer)):
        return int(text)
    if isinstance(sample, (float, np.floating)):
        return float(text)
    return text
