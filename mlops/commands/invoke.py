"""invoke: send each model's sample request to its online endpoint and print the predictions;
run its batch endpoint on the batch test data and print where the predictions went."""

from __future__ import annotations

import json
from argparse import Namespace

from mlops.commands.deploy import DEPLOY_ENV
from mlops.config import FactoryConfig


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.platform import get_platform

    platform = get_platform(args.target, config)
    results = {}
    for model in args.models:
        result = platform.invoke(config.entry(model, DEPLOY_ENV))
        results[model] = result
        if args.json:
            continue
        if "online" in result:
            online = result["online"]
            print(f"{model}: online {online['endpoint']} (version {online['model_version']}) "
                  f"predictions: {json.dumps(online['predictions'])}", flush=True)
        if "batch" in result:
            batch = result["batch"]
            print(f"{model}: batch {batch['endpoint']}: {batch['rows']} prediction rows from "
                  f"{batch['files']} file(s) -> {batch['output']}", flush=True)
            if batch.get("failed_files"):
                print(f"{model}: batch: {len(batch['failed_files'])} file(s) failed, see "
                      f"{batch['errors']}", flush=True)
    if args.json:
        print(json.dumps(results, indent=2, default=str))
    failed = any(r.get("batch", {}).get("failed_files") for r in results.values())
    return 1 if failed else 0
