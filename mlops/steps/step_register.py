"""register: the registry gate, the same for every model.

The candidate and the current champion are evaluated on the SAME test data with the metrics of
the model's task (tasks.py). The candidate passes when it meets the absolute threshold; it is
registered, and becomes champion (registry.py), only when it passes AND beats the champion (or
there is none). A worse model never replaces the champion. The decision is written to
<registration>/decision.json, logged to the step's MLflow run and printed. Every registered
version carries the digest of its model files (factory.model_digest), so a copy of it elsewhere
can be checked to be the same artifact.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

from factory_steps import contract, fail, modelio, write_atomic
from factory_steps import metrics as task_metrics
from factory_steps.registry import champion, champion_uri, make_champion
from factory_steps.registry_names import DIGEST_TAG, model_digest
from factory_steps.tasks import Task

DECISION_FILE = "decision.json"
MODEL_ARTIFACT = "model"  # where the candidate's files go in the step's run


class GateError(Exception):
    """Bad input to the gate (missing file, unknown metric, no target column)."""


def decide(task: Task, metric: str, threshold: float, candidate: float | None,
           champion_value: float | None) -> dict:
    """The gate decision, as a pure function of the metric values."""
    try:
        higher = task.metric(metric).higher_is_better
    except KeyError as exc:
        raise GateError(str(exc.args[0])) from None
    sign = ">=" if higher else "<="
    decision = {"passed": False, "registered": False, "metric": metric,
                "threshold": float(threshold), "candidate": candidate,
                "champion": champion_value}
    if candidate is None or math.isnan(candidate):
        decision["reason"] = f"candidate {metric} could not be computed"
        return decision
    passed = candidate >= threshold if higher else candidate <= threshold
    decision["passed"] = passed
    if not passed:
        decision["reason"] = (f"candidate {metric} {candidate:.4f} fails the threshold "
                              f"({sign} {threshold:g}); not registered")
        return decision
    if champion_value is None or math.isnan(champion_value):
        decision["registered"] = True
        decision["reason"] = (f"candidate {metric} {candidate:.4f} passes the threshold "
                              f"({sign} {threshold:g}) and there is no champion yet")
        return decision
    better = candidate > champion_value if higher else candidate < champion_value
    decision["registered"] = better
    verb = "beats" if better else "does not beat"
    decision["reason"] = (f"candidate {metric} {candidate:.4f} passes the threshold "
                          f"({sign} {threshold:g}) and {verb} the champion's "
                          f"{champion_value:.4f} on the same test data"
                          + ("" if better else "; champion kept"))
    return decision


def read_test_data(folder: Path, features: list[str], target: str):
    import pandas as pd

    folder = Path(folder)
    file = folder / "test.csv" if folder.is_dir() else folder
    if not file.is_file():
        raise GateError(f"test_data {folder}: no test.csv")
    frame = pd.read_csv(file)
    if frame.empty:
        raise GateError(f"test_data {file}: has no rows")
    missing = [c for c in [*features, target] if c not in frame.columns]
    if missing:
        raise GateError(f"test_data {file}: column {missing[0]} missing")
    return frame


def evaluate(model_uri, task: Task, frame, features: list[str], target: str) -> dict:
    estimator = modelio.load(model_uri)
    columns = modelio.input_columns(model_uri) or features
    predicted, probabilities, classes = modelio.predict_frame(estimator, task.name,
                                                              frame[columns])
    return task_metrics.compute(task, frame[target], predicted, probabilities, classes)


def champion_metric(client, model_name: str, task: Task, metric: str, frame, features, target):
    """(champion version or None, its metric on this test data or None, a note)."""
    version = champion(client, model_name)
    if version is None:
        return None, None, "no champion"
    try:
        value = evaluate(champion_uri(model_name, version), task, frame, features, target)[metric]
        return version, value, "evaluated on the same test data"
    except Exception as exc:  # noqa: BLE001 - fall back to the metric recorded at registration
        recorded = (version.tags or {}).get(f"gate.{metric}")
        note = f"could not evaluate the champion on this data ({exc.__class__.__name__}: {exc})"
        if recorded is None:
            raise GateError(f"champion {model_name} v{version.version}: {note}, and it has no "
                            f"recorded {metric}") from exc
        return version, float(recorded), note + "; using its recorded metric"


def register(client, model_path: Path, run_id: str, model_name: str, decision: dict,
             previous) -> str:
    """Log the candidate's files into this step's run, register them from there and make them
    champion. ``runs:/<run>/<path>`` is the registration source Azure ML documents
    (how-to-manage-models-mlflow, support matrix note 1); mlflow.register_model turns it into
    the run's artifact location and creates the version (plus the model, the first time)."""
    import mlflow

    mlflow.log_artifacts(str(model_path), artifact_path=MODEL_ARTIFACT)
    tags = {"gate.passed": str(decision["passed"]), "gate.reason": decision["reason"],
            f"gate.{decision['metric']}": str(decision["candidate"]),
            DIGEST_TAG: decision["model_digest"]}
    version = mlflow.register_model(f"runs:/{run_id}/{MODEL_ARTIFACT}", model_name, tags=tags)
    make_champion(client, model_name, str(version.version), previous)
    return str(version.version)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_path", required=True, type=Path)
    parser.add_argument("--test_data", required=True, type=Path)
    parser.add_argument("--score_report", type=Path)
    parser.add_argument("--model_name", required=True)
    parser.add_argument("--gate_metric", required=True)
    parser.add_argument("--gate_threshold", required=True, type=float)
    parser.add_argument("--registration", required=True, type=Path)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import mlflow
    from mlflow.tracking import MlflowClient

    task, features, target = contract()
    client = MlflowClient()
    try:
        if args.gate_metric not in task.metric_names:
            raise GateError(f"gate_metric {args.gate_metric!r} is not a {task.name} metric; "
                            f"expected one of {', '.join(task.metric_names)}")
        frame = read_test_data(args.test_data, features, target)
        with mlflow.start_run() as run:
            candidate = evaluate(args.model_path, task, frame, features, target)
            version, champion_value, note = champion_metric(
                client, args.model_name, task, args.gate_metric, frame, features, target)
            decision = decide(task, args.gate_metric, args.gate_threshold,
                              candidate[args.gate_metric], champion_value)
            decision.update(champion_version=version.version if version else None,
                            champion_note=note, candidate_metrics=candidate,
                            model_name=args.model_name, task=task.name,
                            model_digest=model_digest(args.model_path))
            decision["model_version"] = (register(client, args.model_path, run.info.run_id,
                                                  args.model_name, decision, version)
                                         if decision["registered"] else None)
            mlflow.log_metrics({f"candidate_{k}": v for k, v in candidate.items()
                                if not math.isnan(v)})
            if champion_value is not None:
                mlflow.log_metric(f"champion_{args.gate_metric}", champion_value)
            mlflow.set_tags({"gate.passed": decision["passed"],
                             "gate.registered": decision["registered"],
                             "gate.reason": decision["reason"]})
            mlflow.log_dict(decision, DECISION_FILE)
    except GateError as exc:
        return fail(f"register: {exc}")
    write_atomic(args.registration, DECISION_FILE,
                 lambda tmp: tmp.write_text(json.dumps(decision, indent=2)))
    outcome = (f"registered {args.model_name} v{decision['model_version']} as champion"
               if decision["registered"] else "not registered")
    print(f"gate: {'PASSED' if decision['passed'] else 'FAILED'}; {outcome} -- "
          f"{decision['reason']}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
