"""ci-build: each model's pipeline on environment dev with the registry gate, then deploy the
new champion and smoke-test it."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.build import ci_build

    ci_build(config, args.models, args.target, wait=not args.no_wait)
    return 0
