"""Cancel the Azure ML job a cancelled CI run left behind.

ci_build cancels its job when interrupted while it runs, but cancelling an Azure DevOps run
during the agentless AzureMLJobWaitTask reaches no process of ours, and a CI runner may kill a
step before its handler finishes. The CI YAML therefore runs `nox -s cancel_job` when a run is
cancelled. The job is found by the name
`ci_build --no-wait` published (AZUREML_JOB_NAME), else as the active jobs whose experiment and
display name are this build's (naming.run_names: the display name carries the build id).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlops.naming import RunNames

# Azure ML job states that are not final (JobStatus in azure-ai-ml).
ACTIVE_STATES = frozenset({"NotStarted", "Queued", "Preparing", "Provisioning", "Starting",
                           "Running", "Finalizing", "Paused", "NotResponding"})


def _active_for_build(client: Any, names: RunNames) -> list[str]:
    return [job.name for job in client.jobs.list()
            if getattr(job, "experiment_name", None) == names.experiment_name
            and getattr(job, "display_name", None) == names.display_name
            and getattr(job, "status", None) in ACTIVE_STATES]


def cancel_jobs(client: Any, names: RunNames, job_name: str | None = None,
                log: Callable[[str], None] = print) -> list[str]:
    """Cancel the named job, or this build's active jobs; returns the names cancelled."""
    if job_name:
        status = client.jobs.get(job_name).status
        if status not in ACTIVE_STATES:
            log(f"Azure ML job {job_name} is already {status}; nothing to cancel")
            return []
        targets = [job_name]
    else:
        targets = _active_for_build(client, names)
        if not targets:
            log(f"no active Azure ML job in experiment {names.experiment_name} with display name "
                f"{names.display_name}; nothing to cancel")
            return []
    for name in targets:
        log(f"cancelling Azure ML job {name}")
        client.jobs.begin_cancel(name).result()
    return targets
