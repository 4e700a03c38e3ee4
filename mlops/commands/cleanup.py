"""cleanup: remove old registered versions and PR experiments (see the platform's cleanup
module); `-- --check` only reports what it would remove."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig

DEFAULT_KEEP = 5


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.platform import get_platform

    keep = DEFAULT_KEEP if args.keep is None else args.keep
    platform = get_platform(args.target, config)
    for model in args.models:
        entries = [config.entry(model, env) for env in config.environments]
        result = platform.cleanup(entries, keep, dry_run=args.check)
        verb = "would remove" if args.check else "removed"
        print(f"{model}: {verb} {len(result.removed_versions)} model version(s) and "
              f"{len(result.removed_experiments)} PR experiment(s); kept "
              f"{len(result.kept_versions)} version(s) (champion, approved or newest {keep})",
              flush=True)
        for name, version in result.removed_versions:
            print(f"  {verb} {name} v{version}", flush=True)
        for experiment in result.removed_experiments:
            print(f"  {verb} experiment {experiment}", flush=True)
    return 0
