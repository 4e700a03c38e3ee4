"""synth: write the target's stacks to .factory/cdktf.out (skipped when the inputs are unchanged)."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.infra import synth

    for line in synth(config, args.target).lines():
        print(line, flush=True)
    return 0
