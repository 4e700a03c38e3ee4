"""lineage: where each model's served or registered version came from, in every environment
(`-- MODEL [--env ENV] [--version N] [--json]`): data -> run and steps -> gate -> version and
digest -> approval -> promotions -> endpoints."""

from __future__ import annotations

from argparse import Namespace

from mlops.commands.approve import single_version
from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops import lineage

    version = single_version(args)
    for model in args.models:
        found = lineage.collect(config, model, args.target, env=args.env, version=version)
        print(lineage.to_json(model, args.target, found) if args.json
              else lineage.to_text(model, args.target, found), end="" if not args.json else "\n",
              flush=True)
    return 0
