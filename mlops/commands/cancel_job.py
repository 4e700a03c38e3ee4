"""cancel-job: cancel the Azure ML training job of a cancelled CI run (see mlops.cicd.cancel)."""

from __future__ import annotations

import os
from argparse import Namespace

from mlops.cicd._sessions import INFRA_ENV, JOB_NAME_VARIABLE
from mlops.config import FactoryConfig
from mlops.naming import run_names


def _client(config: FactoryConfig):
    from mlops.infra import read_workspace
    from mlops.platform.azure.client import connect

    return connect(read_workspace(config, "azure"))


def run(args: Namespace, config: FactoryConfig) -> int:
    if args.target != "azure":
        print("cancel-job: local pipeline runs stop with their nox session; nothing to cancel",
              flush=True)
        return 0
    from mlops.cicd.cancel import cancel_jobs

    client = _client(config)
    job_name = os.environ.get(JOB_NAME_VARIABLE, "").strip() or None
    for model in args.models:
        names = run_names(config.entry(model, INFRA_ENV))
        named = job_name if len(args.models) == 1 else \
            os.environ.get(f"{JOB_NAME_VARIABLE}_{model}", "").strip() or None
        cancelled = cancel_jobs(client, names, named, log=lambda m: print(m, flush=True))
        print(f"{model}: cancelled {len(cancelled)} Azure ML job(s)", flush=True)
    return 0
