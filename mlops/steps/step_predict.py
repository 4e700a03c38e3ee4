"""predict: score <test_data>/test.csv with the MLflow model in --model_input; write
<predictions>/predictions.csv: the features, actual, predicted, and for classifiers one
probability_<class> column per class."""

import argparse
import sys
from pathlib import Path

import pandas as pd
from factory_steps import contract, metrics, modelio, write_atomic
from factory_steps.tracking import log_metrics


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model_input", required=True)
    parser.add_argument("--test_data", required=True)
    parser.add_argument("--predictions", required=True)
    args = parser.parse_args(argv)
    task, features, target = contract()
    estimator = modelio.load(args.model_input)
    test = pd.read_csv(Path(args.test_data) / "test.csv")
    predicted, probabilities, classes = modelio.predict_frame(estimator, task.name, test[features])
    out = test[features].assign(actual=test[target], predicted=predicted)
    for index, label in enumerate(classes or []):
        out[metrics.probability_column(label)] = probabilities[:, index]
    target_file = write_atomic(Path(args.predictions), "predictions.csv",
                               lambda tmp: out.to_csv(tmp, index=False))
    print(f"wrote {target_file}: {len(out)} rows", flush=True)
    log_metrics({"rows": len(out)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
