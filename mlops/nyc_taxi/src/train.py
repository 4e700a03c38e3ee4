"""train: fit a gradient-boosting regressor on <training_data>/transformed.csv with a 70/30 split;
write the MLflow model to --model_output and the held-out rows (features + target) to
<test_data>/test.csv; log params, metrics, the model and a predicted-vs-actual plot."""

import argparse
import shutil
import sys
import tempfile
import warnings
from pathlib import Path

import pandas as pd
from metrics import regression_metrics
from schema import FEATURES, TARGET
from sklearn.ensemble import HistGradientBoostingRegressor
from sklearn.model_selection import train_test_split
from tracking import step_run

# MLflow stores sklearn models with skops, which loads only reviewed types; the booster's tree
# predictor is ours (we trained it), so it is trusted explicitly.
TRUSTED_TYPES = ["sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor"]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--training_data", required=True)
    parser.add_argument("--model_output", required=True)
    parser.add_argument("--test_data", required=True)
    parser.add_argument("--learning_rate", type=float, default=0.1)
    parser.add_argument("--max_iter", type=int, default=300)
    parser.add_argument("--max_leaf_nodes", type=int, default=15)
    parser.add_argument("--min_samples_leaf", type=int, default=20)
    parser.add_argument("--l2_regularization", type=float, default=0.0)
    parser.add_argument("--test_size", type=float, default=0.3)
    parser.add_argument("--random_state", type=int, default=42)
    return parser.parse_args(argv)


def fit(data: pd.DataFrame, args):
    """(model, X_train, X_test, y_test) for the configured split and hyper-parameters."""
    x_train, x_test, y_train, y_test = train_test_split(
        data[FEATURES], data[TARGET], test_size=args.test_size, random_state=args.random_state
    )
    model = HistGradientBoostingRegressor(
        learning_rate=args.learning_rate,
        max_iter=args.max_iter,
        max_leaf_nodes=args.max_leaf_nodes,
        min_samples_leaf=args.min_samples_leaf,
        l2_regularization=args.l2_regularization,
        early_stopping=False,  # deterministic: no internal random validation split
        random_state=args.random_state,
    )
    model.fit(x_train, y_train)
    return model, x_train, x_test, y_test


def plot_predictions(actual, predicted, path: Path, title: str) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(actual, predicted, s=6, alpha=0.4)
    top = float(max(max(actual), max(predicted)))
    ax.plot([0, top], [0, top], color="red", linewidth=1)
    ax.set_xlabel(f"actual {TARGET}")
    ax.set_ylabel(f"predicted {TARGET}")
    ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def pip_requirements() -> list[str]:
    """Pinned from this environment: saves MLflow's slow import-capturing subprocess."""
    from importlib.metadata import version

    return [f"{name}=={version(name)}" for name in ("mlflow", "scikit-learn", "skops", "pandas")]


def save_model(model, x_train, model_output: Path):
    """MLflow model folder with signature and input example; written beside, then copied in,
    because the output folder may already exist (Azure ML mounts it)."""
    import mlflow.sklearn
    from mlflow.models import infer_signature

    example = x_train.head(5)
    # MLflow's hint about integer columns and missing values: ours are never missing (prep drops
    # such rows), so integer columns are the honest input types.
    warnings.filterwarnings("ignore", message=".*[Ii]nteger column", category=UserWarning)
    signature = infer_signature(example, model.predict(example))
    with tempfile.TemporaryDirectory() as tmp:
        staged = Path(tmp) / "model"
        mlflow.sklearn.save_model(
            model, staged, signature=signature, input_example=example,
            skops_trusted_types=TRUSTED_TYPES, pip_requirements=pip_requirements(),
        )
        model_output.mkdir(parents=True, exist_ok=True)
        shutil.copytree(staged, model_output, dirs_exist_ok=True)
    return signature, example


def main(argv=None) -> int:
    args = parse_args(argv)
    data = pd.read_csv(Path(args.training_data) / "transformed.csv")
    missing = [c for c in [*FEATURES, TARGET] if c not in data.columns]
    if missing:
        print(f"error: transformed.csv: column {missing[0]}: missing", file=sys.stderr)
        return 2
    print(f"training on {len(data)} rows, {len(FEATURES)} features", flush=True)
    model, x_train, x_test, y_test = fit(data, args)
    predicted = model.predict(x_test)
    metrics = regression_metrics(y_test, predicted)
    print("test metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)

    signature, example = save_model(model, x_train, Path(args.model_output))
    test_dir = Path(args.test_data)
    test_dir.mkdir(parents=True, exist_ok=True)
    x_test.assign(**{TARGET: y_test}).to_csv(test_dir / ".test.csv.tmp", index=False)
    (test_dir / ".test.csv.tmp").replace(test_dir / "test.csv")

    with step_run() as run:
        if run is not None:
            import mlflow
            import mlflow.sklearn

            params = {k: v for k, v in vars(args).items() if k not in _PATHS}
            mlflow.log_params({**params, "model": type(model).__name__, "rows": len(data)})
            mlflow.log_metrics(metrics)
            mlflow.sklearn.log_model(
                model, name="model", signature=signature, input_example=example,
                skops_trusted_types=TRUSTED_TYPES, pip_requirements=pip_requirements(),
            )
            with tempfile.TemporaryDirectory() as tmp:
                plot = plot_predictions(
                    y_test, predicted, Path(tmp) / "predicted_vs_actual.png",
                    f"R2 {metrics['r2']:.3f}  RMSE {metrics['rmse']:.2f}",
                )
                mlflow.log_artifact(str(plot))
    return 0


_PATHS = {"training_data", "model_output", "test_data"}

if __name__ == "__main__":
    sys.exit(main())
