"""approve: tag each model's champion version for production (the seed's manual approval
stage), recording who approved it and which build."""

from __future__ import annotations

import getpass
import os
from argparse import Namespace

from mlops.commands.deploy import DEPLOY_ENV
from mlops.config import FactoryConfig


def approver(environ=None) -> str:
    """Who approves: the CI's requesting user (Azure DevOps, GitHub), else the local user."""
    env = os.environ if environ is None else environ
    for var in ("BUILD_REQUESTEDFOR", "GITHUB_ACTOR"):
        if env.get(var, "").strip():
            return env[var].strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.naming import run_names
    from mlops.platform import get_platform

    platform = get_platform(args.target, config)
    who = approver()
    for model in args.models:
        entry = config.entry(model, DEPLOY_ENV)
        result = platform.approve(entry, run_names(entry), who)
        print(f"{model}: {result['model']} version {result['version']} tagged "
              f"stage={result['stage']} (approved_by {result['approved_by']}, build "
              f"{result['approved_build']}, at {result['approved_at']})", flush=True)
    return 0
