"""Task types a model can have, and the metrics each is judged by: the one home of the metric
set, each metric's direction, and the default gate.

Standard library only and importing nothing of the factory: the staging step copies this file
into every pipeline step's code folder (as factory_steps/tasks.py), so the steps that compute
and gate on metrics (score, register), the config checks and the build reports all read the
same definitions, on the local runner and on Azure ML alike.
"""

from __future__ import annotations

from dataclasses import dataclass

REGRESSION = "regression"
CLASSIFICATION = "classification"


@dataclass(frozen=True)
class Metric:
    name: str
    higher_is_better: bool
    description: str
    lower_bound: float | None = None  # the values the metric can take, for threshold checks
    upper_bound: float | None = None


@dataclass(frozen=True)
class Task:
    name: str
    metrics: tuple[Metric, ...]
    default_gate_metric: str
    default_gate_threshold: float

    @property
    def metric_names(self) -> tuple[str, ...]:
        return tuple(m.name for m in self.metrics)

    def metric(self, name: str) -> Metric:
        for metric in self.metrics:
            if metric.name == name:
                return metric
        raise KeyError(f"{self.name} models have no metric {name!r}; expected one of "
                       f"{', '.join(self.metric_names)}")


TASKS: dict[str, Task] = {
    REGRESSION: Task(REGRESSION, (
        Metric("r2", True, "coefficient of determination", upper_bound=1.0),
        Metric("rmse", False, "root mean squared error", lower_bound=0.0),
        Metric("mae", False, "mean absolute error", lower_bound=0.0),
        Metric("mse", False, "mean squared error", lower_bound=0.0),
    ), default_gate_metric="r2", default_gate_threshold=0.7),
    CLASSIFICATION: Task(CLASSIFICATION, (
        Metric("accuracy", True, "share of rows classified right", 0.0, 1.0),
        Metric("f1", True, "F1 score (binary: positive class; multiclass: macro)", 0.0, 1.0),
        Metric("roc_auc", True, "area under the ROC curve (multiclass: one-vs-rest, macro)",
               0.0, 1.0),
        Metric("log_loss", False, "cross-entropy of the predicted probabilities", 0.0),
    ), default_gate_metric="roc_auc", default_gate_threshold=0.8),
}


def task(name: str) -> Task:
    try:
        return TASKS[name]
    except KeyError:
        raise KeyError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}") from None


def threshold_problem(task_name: str, metric_name: str, threshold: float) -> str | None:
    """Why ``threshold`` can never be met or always is for this metric, else None."""
    metric = task(task_name).metric(metric_name)
    low, high = metric.lower_bound, metric.upper_bound
    if low is not None and threshold < low:
        return f"{metric_name} is never below {low:g}, so a threshold of {threshold:g} is " \
               + ("always met" if metric.higher_is_better else "never met")
    if high is not None and threshold > high:
        return f"{metric_name} is never above {high:g}, so a threshold of {threshold:g} is " \
               + ("never met" if metric.higher_is_better else "always met")
    return None
