"""MLflow logging that is active only inside a pipeline step; run by hand, steps log nothing.

Azure ML (and any MLflow runner) sets MLFLOW_RUN_ID to the step's run and mlflow.start_run()
resumes it. The local runner also sets FACTORY_STEP_METRICS, a file it records into the step's
run when the step ends: a step that only reports a few numbers then skips importing MLflow and
opening its store (about 2 s per step).

Azure ML's MLflow server implements only part of MLflow 3's REST API, so every step keeps to
what it documents: resuming the job's run and logging params, metrics and tags to it (runs
get/update/log-batch/log-metric), artifacts (log_artifact(s), log_dict: azureml-mlflow's own
artifact repository), and the registry calls registered-models create/get and model-versions
create/get/get-download-uri/set-tag/delete-tag. Never mlflow.<flavor>.log_model (it calls the
logged-models API, 404 on Azure ML), registry aliases, model-version search or the /api/3.0
endpoints: where the local platform uses one of those, the step asks ``azureml_mode()`` first
(registry.py). The endpoint list with its sources, and the stand-in server that enforces it,
are in tests/integration/test_azureml_mlflow.py; docs/azure.md says why.
"""

from __future__ import annotations

import contextlib
import json
import os

AZUREML_URI_PREFIX = "azureml://"
# Set by the factory's tests to run a step in Azure mode against a stand-in server.
FORCE_AZUREML_ENV = "FACTORY_AZUREML_MLFLOW"


def azureml_mode() -> bool:
    """True when the tracking server is Azure ML's (the workspace's azureml:// URI)."""
    if os.environ.get(FORCE_AZUREML_ENV) == "1":
        return True
    return os.environ.get("MLFLOW_TRACKING_URI", "").startswith(AZUREML_URI_PREFIX)


# Read once: MLflow removes MLFLOW_RUN_ID from the environment when that run ends, so a step
# that resumes its run twice (metrics, then params) would start a stray new run the 2nd time.
_RUN_ID = os.environ.get("MLFLOW_RUN_ID")


def step_run():
    """Context manager yielding the step's MLflow run, or None when no run is set."""
    if not _RUN_ID:
        return contextlib.nullcontext(None)
    import mlflow

    return mlflow.start_run(run_id=_RUN_ID)


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
