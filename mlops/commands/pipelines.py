"""pipelines: write .azure-pipelines/ and .github/workflows/ from config (or, with --check,
report drift and write nothing)."""

from __future__ import annotations

from argparse import Namespace

from mlops.cicd import generate
from mlops.config import FactoryConfig
from mlops.errors import FactoryError


class PipelinesDriftError(FactoryError):
    pass


def run(args: Namespace, config: FactoryConfig) -> int:
    if args.only_models:
        print("pipelines: generating for every model in config (model arguments ignored)")
    root = config.root
    if getattr(args, "check", False):
        drift = generate.diff(config, root)
        if not drift.clean:
            raise PipelinesDriftError(
                "CI files drifted from config; run `nox -s pipelines`:\n  "
                + "\n  ".join(drift.lines()))
        print(f"CI files match config ({len(generate.render_all(config))} files)")
        return 0
    drift = generate.write(config, root)
    for verb, paths in (("wrote", drift.missing), ("updated", drift.changed),
                        ("removed", drift.stale)):
        for path in paths:
            print(f"{verb:8} {path}", flush=True)
    if drift.clean:
        print("CI files already match config; nothing written")
    return 0
