"""The nox sessions CI calls, as command lines. CI YAML does no work of its own: every working
step is one of these."""

from __future__ import annotations

PYTHON_VERSION = "3.11"
NODE_VERSION = "20"
# Setup, not work: the only non-nox command any generated pipeline runs.
INSTALL_NOX = 'python -m pip install "nox[uv]>=2025.2.9"'
# The pipelines act on the development environment (the seed's *_dev_pipeline, mlops_platform_dev_vg).
INFRA_ENV = "dev"
# Name of the output variable `ci_build --no-wait` publishes (see mlops.cicd.outputs).
JOB_NAME_VARIABLE = "AZUREML_JOB_NAME"


def nox_call(session: str, model: str | None = None, *extra: str) -> str:
    """`nox -s <session> -- [<model>] --target azure [extra...]`."""
    args = [*([model] if model else []), "--target", "azure", *extra]
    return f"nox -s {session} -- {' '.join(args)}"
