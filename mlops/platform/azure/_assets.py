"""Helpers shared by the Azure modules: the model's environment, the champion model version and
waiting on Azure ML jobs (pipeline and batch scoring jobs)."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.platform.azure.client import AzureClient, AzureMLError, AzureNotFound, log

# The tag the register step marks the champion with (Azure ML has no registry aliases).
from mlops.registry_names import CHAMPION_TAG

# Azure ML job status -> the factory's status; anything else is still running.
TERMINAL = {"Completed": "completed", "Failed": "failed", "Canceled": "cancelled",
            "NotResponding": "failed", "Paused": "failed"}


def environment_ref(client: AzureClient, entry: ModelEnvConfig) -> str:
    """``azureml:<ENVIRONMENT_NAME>:<version>``, created when this conda file + base image pair
    (the version is their hash) is not in the workspace yet."""
    from azure.ai.ml.entities import Environment

    conda = entry.conda_path
    if not conda.is_file():
        raise FactoryError(f"CONDA_PATH {conda} of {entry.model} ({entry.env}) does not exist")
    digest = hashlib.sha256(conda.read_bytes() + b"\0" + entry.env_base_image_name.encode())
    version = digest.hexdigest()[:16]
    try:
        client.environments.get(name=entry.environment_name, version=version)
    except AzureNotFound:
        log(f"  creating environment {entry.environment_name}:{version} "
            f"({entry.env_base_image_name} + {conda.name})")
        client.environments.create_or_update(Environment(
            name=entry.environment_name, version=version, image=entry.env_base_image_name,
            conda_file=str(conda), description=f"{entry.model}: {conda.name} on "
                                               f"{entry.env_base_image_name}"))
    return f"azureml:{entry.environment_name}:{version}"


def _version_key(model: Any) -> tuple[int, str]:
    version = str(model.version)
    return (int(version), version) if version.isdigit() else (-1, version)


def champion(client: AzureClient, model_name: str) -> Any:
    """The champion version of MODEL_NAME: the newest version tagged CHAMPION_TAG=true, as the
    register step finds it (mlops/steps/factory_steps/registry.py). A version registered by
    hand, untagged, is never taken for the champion."""
    versions = client.models.list(name=model_name)
    tagged = [m for m in versions
              if str((m.tags or {}).get(CHAMPION_TAG, "")).lower() == "true"]
    if not tagged:
        found = (f"its {len(versions)} version(s) carry no {CHAMPION_TAG}=true tag" if versions
                 else "it has no registered version")
        raise FactoryError(f"model {model_name} has no champion in workspace {client.workspace}: "
                           f"{found}; run `nox -s ci_build` (the register step tags a version "
                           "champion only when it passes the gate)")
    return max(tagged, key=_version_key)


def model_version(client: AzureClient, model: str, model_name: str, version: str) -> Any:
    """The full registered version (path, flavors, tags); a named error when it is not there."""
    try:
        return client.models.get(name=model_name, version=str(version))
    except AzureNotFound:
        raise FactoryError(f"{model}: model {model_name} has no version {version} in workspace "
                           f"{client.workspace}") from None


@contextmanager
def cancel_on_interrupt(client: AzureClient, job_name: Callable[[], str | None]) -> Iterator[None]:
    """Ctrl-C (and SIGTERM, which CI agents send on cancel) cancels the Azure ML job, then the
    interrupt propagates."""
    previous = None
    if threading.current_thread() is threading.main_thread():
        def _term(signum: int, frame: Any) -> None:
            raise KeyboardInterrupt

        previous = signal.signal(signal.SIGTERM, _term)
    try:
        yield
    except KeyboardInterrupt:
        name = job_name()
        if name:
            log(f"interrupted: cancelling Azure ML job {name}")
            try:
                client.jobs.begin_cancel(name)
            except AzureMLError as exc:
                log(f"  could not cancel {name}: {exc}")
        raise
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _seconds(env_var: str, default: float) -> float:
    raw = os.environ.get(env_var, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise FactoryError(f"{env_var}={raw!r} is not a number of seconds") from None


def poll_seconds() -> float:
    return _seconds("FACTORY_AZURE_POLL_SECONDS", 30.0)


def timeout_seconds() -> float:
    return _seconds("FACTORY_AZURE_TIMEOUT_SECONDS", 4 * 3600.0)


def wait_for_job(client: AzureClient, name: str, *, interval: float, timeout: float,
                 on_poll: Callable[[Any], None] | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic,
                 cancel_on_timeout: bool = True) -> Any:
    """Poll a job until it is terminal, printing each status change; the job on return.
    Past ``timeout`` the job is cancelled (no compute left burning) and the wait fails; with
    ``cancel_on_timeout=False`` the still-running job is returned instead (a bounded slice of
    a longer wait)."""
    started, last = clock(), None
    while True:
        job = client.jobs.get(name)
        if job.status != last:
            status = getattr(job.status, "value", job.status)  # the SDK's enum -> 'Running'
            log(f"  job {name}: {status} ({clock() - started:.0f}s)")
            last = job.status
        if on_poll:
            on_poll(job)
        if job.status in TERMINAL:
            return job
        if clock() - started >= timeout:
            if not cancel_on_timeout:
                return job
            client.jobs.begin_cancel(name)
            raise FactoryError(f"Azure ML job {name} still {job.status} after {timeout:.0f}s "
                               "(FACTORY_AZURE_TIMEOUT_SECONDS); it was cancelled")
        sleep(interval)
