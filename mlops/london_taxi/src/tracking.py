"""MLflow logging that is active only inside a pipeline step: the runner (local or Azure ML) sets
MLFLOW_RUN_ID to the step's run, and mlflow.start_run() resumes it. Run by hand, steps log nothing."""

import contextlib
import os


def step_run():
    """Context manager yielding the step's MLflow run, or None when no run is set."""
    if not os.environ.get("MLFLOW_RUN_ID"):
        return contextlib.nullcontext(None)
    import mlflow

    return mlflow.start_run()
