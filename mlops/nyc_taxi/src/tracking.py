"""MLflow logging that is active only inside a pipeline step; run by hand, steps log nothing.

Azure ML (and any MLflow runner) sets MLFLOW_RUN_ID to the step's run and mlflow.start_run()
resumes it. The local runner also sets FACTORY_STEP_METRICS, a file it records into the step's
run when the step ends: a step that only reports a few numbers then skips importing MLflow and
opening its store (about 2 s per step)."""

import contextlib
import json
import os


def step_run():
    """Context manager yielding the step's MLflow run, or None when no run is set."""
    if not os.environ.get("MLFLOW_RUN_ID"):
        return contextlib.nullcontext(None)
    import mlflow

    return mlflow.start_run()


def log_metrics(metrics: dict) -> None:
    """Record numeric metrics in the step's run (see the module docstring for how)."""
    values = {str(k): float(v) for k, v in metrics.items()}
    handoff = os.environ.get("FACTORY_STEP_METRICS")
    if handoff:
        with open(handoff, "a", encoding="utf-8") as out:
            out.write(json.dumps(values) + "\n")
        return
    with step_run() as run:
        if run is not None:
            import mlflow

            mlflow.log_metrics(values)
