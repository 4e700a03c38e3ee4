"""provision: synth -> plan -> apply; a no-op when nothing changed."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.infra import provision

    provision(config, args.target)
    return 0
