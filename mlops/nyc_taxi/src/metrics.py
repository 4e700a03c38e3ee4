"""The regression metrics every step reports (the gate reads one of them by name). Plain numpy,
same definitions as scikit-learn's: score runs without importing sklearn."""

import math

import numpy as np


def regression_metrics(actual, predicted) -> dict:
    actual = np.asarray(actual, dtype=float)
    predicted = np.asarray(predicted, dtype=float)
    error = actual - predicted
    mse = float(np.mean(error**2))
    total = float(np.sum((actual - actual.mean()) ** 2))
    r2 = 1.0 - float(np.sum(error**2)) / total if total > 0 else float("nan")
    return {"r2": r2, "rmse": math.sqrt(mse), "mae": float(np.mean(np.abs(error))), "mse": mse}
