"""What the CI-side job commands (cancel-job, wait-job, gate) share: the Azure workspace and the
name of the Azure ML job this CI run submitted."""

from __future__ import annotations

import os
from collections.abc import Mapping

from mlops.cicd._sessions import JOB_NAME_VARIABLE
from mlops.config import FactoryConfig
from mlops.errors import FactoryError
from mlops.records import Workspace


class LocalTargetError(FactoryError):
    exit_code = 2


def workspace(config: FactoryConfig) -> Workspace:
    from mlops.infra import read_workspace

    return read_workspace(config, "azure")


def require_azure(command: str, target: str, why: str) -> None:
    if target != "azure":
        raise LocalTargetError(f"{command} acts on an Azure ML job submitted by CI (--target "
                               f"azure); {why}")


def job_name(model: str, models: list[str], environ: Mapping[str, str] | None = None
             ) -> str | None:
    """The job CI published for ``model``: AZUREML_JOB_NAME for a single model, else
    AZUREML_JOB_NAME_<model>."""
    env = os.environ if environ is None else environ
    variable = JOB_NAME_VARIABLE if len(models) == 1 else f"{JOB_NAME_VARIABLE}_{model}"
    return env.get(variable, "").strip() or None


def required_job_name(model: str, models: list[str],
                      environ: Mapping[str, str] | None = None) -> str:
    name = job_name(model, models, environ)
    if name is None:
        variable = JOB_NAME_VARIABLE if len(models) == 1 else f"{JOB_NAME_VARIABLE}_{model}"
        raise FactoryError(f"{variable} is not set: it names the Azure ML job of {model} that "
                           "`pr_build`/`ci_build -- --no-wait` submitted (CI passes it on)")
    return name
