"""apply: apply the saved plan, and only that (refuses a missing or stale plan)."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.infra import apply

    apply(config, args.target)
    return 0
