"""train: fit the model's estimator on <training_data>/transformed.csv with a held-out split
(stratified for classifiers); write the MLflow model to --model_output and the held-out rows
(features + target) to <test_data>/test.csv; log params, metrics and a diagnostic plot.

The estimator is the model's estimator.py if it has one, else the factory's default for its
task (factory_steps/estimators.py); its PARAMS are this step's extra arguments."""

import argparse
import sys
import tempfile
from pathlib import Path

import pandas as pd
from factory_steps import contract, fail, metrics, modelio, write_atomic
from factory_steps.estimators import model_estimator
from factory_steps.tasks import CLASSIFICATION
from factory_steps.tracking import log_metrics, step_run

SPLIT = {"test_size": 0.3, "random_state": 42}
_PATHS = ("training_data", "model_output", "test_data")


def _type(default):
    if isinstance(default, bool):
        return lambda text: text.strip().lower() in ("1", "true", "yes")
    return type(default)


def parse_args(params: dict, argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in _PATHS:
        parser.add_argument(f"--{name}", required=True)
    for name, default in {**SPLIT, **params}.items():
        parser.add_argument(f"--{name}", type=_type(default), default=default)
    return parser.parse_args(argv)


def split(data: pd.DataFrame, features, target, task_name, args):
    from sklearn.model_selection import train_test_split

    stratify = data[target] if task_name == CLASSIFICATION else None
    return train_test_split(data[features], data[target], test_size=args.test_size,
                            random_state=args.random_state, stratify=stratify)


def plot(task_name: str, actual, predicted, path: Path, title: str, target: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    if task_name == CLASSIFICATION:
        from sklearn.metrics import ConfusionMatrixDisplay

        ConfusionMatrixDisplay.from_predictions(actual, predicted, ax=ax, colorbar=False)
    else:
        ax.scatter(actual, predicted, s=6, alpha=0.4)
        top = float(max(max(actual), max(predicted)))
        ax.plot([0, top], [0, top], color="red", linewidth=1)
        ax.set_xlabel(f"actual {target}")
        ax.set_ylabel(f"predicted {target}")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def main(argv=None) -> int:
    task, features, target = contract()
    params, build = model_estimator()
    args = parse_args(params, argv)
    data = pd.read_csv(Path(args.training_data) / "transformed.csv")
    missing = [c for c in [*features, target] if c not in data.columns]
    if missing:
        return fail(f"transformed.csv: column {missing[0]}: missing")
    chosen = {name: getattr(args, name) for name in params}
    estimator = build(chosen, args.random_state)
    print(f"training {type(estimator).__name__} ({task.name}) on {len(data)} rows, "
          f"{len(features)} features", flush=True)
    x_train, x_test, y_train, y_test = split(data, features, target, task.name, args)
    estimator.fit(x_train, y_train)
    predicted, probabilities, classes = modelio.predict_frame(estimator, task.name, x_test)
    scores = metrics.compute(task, y_test, predicted, probabilities, classes)
    print("test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in scores.items()), flush=True)

    modelio.save(estimator, task.name, x_train, Path(args.model_output))
    write_atomic(Path(args.test_data), "test.csv",
                 lambda tmp: x_test.assign(**{target: y_test}).to_csv(tmp, index=False))
    log_metrics(scores)
    with step_run() as run:
        if run is not None:  # params and the plot: only inside a pipeline run
            import mlflow

            mlflow.log_params({**chosen, **{k: getattr(args, k) for k in SPLIT},
                               "estimator": type(estimator).__name__, "rows": len(data)})
            with tempfile.TemporaryDirectory() as tmp:
                headline = task.default_gate_metric
                mlflow.log_artifact(str(plot(task.name, y_test, predicted,
                                             Path(tmp) / "diagnostic.png",
                                             f"{headline} {scores[headline]:.3f}", target)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
