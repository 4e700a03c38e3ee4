"""Pipeline step `register`: the registry gate, shared by every model.

Standalone on purpose (Azure ML uploads only this folder): imports mlflow, pandas, numpy and
scikit-learn, never other mlops modules.

The candidate and the current champion (alias ``champion`` of MODEL_NAME) are evaluated on the
SAME test data. The candidate passes when it meets the absolute threshold; it is registered,
and the alias moves to it, only when it passes AND beats the champion (or there is none). A
worse model never replaces the champion. The decision is written to decision.json, logged to
the step's MLflow run and printed.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

HIGHER_IS_BETTER = {"r2": True, "rmse": False, "mae": False, "mse": False}
CHAMPION_ALIAS = "champion"


class GateError(Exception):
    """Bad input to the gate (missing file, unknown metric, no target column)."""


def decide(metric: str, threshold: float, candidate: float | None,
           champion: float | None) -> dict:
    """The gate decision, as a pure function of the metric values."""
    if metric not in HIGHER_IS_BETTER:
        raise GateError(f"gate_metric {metric!r} is not one of {', '.join(HIGHER_IS_BETTER)}")
    higher = HIGHER_IS_BETTER[metric]
    sign = ">=" if higher else "<="
    decision = {"passed": False, "registered": False, "metric": metric,
                "threshold": float(threshold), "candidate": candidate, "champion": champion}
    if candidate is None or math.isnan(candidate):
        decision["reason"] = f"candidate {metric} could not be computed"
        return decision
    passed = candidate >= threshold if higher else candidate <= threshold
    decision["passed"] = passed
    if not passed:
        decision["reason"] = (f"candidate {metric} {candidate:.4f} fails the threshold "
                              f"({sign} {threshold:g}); not registered")
        return decision
    if champion is None or math.isnan(champion):
        decision["registered"] = True
        decision["reason"] = (f"candidate {metric} {candidate:.4f} passes the threshold "
                              f"({sign} {threshold:g}) and there is no champion yet")
        return decision
    better = candidate > champion if higher else candidate < champion
    decision["registered"] = better
    verb = "beats" if better else "does not beat"
    decision["reason"] = (f"candidate {metric} {candidate:.4f} passes the threshold "
                          f"({sign} {threshold:g}) and {verb} the champion's {champion:.4f} "
                          f"on the same test data" + ("" if better else "; champion kept"))
    return decision


def regression_metrics(actual, predicted) -> dict[str, float]:
    import numpy as np
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    actual, predicted = np.asarray(actual, dtype=float), np.asarray(predicted, dtype=float)
    mse = float(mean_squared_error(actual, predicted))
    return {"r2": float(r2_score(actual, predicted)), "rmse": math.sqrt(mse),
            "mae": float(mean_absolute_error(actual, predicted)), "mse": mse}


def read_test_data(folder: Path):
    import pandas as pd

    folder = Path(folder)
    files = [folder] if folder.is_file() else sorted(folder.glob("*.csv"))
    if not files:
        raise GateError(f"test_data {folder}: no .csv file found")
    file = folder / "test.csv" if (folder / "test.csv").is_file() else files[0]
    frame = pd.read_csv(file)
    if frame.empty:
        raise GateError(f"test_data {file}: has no rows")
    return frame, file


def input_columns(model) -> list[str] | None:
    """The model signature's input column names, if it has a named signature."""
    schema = model.metadata.get_input_schema() if model.metadata else None
    if schema is None or not schema.has_input_names():
        return None
    return list(schema.input_names())


def target_column(frame, model, given: str | None, file: Path) -> str:
    if given:
        if given not in frame.columns:
            raise GateError(f"{file}: target column {given!r} not found "
                            f"(columns: {', '.join(frame.columns)})")
        return given
    inputs = input_columns(model)
    extra = [c for c in frame.columns if inputs is not None and c not in inputs]
    if len(extra) != 1:
        raise GateError(f"{file}: cannot tell the target column from the model signature "
                        f"(columns not in the signature: {extra or 'unknown'}); pass "
                        f"--target_column")
    return extra[0]


def evaluate(model, frame, target: str) -> dict[str, float]:
    columns = input_columns(model) or [c for c in frame.columns if c != target]
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise GateError(f"test data lacks the model's input column(s) {', '.join(missing)}")
    predicted = model.predict(frame[columns])
    return regression_metrics(frame[target], getattr(predicted, "values", predicted))


