"""monitor: compare each model's logged online requests and predictions with its training data
(drift by evidently); write reports/<model>_monitor_<env>.html and .json; exit 1 naming the
drifted columns when a column's drift reaches the model's DRIFT_THRESHOLD. On Azure it
configures Azure ML model monitoring (a monitor schedule with a data drift signal) instead.
A model not served online (IS_ONLINE_DEPLOYMENT false) has nothing to monitor: said, skipped."""

from __future__ import annotations

import json
import sys
from argparse import Namespace

from mlops.commands.deploy import DEPLOY_ENV
from mlops.config import FactoryConfig

DRIFT_EXIT = 1


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.config.loader import selected_infra_env
    from mlops.monitoring.drift import summary
    from mlops.naming import run_names
    from mlops.paths import reports_dir
    from mlops.platform import get_platform

    env = selected_infra_env()
    platform = get_platform(args.target, config)
    records = []
    for model in args.models:
        entry = config.entry(model, DEPLOY_ENV)
        if "online" not in entry.endpoint_kinds:
            print(f"{model}: nothing to monitor: {entry.not_served('online')}, so no online "
                  f"endpoint collects requests", flush=True)
            continue
        record = platform.monitor(entry, run_names(entry), reports_dir(config.root), env)
        records.append(record)
        if not args.json:
            print(record.detail or summary(record), flush=True)
    if args.json:
        print(json.dumps([r.to_dict() for r in records], indent=2))
    drifted = [r for r in records if r.drifted]
    for record in drifted:
        print(f"error: {record.model}: drift in {', '.join(record.drifted_columns)} "
              f"(threshold {record.threshold}); see {record.html}", file=sys.stderr)
    return DRIFT_EXIT if drifted else 0
