"""Timeouts and limits of the local serving stack, one home for each. The front's limits can be
set per endpoint in the model's realtime config (ENVIRONMENT_VARIABLES, names in EndpointLimits.ENV).

Stdlib only: the front and the keeper import it and must start fast."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, fields

# Deployments
READY_TIMEOUT_S = 180.0  # a deployment's init() (the model load) until it answers
FRONT_READY_TIMEOUT_S = 60.0  # a front (or its keeper) until the front answers
DRAIN_TIMEOUT_S = 60.0  # requests still running on the old deployment after a switch
UPSTREAM_WAIT_S = 90.0  # how long the front holds a request while its deployment restarts
SCORING_TIMEOUT_S = 120.0  # one request to the deployment (504 after)
SUPERVISE_EVERY_S = 0.5  # how often the keeper and the front look at each other
MAX_RESTART_ATTEMPTS = 3  # a deployment that fails this often in a row: endpoint unhealthy
RESPAWN_BACKOFF_MAX_S = 10.0  # a front or keeper that keeps dying is restarted this slowly

# Registry locks: the record lock is held for a read-modify-write (milliseconds); the deploy
# lock for a whole deploy (two deployment starts, a drain and smoke tests).
RECORD_LOCK_TIMEOUT_S = 30.0
DEPLOY_LOCK_TIMEOUT_S = 2 * READY_TIMEOUT_S + DRAIN_TIMEOUT_S + 120.0

# Logs of an endpoint's processes (front, keeper, deployments) are copied to <log>.1 and
# truncated by the keeper past EndpointLimits.log_max_bytes; LOG_BACKUPS old files are kept.
LOG_BACKUPS = 2

# The header the front adds for its deployment (the deployment refuses requests without it)
# and the environment variable that hands the deployment its token.
TOKEN_HEADER = "X-Factory-Deployment-Token"
TOKEN_ENV = "FACTORY_DEPLOYMENT_TOKEN"

# One OpenMP thread per server worker unless ENVIRONMENT_VARIABLES say otherwise: measured on
# the nyc_taxi model (histogram gradient boosting), OpenMP threads fighting over 2 busy cores
# turned 10 ms requests into 0.2-3.6 s ones (docs/benchmarks.md).
DEPLOYMENT_DEFAULTS = {"OMP_NUM_THREADS": "1"}


def default_worker_count() -> str:
    """azmlinfsrv's WORKER_COUNT when the realtime config does not set one: one per core."""
    return str(max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count() or 1))


class LimitError(ValueError):
    """A limit in ENVIRONMENT_VARIABLES is not a positive number."""


@dataclass(frozen=True)
class EndpointLimits:
    """What the front allows one client: body size (413 past it), how long a keep-alive
    connection may sit idle, how long the request head and body may take to arrive, and how
    many connections it holds at once (the oldest idle ones are closed past that); and how
    large the endpoint's logs grow before the keeper rotates them."""

    max_body_bytes: int = 4 * 1024 * 1024
    idle_timeout_s: float = 15.0
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    max_connections: int = 512
    log_max_bytes: int = 4 * 1024 * 1024
    max_header_bytes: int = 16 * 1024

    ENV = {"max_body_bytes": "FACTORY_MAX_REQUEST_BYTES",
           "idle_timeout_s": "FACTORY_IDLE_TIMEOUT_S",
           "header_timeout_s": "FACTORY_HEADER_TIMEOUT_S",
           "body_timeout_s": "FACTORY_BODY_TIMEOUT_S",
           "max_connections": "FACTORY_MAX_CONNECTIONS",
           "log_max_bytes": "FACTORY_LOG_MAX_BYTES"}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> EndpointLimits:
        values = {}
        for f in fields(cls):
            name = cls.ENV.get(f.name)
            if name is None or name not in env:
                continue
            kind = int if f.type in ("int", int) else float
            try:
                value = kind(env[name])
            except (TypeError, ValueError):
                value = 0
            if value <= 0:
                raise LimitError(f"ENVIRONMENT_VARIABLES {name}={env[name]!r}: expected a "
                                 f"positive {'integer' if kind is int else 'number'}")
            values[f.name] = value
        return cls(**values)
