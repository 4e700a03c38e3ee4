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
nox.options.sessions = ["check_config", "lint", "tests"]


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
