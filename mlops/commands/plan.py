"""plan: a saved plan per stack plus its summary (printed and written as markdown for a PR)."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.infra import plan

    plan(config, args.target)
    return 0
