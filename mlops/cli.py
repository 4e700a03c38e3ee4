"""The factory's command line: what every nox session calls. Thin: parse, load config, call
the library, translate errors into one message and an exit code."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mlops.errors import FactoryError
from mlops.records import TARGETS
from mlops.sessions import SESSIONS
from mlops.tasks import TASKS

# command -> its session (mlops/sessions.py); modules are imported only when their command
# runs, so start-up stays fast. lint and tests run their tools directly, not through the CLI.
COMMANDS = {s.command: s for s in SESSIONS if s.runner == "factory"}


class UnknownModelError(FactoryError):
    exit_code = 2


def default_target() -> str:
    return os.environ.get("FACTORY_TARGET", "local")


def _common_options(parser: argparse.ArgumentParser) -> None:
    """Options every command accepts: nox hands the same posargs to every session of a chain."""
    parser.add_argument("models", nargs="*", metavar="MODEL",
                        help="models to act on (default: every model in config/model_config.json)")
    parser.add_argument("--target", choices=TARGETS, default=default_target(),
                        help="platform: local (default, or FACTORY_TARGET) or azure")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    parser.add_argument("--show-keys", action="store_true", help="include endpoint keys")
    parser.add_argument("--no-wait", action="store_true",
                        help="submit cloud jobs and return at once with their names")
    parser.add_argument("--delete-data", action="store_true",
                        help="destroy: delete the workspace's models, data and runs too")
    parser.add_argument("--check", action="store_true",
                        help="pipelines, docs: report drift, write nothing")
    parser.add_argument("--only", action="append", metavar="AREA",
                        help="bench: run only this area (repeatable)")
    parser.add_argument("--task", choices=TASKS, help="new_model: the model's task")
    parser.add_argument("--from", dest="source", metavar="MODEL|ENV",
                        help="new_model: copy this model's folder instead of the template; "
                             "promote: the environment to promote from")
    parser.add_argument("--to", dest="destination", metavar="ENV",
                        help="promote: the environment to promote to")
    parser.add_argument("--env", metavar="ENV",
                        help="the infrastructure environment of config/infra_config.json "
                             "(default: FACTORY_INFRA_ENV, else dev); lineage: only this one")
    parser.add_argument("--version", metavar="N",
                        help="approve, promote, lineage: this registered version (default: "
                             "the champion)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, session in COMMANDS.items():
        _common_options(sub.add_parser(name, help=session.help, description=session.help))
    return parser


def select_models(requested: Sequence[str], known: Sequence[str]) -> list[str]:
    """The requested models in config order, or all; an unknown name fails naming the known ones."""
    unknown = [m for m in requested if m not in known]
    if unknown:
        raise UnknownModelError(
            f"unknown model{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}; "
            f"known models: {', '.join(known)}")
    return list(dict.fromkeys(requested)) or list(known)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    session = COMMANDS[args.command]
    if args.env:  # one place decides the infrastructure environment: FACTORY_INFRA_ENV
        os.environ["FACTORY_INFRA_ENV"] = args.env
    try:
        from mlops.config import load_config

        config = load_config()
        args.only_models = bool(args.models)
        if not session.new_names:
            args.models = select_models(args.models, config.model_names)
        return int(importlib.import_module(session.module).run(args, config) or 0)
    except FactoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
