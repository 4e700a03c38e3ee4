"""pr-build: lint + unit tests of each model, then its pipeline on environment pr."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.build import pr_build

    pr_build(config, args.models, args.target, wait=not args.no_wait)
    return 0
