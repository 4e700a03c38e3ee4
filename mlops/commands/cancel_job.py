"""cancel-job: cancel the Azure ML training job of a cancelled CI run (see mlops.cicd.cancel)."""

from __future__ import annotations

from argparse import Namespace

from mlops.cicd._sessions import INFRA_ENV
from mlops.commands import _azure_job
from mlops.config import FactoryConfig
from mlops.naming import run_names


def _client(config: FactoryConfig):
    from mlops.platform.azure.client import connect

    return connect(_azure_job.workspace(config))


def run(args: Namespace, config: FactoryConfig) -> int:
    if args.target != "azure":
        print("cancel-job: local pipeline runs stop with their nox session; nothing to cancel",
              flush=True)
        return 0
    from mlops.cicd.cancel import cancel_jobs

    client = _client(config)
    for model in args.models:
        named = _azure_job.job_name(model, args.models)
        cancelled = []
        # Without a published name, look for this build's jobs under every environment's names
        # (a PR build submits on pr, a CI build on dev).
        envs = [INFRA_ENV] if named else [env for env in config.environments
                                          if (model, env) in config.entries]
        for env in envs:
            names = run_names(config.entry(model, env))
            cancelled += cancel_jobs(client, names, named, log=lambda m: print(m, flush=True))
        print(f"{model}: cancelled {len(cancelled)} Azure ML job(s)", flush=True)
    return 0
