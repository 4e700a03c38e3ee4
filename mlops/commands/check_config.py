"""check-config: the configuration loaded in the CLI already; report what it holds."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig, selected_infra_env


def run(args: Namespace, config: FactoryConfig) -> int:
    infra = config.infra_env(selected_infra_env())
    print(f"config OK: infrastructure {infra.env_name!r} (workspace {infra.workspace_name}), "
          f"{len(config.entries)} model entries")
    if len(config.infra) > 1:
        routes = [f"{e.env_name} from {e.promote_from}" for e in config.infra.values()
                  if e.promote_from]
        print(f"  environments: {', '.join(sorted(config.infra))}"
              + (f"; promotions: {', '.join(routes)}" if routes else ""))
    for model in args.models:
        envs = [env for (m, env) in config.entries if m == model]
        print(f"  {model}: environments {', '.join(sorted(envs))}")
    return 0
