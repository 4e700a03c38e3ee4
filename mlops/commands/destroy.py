"""destroy: tear the target's stacks down; local archives the workspace first unless
--delete-data, and says which it did."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.infra import destroy

    destroy(config, args.target, delete_data=args.delete_data)
    return 0
