"""Registering each model's datasets as content-versioned data assets: what `nox -s
register_data` runs, and what pr_build and ci_build run themselves before their pipelines."""

from __future__ import annotations

from mlops.config import FactoryConfig
from mlops.records import DataAsset


def register_model_data(platform, config: FactoryConfig, models: list[str]) -> list[DataAsset]:
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
