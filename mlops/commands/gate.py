"""gate: after CI's wait, read the finished Azure ML job's gate decision, fail the run when the
build's rule is not met (see mlops.cicd.gate) and publish the run's metadata for the approval."""

from __future__ import annotations

from argparse import Namespace

from mlops.cicd._sessions import INFRA_ENV
from mlops.commands import _azure_job
from mlops.config import FactoryConfig
from mlops.errors import FactoryError


class GateFailed(FactoryError):
    """The candidate did not meet the build's gate, or the job did not complete."""


def run(args: Namespace, config: FactoryConfig) -> int:
    _azure_job.require_azure("gate", args.target, "local builds apply the gate in-process "
                             "(pr_build and ci_build fail when it fails)")
    from mlops.cicd import gate, outputs
    from mlops.platform.azure import pipeline

    workspace = _azure_job.workspace(config)
    refused = []
    for model in args.models:
        job_name = _azure_job.required_job_name(model, args.models)
        # The pipeline YAML (and so the step names) is the model's, whatever the environment.
        result = pipeline.finished_job(workspace, config.entry(model, INFRA_ENV), job_name)
        failure = "" if result.status == "completed" else pipeline.failure(result)
        decided = gate.verdict(result, failure)
        outputs.publish(gate.published(result))
        outputs.summary(gate.markdown(result, decided), f"{model}_gate")
        print(decided.message, flush=True)
        if not decided.ok:
            refused.append(decided.message)
    if refused:
        raise GateFailed("\n".join(refused))
    return 0
