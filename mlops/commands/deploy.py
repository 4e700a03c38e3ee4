"""deploy: serve each model's champion (MODEL_NAME on env dev) on its batch and online
endpoints; a redeploy of a new version swaps blue/green without failed requests."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import DEPLOY_ENVIRONMENT, FactoryConfig

DEPLOY_ENV = DEPLOY_ENVIRONMENT  # the champion lives on the dev environment's MODEL_NAME


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.naming import run_names
    from mlops.platform import get_platform

    platform = get_platform(args.target, config)
    for model in args.models:
        entry = config.entry(model, DEPLOY_ENV)
        print(f"{model}: deploying", flush=True)
        for info in platform.deploy(entry, run_names(entry)):
            print(f"  {info.kind:<6} {info.name}: version {info.model_version}, {info.status}, "
                  f"{info.scoring_uri}", flush=True)
    return 0
