"""approve: tag each model's version for production (the seed's manual approval stage),
recording who approved it and which build: `--version N` (the version the CI gate published),
else the champion."""

from __future__ import annotations

import getpass
import os
from argparse import Namespace

from mlops.commands.deploy import DEPLOY_ENV
from mlops.config import FactoryConfig
from mlops.errors import FactoryError


class AmbiguousVersion(FactoryError):
    exit_code = 2


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


def single_version(args: Namespace) -> str | None:
    """--version, which names a version of one model only."""
    if args.version is not None and len(args.models) != 1:
        raise AmbiguousVersion(f"--version {args.version} names a version of one model; name "
                               f"that model alone (got {', '.join(args.models)})")
    return args.version


def run(args: Namespace, config: FactoryConfig) -> int:
    from mlops.naming import run_names
    from mlops.platform import get_platform

    version = single_version(args)
    platform = get_platform(args.target, config)
    who = approver()
    for model in args.models:
        entry = config.entry(model, DEPLOY_ENV)
        result = platform.approve(entry, run_names(entry), who, version)
        print(f"{model}: {result['model']} version {result['version']} tagged "
              f"stage={result['stage']} (approved_by {result['approved_by']}, build "
              f"{result['approved_build']}, at {result['approved_at']})", flush=True)
    return 0
