"""undeploy: stop and remove each model's endpoints (and their processes); says what went."""

from __future__ import annotations

from argparse import Namespace

from mlops.commands.deploy import DEPLOY_ENV
from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.platform import get_platform

    platform = get_platform(args.target, config)
    for model in args.models:
        removed = platform.undeploy(config.entry(model, DEPLOY_ENV))
        if not removed:
            print(f"{model}: no endpoint deployed, nothing removed", flush=True)
        for line in removed:
            print(f"{model}: removed {line}", flush=True)
    return 0
