"""predict: score <test_data>/test.csv with the MLflow model in --model_input; write
<predictions>/predictions.csv with columns actual, predicted (plus the features)."""

import argparse
import sys
from pathlib import Path

import mlflow.pyfunc
import pandas as pd
from schema import FEATURES, TARGET
from tracking import log_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_input", required=True)
    parser.add_argument("--test_data", required=True)
    parser.add_argument("--predictions", required=True)
    args = parser.parse_args(argv)
    model = mlflow.pyfunc.load_model(args.model_input)
    test = pd.read_csv(Path(args.test_data) / "test.csv")
    predicted = model.predict(test[FEATURES])
    out = test[FEATURES].assign(actual=test[TARGET], predicted=predicted)
    folder = Path(args.predictions)
    folder.mkdir(parents=True, exist_ok=True)
    out.to_csv(folder / ".predictions.csv.tmp", index=False)
    (folder / ".predictions.csv.tmp").replace(folder / "predictions.csv")
    print(f"wrote {folder / 'predictions.csv'}: {len(out)} rows", flush=True)
    log_metrics({"rows": len(out)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
