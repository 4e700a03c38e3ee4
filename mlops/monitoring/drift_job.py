"""Drift of production data against a reference, with evidently; run as a script by the drift
environment's python (mlops/_environment.py DRIFT: evidently needs pandas < 3, the factory runs
pandas 3), so it imports nothing of the factory:

    python drift_job.py --reference ref.csv --current cur.csv --spec spec.json
                        --html report.html --json result.json

spec.json: {"numerical": [...], "categorical": [...], "threshold": 0.1, "title": "..."}.
Numerical columns are compared with the normalised Wasserstein distance, categorical ones with
the Jensen-Shannon distance; a column drifts when its distance reaches the threshold (the same
metrics Azure ML's data drift signal offers, see mlops/platform/azure/monitoring.py).
result.json: {"columns": {name: {"kind", "method", "score", "threshold", "drifted"}}}.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys

NUMERICAL_METHOD = "wasserstein"  # evidently: Wasserstein distance normed by the reference's std
CATEGORICAL_METHOD = "jensenshannon"


def _values(node):
    """Every dict nested in ``node`` (the snapshot is a tree of lists and dicts)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _values(value)
    elif isinstance(node, list):
        for value in node:
            yield from _values(value)


def column_scores(snapshot: dict, columns: list[str]) -> dict[str, float]:
    """column -> its ValueDrift score, from the snapshot's metric results."""
    scores: dict[str, float] = {}
    for item in _values(snapshot.get("metrics", [])):
        config = item.get("config") or {}
        if not str(config.get("type", "")).endswith("ValueDrift"):
            continue
        column = config.get("column")
        value = item.get("value")
        if column in columns and isinstance(value, int | float):
            scores[column] = float(value)
    return scores


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    for name in ("reference", "current", "spec", "html", "json"):
        parser.add_argument(f"--{name}", required=True)
    args = parser.parse_args(argv)
    os.environ.setdefault("DO_NOT_TRACK", "1")  # evidently's telemetry: never from here
    import pandas as pd
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    with open(args.spec, encoding="utf-8") as handle:
        spec = json.load(handle)
    numerical, categorical = list(spec["numerical"]), list(spec["categorical"])
    columns = numerical + categorical
    threshold = float(spec["threshold"])
    definition = DataDefinition(numerical_columns=numerical, categorical_columns=categorical)
    frames = {}
    for name in ("reference", "current"):
        frame = pd.read_csv(getattr(args, name))
        frames[name] = Dataset.from_pandas(frame[columns], data_definition=definition)
    # the factory's rule: one drifted column is drift (the report's headline says so too)
    report = Report([DataDriftPreset(columns=columns, num_method=NUMERICAL_METHOD,
                                     cat_method=CATEGORICAL_METHOD, threshold=threshold,
                                     drift_share=1.0 / len(columns))])
    snapshot = report.run(frames["current"], frames["reference"], name=spec.get("title"))
    snapshot.save_html(args.html)
    scores = column_scores(snapshot.dict(), columns)
    missing = [c for c in columns if c not in scores]
    if missing:
        print(f"error: evidently reported no drift score for {', '.join(missing)}",
              file=sys.stderr)
        return 3
    result = {"columns": {}}
    for column in columns:
        kind = "numerical" if column in numerical else "categorical"
        score = scores[column]
        result["columns"][column] = {
            "kind": kind, "score": None if math.isnan(score) else round(score, 6),
            "method": NUMERICAL_METHOD if kind == "numerical" else CATEGORICAL_METHOD,
            "threshold": threshold, "drifted": bool(score >= threshold)}
    with open(args.json, "w", encoding="utf-8") as handle:
        json.dump(result, handle, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
