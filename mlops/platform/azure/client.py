"""The one door to Azure ML: builds the MLClient for the provisioned workspace and translates
azure-core / azure-ai-ml exceptions into FactoryErrors once, here, so no other module sees them.

Every operation call (``client.jobs.get(...)``), every long-running poller's ``result()`` and every
paged listing goes through this wrapper. Tests replace ``_ml_client`` (the network boundary) with
an object exposing the same operation groups."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlops.errors import FactoryError
from mlops.records import Workspace

CREDENTIALS_HINT = ("run `az login`, or set AZURE_CLIENT_ID/AZURE_TENANT_ID/"
                    "AZURE_FEDERATED_TOKEN_FILE (workload identity) or AZURE_CLIENT_SECRET")
POLLER_PROGRESS_SECONDS = 30.0


class AzureMLError(FactoryError):
    """A failure talking to Azure ML; the message names the operation and the workspace."""


class AzureAuthError(AzureMLError):
    """No usable credentials, or the identity lacks permission."""


class AzureNotFound(AzureMLError):
    """The asked-for resource (asset, job, endpoint...) does not exist."""


class AzureRequestError(AzureMLError):
    """The service rejected the request (HTTP error other than 401/403/404)."""


class AzureUnreachable(AzureMLError):
    """The request never got an answer (DNS, proxy, network)."""


class AzureSpecError(AzureMLError):
    """azure-ai-ml refused an entity before sending it (invalid YAML/object)."""


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "message", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def translate(exc: Exception, action: str, workspace: str) -> AzureMLError | None:
    """The FactoryError for an Azure exception, or None when ``exc`` is not one of Azure's."""
    from azure.ai.ml.exceptions import MlException
    from azure.core.exceptions import (
        AzureError,
        ClientAuthenticationError,
        HttpResponseError,
        ResourceNotFoundError,
        ServiceRequestError,
        ServiceResponseError,
    )

    where = f"Azure ML workspace {workspace}: {action}"
    detail = _first_line(exc)
    if isinstance(exc, ClientAuthenticationError):
        return AzureAuthError(f"no Azure credentials for {where}: {CREDENTIALS_HINT} ({detail})")
    if isinstance(exc, ResourceNotFoundError):
        return AzureNotFound(f"not found in {where}: {detail}")
    if isinstance(exc, HttpResponseError):
        status = getattr(exc, "status_code", None)
        if status == 401:
            return AzureAuthError(f"credentials rejected by {where}: {CREDENTIALS_HINT} "
                                  f"({detail})")
        if status == 403:
            return AzureAuthError(f"not allowed: {where}: the identity needs a role such as "
                                  f"'AzureML Data Scientist' on the workspace ({detail})")
        if status == 404:
            return AzureNotFound(f"not found in {where}: {detail}")
        return AzureRequestError(f"{where} failed (HTTP {status}): {detail}")
    if isinstance(exc, ServiceRequestError | ServiceResponseError):
        return AzureUnreachable(f"cannot reach {where}: {detail}; check the network or proxy")
    if isinstance(exc, MlException):
        return AzureSpecError(f"{where}: azure-ai-ml rejected the request: {detail}")
    if isinstance(exc, AzureError):
        return AzureMLError(f"{where} failed: {detail}")
    return None


@contextmanager
def translated(action: str, workspace: str) -> Iterator[None]:
    """Run a block with Azure exceptions turned into AzureMLError subclasses."""
    try:
        yield
    except AzureMLError:
        raise
    except Exception as exc:  # noqa: BLE001 - only Azure's are translated, the rest re-raised
        error = translate(exc, action, workspace)
        if error is None:
            raise
        raise error from exc


class _Poller:
    """A long-running operation; ``result()`` waits with progress and translated errors."""

    def __init__(self, poller: Any, action: str, workspace: str):
        self._poller, self._action, self._workspace = poller, action, workspace

    def result(self, progress: str | None = None) -> Any:
        started = time.monotonic()
        with translated(self._action, self._workspace):
            if progress:
                while not self._poller.done():
                    self._poller.wait(timeout=POLLER_PROGRESS_SECONDS)
                    if not self._poller.done():
                        print(f"  {progress}: still running "
                              f"({time.monotonic() - started:.0f}s)", flush=True)
            return self._poller.result()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._poller, name)


