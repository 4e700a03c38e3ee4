"""docs: write the generated parts of the documentation (the identity tables of docs/azure.md,
from mlops.identities); --check reports drift and writes nothing."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.infra.docs import write_docs

    stale = write_docs(config.root, check=args.check)
    for path in stale:
        print(f"{'out of date' if args.check else 'wrote'}: {path}", flush=True)
    if args.check and stale:
        print("run `nox -s docs` and commit the result", flush=True)
        return 1
    if not stale:
        print("docs: up to date", flush=True)
    return 0
