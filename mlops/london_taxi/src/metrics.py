"""The regression metrics every step reports (the gate reads one of them by name)."""

import math

from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score


def regression_metrics(actual, predicted) -> dict:
    mse = float(mean_squared_error(actual, predicted))
    return {
        "r2": float(r2_score(actual, predicted)),
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(actual, predicted)),
        "mse": mse,
    }
