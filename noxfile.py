"""Model Factory's task graph. The sessions are declared once, in mlops/sessions.py (name,
requires, default, outside prerequisites, help); each runs one `python -m mlops <command>` in
the shared factory environment (built once, see mlops/_environment.py), except lint and tests.
Positional arguments after `--` are model names and `--target local|azure`; every session of a
chain receives them."""

from __future__ import annotations

import sys
from pathlib import Path

import nox

sys.path.insert(0, str(Path(__file__).parent))
from mlops import _environment as envs  # noqa: E402  (stdlib-only module)
from mlops.sessions import SESSIONS, Session, suite_runs  # noqa: E402  (stdlib-only module)

nox.needs_version = ">=2025.2.9"
nox.options.default_venv_backend = "none"


def _python(session: nox.Session, spec: Session) -> str:
    """The shared environment's python (and the tool environments the tests use: checkov for
    the iac_scan tests, evidently for the monitoring ones), after checking the outside
    prerequisites."""
    missing = envs.missing_prerequisites(spec.tools)
    if missing:
        session.error("missing prerequisites:\n  " + "\n  ".join(missing))
    tools = (envs.CHECKOV, envs.DRIFT) if spec.runner == "tests" else ()
    try:
        return str(envs.ensure_all([envs.FACTORY, *tools], log=session.log)[0])
    except envs.EnvBuildError as exc:
        session.error(str(exc))


def _run(session: nox.Session, spec: Session) -> None:
    python = _python(session, spec)
    if spec.runner == "lint":
        session.run(python, "-m", "ruff", "check", ".", external=True)
    elif spec.runner == "tests":
        for args in suite_runs(session.posargs):
            session.run(python, "-m", "pytest", *args, env=envs.tool_environment(),
                        external=True)
    else:
        session.run(python, "-m", "mlops", spec.command, *session.posargs,
                    env=envs.tool_environment(), external=True)


def _define(spec: Session) -> None:
    def run(session: nox.Session) -> None:
        _run(session, spec)

    run.__doc__ = spec.help
    run.__name__ = spec.name
    nox.session(name=spec.name, requires=list(spec.requires), default=spec.default)(run)


for _spec in SESSIONS:
    _define(_spec)
