"""bootstrap: create once what the pipelines cannot create for themselves (state storage, the
infrastructure pipeline's identity and service connection), then the first apply. local needs
nothing: its sessions provision on demand."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    if args.target != "azure":
        print("bootstrap local: nothing to do; every local session provisions the workspace on "
              "demand (`nox -s ci_build` from a fresh clone does everything)", flush=True)
        return 0
    from mlops.infra.bootstrap import bootstrap

    bootstrap(config)
    return 0
