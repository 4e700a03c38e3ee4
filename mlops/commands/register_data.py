"""register-data: register each model's datasets (pr, training, batch test) as data assets,
versioned by content; an empty DATA_PATH folder is filled by the model's generator first."""

from __future__ import annotations

from argparse import Namespace

from mlops.config import FactoryConfig


def register_model_data(platform, config: FactoryConfig, models: list[str]) -> list:
    """Register the data of every (model, env) entry once per dataset name."""
    seen: set[str] = set()
    assets = []
    for model in models:
        print(f"{model}: registering data assets", flush=True)
        entries = [e for (m, _), e in config.entries.items() if m == model]
        for entry in entries:
            if entry.data.file in seen:
                continue
            seen.add(entry.data.file)
            for asset in platform.register_data(entry):
                state = "registered" if asset.created else "unchanged"
                print(f"  {asset.name}: version {asset.version} ({state}, {asset.purpose}) "
                      f"-> {asset.uri}", flush=True)
                assets.append(asset)
    return assets


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.platform import get_platform

    register_model_data(get_platform(args.target, config), config, args.models)
    return 0
