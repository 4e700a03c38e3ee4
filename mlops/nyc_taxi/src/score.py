"""score: <predictions>/predictions.csv (actual, predicted) -> <score_report>/metrics.json
{r2, rmse, mae, mse}, logged to the step's run."""

import argparse
import json
import sys
from pathlib import Path

import pandas as pd
from metrics import regression_metrics
from tracking import log_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", required=True)
    parser.add_argument("--score_report", required=True)
    args = parser.parse_args(argv)
    predictions = pd.read_csv(Path(args.predictions) / "predictions.csv")
    metrics = regression_metrics(predictions["actual"], predictions["predicted"])
    folder = Path(args.score_report)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / ".metrics.json.tmp").write_text(json.dumps(metrics, indent=2) + "\n")
    (folder / ".metrics.json.tmp").replace(folder / "metrics.json")
    print("metrics: " + ", ".join(f"{k}={v:.4f}" for k, v in metrics.items()), flush=True)
    log_metrics(metrics)
    return 0


if __name__ == "__main__":
    sys.exit(main())