class _Operations:
    """One operation group (jobs, data, online_endpoints, ...) behind the translator."""

    def __init__(self, operations: Any, group: str, workspace: str):
        self._operations, self._group, self._workspace = operations, group, workspace

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._operations, name)
        action = f"{self._group}.{name}"

        def call(*args: Any, **kwargs: Any) -> Any:
            with translated(action, self._workspace):
                result = method(*args, **kwargs)
                if name.startswith("begin_"):
                    return _Poller(result, action, self._workspace)
                if name == "list":  # paged: the requests happen while iterating
                    return list(result)
                return result

        return call


class AzureClient:
    """MLClient with every operation group wrapped; ``raw`` is the MLClient itself."""

    GROUPS = ("jobs", "data", "models", "environments", "components", "online_endpoints",
              "online_deployments", "batch_endpoints", "batch_deployments", "compute",
              "workspaces", "schedules")

    def __init__(self, ml_client: Any, workspace: str):
        self.raw, self.workspace = ml_client, workspace

    def __getattr__(self, name: str) -> _Operations:
        if name not in self.GROUPS:
            raise AttributeError(name)
        return _Operations(getattr(self.raw, name), name, self.workspace)


def _credential() -> Any:
    """DefaultAzureCredential: az login locally, workload identity or a secret in CI. Its
    per-credential warnings are silenced: a failure surfaces once, as AzureAuthError."""
    import logging

    from azure.identity import DefaultAzureCredential

    if not os.environ.get("FACTORY_AZURE_DEBUG"):
        logging.getLogger("azure.identity").setLevel(logging.ERROR)
    return DefaultAzureCredential()


def _ml_client(workspace: Workspace) -> Any:
    """The network boundary: the real MLClient for the workspace (no request yet)."""
    from azure.ai.ml import MLClient

    return MLClient(_credential(), subscription_id=workspace.subscription_id,
                    resource_group_name=workspace.resource_group,
                    workspace_name=workspace.name)


def _registry_ml_client(workspace: Workspace) -> Any:
    """The network boundary for the Azure ML registry the environments share (no request yet):
    assets in a registry are addressed by its name, not by a workspace."""
    from azure.ai.ml import MLClient

    return MLClient(_credential(), subscription_id=workspace.subscription_id,
                    registry_name=workspace.azureml_registry)


def connect_registry(workspace: Workspace) -> AzureClient:
    """The client for the shared registry named in the workspace description."""
    if not workspace.azureml_registry:
        raise FactoryError(f"terraform output 'workspace' of {workspace.name} names no Azure ML "
                           "registry (azureml_registry): the environment takes part in no "
                           "promotion; set PROMOTE_FROM in config/infra_config.json and run the "
                           "infrastructure pipeline")
    label = f"{workspace.azureml_registry} (registry)"
    with translated("connect", label):
        return AzureClient(_registry_ml_client(workspace), label)


def connect(workspace: Workspace) -> AzureClient:
    """The client for the provisioned Azure workspace; missing coordinates fail clearly."""
    if workspace.target != "azure":
        raise FactoryError(f"workspace {workspace.name} is a {workspace.target} workspace; "
                           "the Azure platform needs the azure stack's output "
                           "(`nox -s provision -- --target azure`)")
    missing = [key for key in ("subscription_id", "resource_group")
               if not getattr(workspace, key)]
    if missing:
        raise FactoryError(f"terraform output 'workspace' of the azure stack lacks "
                           f"{', '.join(missing)}; re-run `nox -s provision -- --target azure`")
    with translated("connect", workspace.name):
        return AzureClient(_ml_client(workspace), workspace.name)


def log(message: str) -> None:
    """Progress for long Azure work (flushed so CI logs show it as it happens)."""
    print(message, file=sys.stdout, flush=True)
