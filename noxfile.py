"""Model Factory's task graph. Sessions only: each runs one `python -m mlops <command>` in the
shared factory environment (built once, see mlops/_environment.py). Positional arguments after
`--` are model names and `--target local|azure`; every session of a chain receives them."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from mlops import _environment as envs  # noqa: E402  (stdlib-only module)

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "none"


def _factory(session: nox.Session, command: str, *args: str, tools: tuple[str, ...] = ()) -> None:
    """Run one factory command in the shared environment, after checking outside prerequisites."""
    missing = envs.missing_prerequisites(tools)
    if missing:
        session.error("missing prerequisites:\n  " + "\n  ".join(missing))
    try:
        python = envs.ensure(envs.FACTORY, log=session.log)
    except envs.EnvBuildError as exc:
        session.error(str(exc))
    session.run(str(python), "-m", "mlops", command, *args, *session.posargs,
                env=envs.tool_environment(), external=True)


@nox.session
def check_config(session: nox.Session) -> None:
    """Validate config/*.json and every model's configs; list all problems at once."""
    _factory(session, "check-config")


@nox.session
def lint(session: nox.Session) -> None:
    """Ruff over the factory, its models and tests."""
    python = envs.ensure(envs.FACTORY, log=session.log)
    session.run(str(python), "-m", "ruff", "check", ".", external=True)


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite: unit tests plus integration tests on the real local platform."""
    missing = envs.missing_prerequisites()
    if missing:
        session.error("missing prerequisites:\n  " + "\n  ".join(missing))
    python = envs.ensure(envs.FACTORY, log=session.log)
    envs.ensure(envs.CHECKOV, log=session.log)
    session.run(str(python), "-m", "pytest", *session.posargs, env=envs.tool_environment(),
                external=True)


@nox.session(default=False)
def bench(session: nox.Session) -> None:
    """Benchmarks; results go to docs/benchmarks.md with the command that produced them."""
    _factory(session, "bench", tools=("terraform", "node"))


@nox.session(requires=["check_config"])
def synth(session: nox.Session) -> None:
    """Synthesise the stacks of --target (local default) to .factory/cdktf.out; skipped when unchanged."""
    _factory(session, "synth", tools=("terraform", "node"))


@nox.session(requires=["synth"], default=False)
def plan(session: nox.Session) -> None:
    """Save a Terraform plan; print its summary and write it as markdown for a PR comment."""
    _factory(session, "plan", tools=("terraform", "node"))


@nox.session(default=False)
def apply(session: nox.Session) -> None:
    """Apply the saved plan only (never an unreviewed one)."""
    _factory(session, "apply", tools=("terraform", "node"))


@nox.session(requires=["plan"], default=False)
def provision(session: nox.Session) -> None:
    """Provision the workspace: apply the plan just made; a no-op when nothing changed."""
    _factory(session, "provision", tools=("terraform", "node"))


@nox.session(default=False)
def destroy(session: nox.Session) -> None:
    """Destroy the stacks; local archives the workspace first (-- --delete-data deletes it)."""
    _factory(session, "destroy", tools=("terraform", "node"))


@nox.session
def iac_scan(session: nox.Session) -> None:
    """checkov over the synthesised Azure stacks and CI YAML; every suppression has a reason."""
    _factory(session, "iac-scan", tools=("node",))


@nox.session(default=False)
def pipelines(session: nox.Session) -> None:
    """Write the Azure DevOps and GitHub Actions YAML from config (`-- --check`: report drift)."""
    _factory(session, "pipelines")


@nox.session(default=False)
def cancel_job(session: nox.Session) -> None:
    """Cancel the Azure ML job of a cancelled CI run (CI calls it; AZUREML_JOB_NAME optional)."""
    _factory(session, "cancel-job")


@nox.session(default=False)
def wait_job(session: nox.Session) -> None:
    """Wait one bounded slice for the CI's Azure ML job (AZUREML_JOB_NAME); GitHub repeats it."""
    _factory(session, "wait-job", tools=("terraform",))


@nox.session(default=False)
def gate(session: nox.Session) -> None:
    """Read the CI's finished Azure ML job's gate decision, fail if unmet, publish it for approval."""
    _factory(session, "gate", tools=("terraform",))


@nox.session(requires=["provision"], default=False)
def register_data(session: nox.Session) -> None:
    """Register each model's datasets as data assets versioned by content (generates empty ones)."""
    _factory(session, "register-data", tools=("terraform", "node"))


@nox.session(requires=["register_data"], default=False)
def pr_build(session: nox.Session) -> None:
    """Lint and unit tests of each model, then its pipeline on env pr; fails when the gate fails."""
    _factory(session, "pr-build", tools=("terraform", "node"))


@nox.session(requires=["register_data"], default=False)
def ci_build(session: nox.Session) -> None:
    """Pipeline on env dev, gated registration, then deploy and smoke-test the new champion."""
    _factory(session, "ci-build", tools=("terraform", "node"))


@nox.session(requires=["provision"], default=False)
def deploy(session: nox.Session) -> None:
    """Deploy each model's champion to its batch and online endpoints (blue/green, smoke-tested)."""
    _factory(session, "deploy", tools=("terraform", "node"))


@nox.session(default=False)
def undeploy(session: nox.Session) -> None:
    """Stop and remove each model's endpoints and their processes; says what it removed."""
    _factory(session, "undeploy", tools=("terraform", "node"))


@nox.session(default=False)
def invoke(session: nox.Session) -> None:
    """Send each model's sample request to its online endpoint; run its batch endpoint."""
    _factory(session, "invoke", tools=("terraform", "node"))


@nox.session(default=False)
def endpoints(session: nox.Session) -> None:
    """List endpoints: name, kind, model, version, scoring URI, status (-- --json, --show-keys)."""
    _factory(session, "endpoints", tools=("terraform", "node"))


@nox.session(default=False)
def approve(session: nox.Session) -> None:
    """Tag each model's champion version for production, recording approver and build."""
    _factory(session, "approve", tools=("terraform", "node"))
