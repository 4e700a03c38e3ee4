"""check-config: the configuration loaded in the CLI already; report what it holds."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig, selected_infra_env


def run(args: Namespace, config: FactoryConfig) -> int:
    infra = config.infra_env(selected_infra_env())
    print(f"config OK: infrastructure {infra.env_name!r} (workspace {infra.workspace_name}), "
          f"{len(config.entries)} model entries")
    for model in args.models:
        envs = [env for (m, env) in config.entries if m == model]
        print(f"  {model}: environments {', '.join(sorted(envs))}")
    return 0
