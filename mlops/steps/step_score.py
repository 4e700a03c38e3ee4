"""score: <predictions>/predictions.csv -> <score_report>/metrics.json with the metrics of the
model's task (tasks.py), logged to the step's run."""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from factory_steps import contract, metrics, write_atomic
from factory_steps.tracking import log_metrics

METRICS_FILE = "metrics.json"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--score_report", required=True)
    args = parser.parse_args(argv)
    task, _, _ = contract()
    scores = metrics.from_predictions(task, pd.read_csv(Path(args.predictions) / "predictions.csv"))
    report = {**scores, "task": task.name}
    write_atomic(Path(args.score_report), METRICS_FILE,
                 lambda tmp: tmp.write_text(json.dumps(report, indent=2) + "\n"))
    print("metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in scores.items()), flush=True)
    log_metrics(scores)
    return 0


if __name__ == "__main__":
    sys.exit(main())
