"""wait-job: wait one bounded slice (WAIT_SLICE_MINUTES) for the Azure ML job CI submitted.

GitHub Actions has no agentless wait and its Azure login cannot be renewed in place, so its
workflows call this repeatedly, each call after a fresh azure/login. It publishes FINISHED
("true" once the job has ended) so later slices are skipped; a job that ended without
completing fails here, naming the failed step."""

from __future__ import annotations

import time
from argparse import Namespace

from mlops.cicd._sessions import FINISHED_VARIABLE, INFRA_ENV, WAIT_SLICE_MINUTES
from mlops.commands import _azure_job
from mlops.config import FactoryConfig
from mlops.errors import FactoryError

# Time as the command sees it (tests replace both).
_clock = time.monotonic
_sleep = time.sleep


class JobDidNotComplete(FactoryError):
    """The Azure ML job ended failed or cancelled."""


def run(args: Namespace, config: FactoryConfig) -> int:
    _azure_job.require_azure("wait-job", args.target, "local pipeline runs finish inside "
                             "their nox session")
    from mlops.cicd.outputs import publish
    from mlops.platform.azure import pipeline

    workspace = _azure_job.workspace(config)
    deadline = _clock() + WAIT_SLICE_MINUTES * 60  # one slice for all models, one login
    finished = True
    for model in args.models:
        job_name = _azure_job.required_job_name(model, args.models)
        entry = config.entry(model, INFRA_ENV)
        status = pipeline.wait_slice(workspace, entry, job_name, seconds=deadline - _clock(),
                                     sleep=_sleep, clock=_clock)
        if status is None:
            finished = False
        elif status != "completed":
            publish({FINISHED_VARIABLE: "true"})
            result = pipeline.finished_job(workspace, entry, job_name)
            raise JobDidNotComplete(pipeline.failure(result))
    publish({FINISHED_VARIABLE: "true" if finished else "false"})
    return 0
