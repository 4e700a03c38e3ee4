"""The factory's command line: what every nox session calls. Thin: parse, load config, call
the library, translate errors into one message and an exit code."""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from mlops.bench import SOAK_DEFAULT
from mlops.errors import FactoryError
from mlops.records import TARGETS

# command -> (one-line help, "module:function"). The function takes (args, config) and returns
# an exit code. Modules are imported only when their command runs, so start-up stays fast.
COMMANDS: dict[str, tuple[str, str]] = {
    "check-config": ("Validate config/*.json and every model's configs.",
                     "mlops.commands.check_config:run"),
    "bench": ("Run benchmarks and write docs/benchmarks.md.", "mlops.commands.bench:run"),
    "register-data": ("Register each model's datasets as content-versioned data assets.",
                      "mlops.commands.register_data:run"),
    "pr-build": ("Lint + unit tests of each model, then its pipeline on env pr (gated).",
                 "mlops.commands.pr_build:run"),
    "ci-build": ("Pipeline on env dev, gated register, deploy and smoke-test.",
                 "mlops.commands.ci_build:run"),
    "synth": ("Synthesise the target's stacks (skipped when inputs are unchanged).",
              "mlops.commands.synth:run"),
    "plan": ("Save a Terraform plan and print/write its summary.", "mlops.commands.plan:run"),
    "apply": ("Apply the saved plan only.", "mlops.commands.apply:run"),
    "provision": ("synth -> plan -> apply; no-op when nothing changed.",
                  "mlops.commands.provision:run"),
    "destroy": ("Destroy the target's stacks (local: archives the workspace first).",
                "mlops.commands.destroy:run"),
    "pipelines": ("Write .azure-pipelines/ and .github/workflows/ from config (--check: report drift).",
                  "mlops.commands.pipelines:run"),
    "cancel-job": ("Cancel the Azure ML job of a cancelled CI run.", "mlops.commands.cancel_job:run"),
    "iac-scan": ("checkov over the synthesised Azure stacks and CI YAML.",
                 "mlops.commands.iac_scan:run"),
    "deploy": ("Deploy each model's champion to its batch and online endpoints (blue/green).",
               "mlops.commands.deploy:run"),
    "undeploy": ("Stop and remove each model's endpoints.", "mlops.commands.undeploy:run"),
    "invoke": ("Send the sample request to the online endpoint; run the batch endpoint.",
               "mlops.commands.invoke:run"),
    "endpoints": ("List endpoints (--json, --show-keys).", "mlops.commands.endpoints:run"),
    "approve": ("Tag each model's champion version for production.",
                "mlops.commands.approve:run"),
}


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
                        help="pipelines: report drift from config, write nothing")
    parser.add_argument("--only", action="append", metavar="AREA",
                        help="bench: run only this area (repeatable)")
    parser.add_argument("--soak-minutes", type=float, default=SOAK_DEFAULT, metavar="MINUTES",
                        help=f"bench: length of the serving soak run (default {SOAK_DEFAULT:g})")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m mlops", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, (help_text, _) in COMMANDS.items():
        _common_options(sub.add_parser(name, help=help_text, description=help_text))
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
    module_name, func_name = COMMANDS[args.command][1].split(":")
    try:
        from mlops.config import load_config

        config = load_config()
        args.only_models = bool(args.models)
        args.models = select_models(args.models, config.model_names)
        handler = getattr(importlib.import_module(module_name), func_name)
        return int(handler(args, config) or 0)
    except FactoryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
