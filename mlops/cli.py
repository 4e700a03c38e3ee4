"""The factory's command line: what every nox session calls. Thin: parse, load config, call
the library, translate errors into one message and an exit code."""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys
from collections.abc import Sequence

from mlops.bench import SOAK_DEFAULT
from mlops.errors import FactoryError
from mlops.records import TARGETS
from mlops.sessions import SESSIONS
from mlops.tasks import TASKS

# command -> its session (mlops/sessions.py); modules are imported only when their command
# runs, so start-up stays fast. lint and tests run their tools directly, not through the CLI.
COMMANDS = {s.command: s for s in SESSIONS if s.runner == "factory"}


class UnknownModelError(FactoryError):
    exit_code = 2


class UsageError(FactoryError):
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
    parser.add_argument("--keep", type=int, metavar="N",
                        help="cleanup: registered versions and PR experiments kept per model")
    parser.add_argument("--from", dest="source", metavar="MODEL|ENV",
                        help="new_model: copy this model's folder instead of the template; "
                             "promote: the environment to promote from")
    parser.add_argument("--to", dest="destination", metavar="ENV",
                        help="promote: the environment to promote to")
    parser.add_argument("--changed", nargs="?", const="", metavar="BASE",
                        help="act on the models a change touches: PATH_FILTERS against "
                             "`git diff BASE...HEAD` (default BASE: origin/DEVELOPMENT_BRANCH)")
    parser.add_argument("--list", action="store_true",
                        help="print the models the command would act on (JSON) and stop")
    parser.add_argument("--env", metavar="ENV",
                        help="the infrastructure environment of config/infra_config.json "
                             "(default: FACTORY_INFRA_ENV, else dev); lineage: only this one")
    parser.add_argument("--version", metavar="N",
                        help="approve, promote, lineage: this registered version (default: "
                             "the champion)")
    parser.add_argument("--soak-minutes", type=float, default=SOAK_DEFAULT, metavar="MINUTES",
                        help=f"bench: length of the serving soak run (default {SOAK_DEFAULT:g})")


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


def _changed(config, args) -> list[str]:
    from mlops.changes import changed_models, default_base

    if args.models:
        raise UsageError("give models or --changed, not both")
    base = args.changed or default_base(config)
    models, files = changed_models(config, base)
    print(f"--changed {base}: {len(files)} changed file(s); models: "
          f"{', '.join(models) or 'none'}", file=sys.stderr, flush=True)
    return models or []


def _publish_models(models: list[str]) -> None:
    """--list: the models as JSON on stdout, and as the step output `models` on GitHub."""
    text = json.dumps(models)
    print(text, flush=True)
    output = os.environ.get("GITHUB_OUTPUT")
    if output:
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(f"models={text}\n")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    session = COMMANDS[args.command]
    if args.env:  # one place decides the infrastructure environment: FACTORY_INFRA_ENV
        os.environ["FACTORY_INFRA_ENV"] = args.env
    try:
        from mlops.config import load_config

        config = load_config()
        args.only_models = bool(args.models)
        if args.changed is not None:
            args.models = _changed(config, args)
            args.only_models = True
            if not args.models and not args.list:
                print("no model is touched by this change: nothing to do", flush=True)
                return 0
        elif not session.new_names:
            args.models = select_models(args.models, config.model_names)
        if args.list:
            _publish_models(args.models)
            return 0
        return int(importlib.import_module(session.module).run(args, config) or 0)
    except FactoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