def champion_metric(client, model_name: str, metric: str, frame, target: str):
    """(champion version or None, its metric on this test data or None, a note)."""
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(model_name, CHAMPION_ALIAS)
    except MlflowException:
        return None, None, "no champion"
    try:
        model = mlflow.pyfunc.load_model(f"models:/{model_name}@{CHAMPION_ALIAS}")
        return version, evaluate(model, frame, target)[metric], "evaluated on the same test data"
    except Exception as exc:  # noqa: BLE001 - fall back to the metric recorded at registration
        recorded = version.tags.get(f"gate.{metric}")
        note = f"could not evaluate the champion on this data ({exc.__class__.__name__}: {exc})"
        if recorded is None:
            raise GateError(f"champion {model_name} v{version.version}: {note}, and it has no "
                            f"recorded {metric}") from exc
        return version, float(recorded), note + "; using its recorded metric"


def register(model_path: Path, run_id: str, model_name: str, decision: dict) -> str:
    """Log the candidate into this step's run, register it and move the champion alias."""
    import mlflow
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient()
    mlflow.log_artifacts(str(model_path), artifact_path="model")
    try:
        client.create_registered_model(model_name)
    except MlflowException as exc:
        if "RESOURCE_ALREADY_EXISTS" not in str(exc.error_code):
            raise
    source = f"{mlflow.get_run(run_id).info.artifact_uri.rstrip('/')}/model"
    tags = {"gate.passed": str(decision["passed"]), "gate.reason": decision["reason"],
            f"gate.{decision['metric']}": str(decision["candidate"])}
    version = client.create_model_version(model_name, source=source, run_id=run_id, tags=tags)
    client.set_registered_model_alias(model_name, CHAMPION_ALIAS, version.version)
    return str(version.version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", required=True, type=Path)
    parser.add_argument("--test_data", required=True, type=Path)
    parser.add_argument("--score_report", type=Path)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--gate_metric", default="r2")
    parser.add_argument("--gate_threshold", required=True, type=float)
    parser.add_argument("--target_column")
    parser.add_argument("--registration", required=True, type=Path)
    args = parser.parse_args(argv)

    import mlflow
    from mlflow.tracking import MlflowClient

    try:
        if args.gate_metric not in HIGHER_IS_BETTER:
            raise GateError(f"gate_metric {args.gate_metric!r} is not one of "
                            f"{', '.join(HIGHER_IS_BETTER)}")
        frame, file = read_test_data(args.test_data)
        with mlflow.start_run() as run:
            candidate_model = mlflow.pyfunc.load_model(str(args.model_path))
            target = target_column(frame, candidate_model, args.target_column, file)
            candidate = evaluate(candidate_model, frame, target)
            version, champion, note = champion_metric(MlflowClient(), args.model_name,
                                                      args.gate_metric, frame, target)
            decision = decide(args.gate_metric, args.gate_threshold,
                              candidate[args.gate_metric], champion)
            decision["champion_version"] = version.version if version else None
            decision["champion_note"] = note
            decision["candidate_metrics"] = candidate
            decision["model_name"] = args.model_name
            decision["model_version"] = (register(args.model_path, run.info.run_id,
                                                  args.model_name, decision)
                                         if decision["registered"] else None)
            mlflow.log_metrics({f"candidate_{k}": v for k, v in candidate.items()})
            if champion is not None:
                mlflow.log_metric(f"champion_{args.gate_metric}", champion)
            mlflow.set_tags({"gate.passed": decision["passed"],
                             "gate.registered": decision["registered"],
                             "gate.reason": decision["reason"]})
            mlflow.log_dict(decision, "decision.json")
    except GateError as exc:
        print(f"register: error: {exc}", file=sys.stderr)
        return 2
    args.registration.mkdir(parents=True, exist_ok=True)
    tmp = args.registration / ".decision.json.tmp"
    tmp.write_text(json.dumps(decision, indent=2))
    tmp.replace(args.registration / "decision.json")
    print(f"gate: {'PASSED' if decision['passed'] else 'FAILED'}; "
          f"{'registered ' + args.model_name + ' v' + decision['model_version'] + ' as champion' if decision['registered'] else 'not registered'}"
          f" -- {decision['reason']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
