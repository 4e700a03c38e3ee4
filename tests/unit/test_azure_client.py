"""The Azure boundary: MLClient construction and the one-time translation of Azure errors."""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import pytest
from azure.ai.ml.exceptions import ErrorTarget, ValidationException
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)

from mlops.errors import FactoryError
from mlops.platform.azure import client as azure_client
from mlops.platform.azure.client import (
    AzureAuthError,
    AzureNotFound,
    AzureRequestError,
    AzureSpecError,
    AzureUnreachable,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "fixtures" / "azure"))
from fake_ml import FakeMLClient, azure_workspace, poller  # noqa: E402


def _http_error(status: int, message: str = "boom") -> HttpResponseError:
    error = HttpResponseError(message=message)
    error.status_code = status
    return error


@pytest.mark.parametrize(("raised", "expected", "words"), [
    (ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token"),
     AzureAuthError, ["no Azure credentials", "az login", "AZURE_CLIENT_ID", "AZURE_TENANT_ID",
                      "AZURE_FEDERATED_TOKEN_FILE"]),
    (ResourceNotFoundError("Model x not found"), AzureNotFound, ["not found", "Model x"]),
    (_http_error(403, "AuthorizationFailed"), AzureAuthError, ["not allowed", "AzureML Data"]),
    (_http_error(401), AzureAuthError, ["az login"]),
    (_http_error(500, "InternalServerError"), AzureRequestError, ["HTTP 500", "Internal"]),
    (ServiceRequestError("Name or service not known"), AzureUnreachable, ["cannot reach"]),
    (ValidationException(message="bad field", no_personal_data_message="bad",
                         target=ErrorTarget.JOB), AzureSpecError, ["bad field"]),
])
def test_azure_exceptions_become_factory_errors(raised, expected, words):
    fake = FakeMLClient()
    fake.jobs.get.side_effect = raised
    client = azure_client.AzureClient(fake, "mlw-test")

    with pytest.raises(expected) as info:
        client.jobs.get("job-1")

    assert isinstance(info.value, FactoryError)
    message = str(info.value)
    assert "mlw-test" in message and "jobs.get" in message
    for word in words:
        assert word in message
    assert info.value.__cause__ is raised


def test_other_exceptions_pass_through_untouched():
    fake = FakeMLClient()
    fake.jobs.get.side_effect = KeyError("bug")
    with pytest.raises(KeyError):
        azure_client.AzureClient(fake, "ws").jobs.get("job-1")


def test_poller_result_and_paged_listing_are_translated_too():
    fake = FakeMLClient()
    failing = poller()
    failing.result.side_effect = _http_error(409, "Conflict")
    fake.online_endpoints.begin_delete.side_effect = None
    fake.online_endpoints.begin_delete.return_value = failing

    def pages():
        yield "first"
        raise ServiceRequestError("connection reset")

    fake.online_endpoints.list.return_value = pages()
    client = azure_client.AzureClient(fake, "ws")

    poll = client.online_endpoints.begin_delete(name="ep")  # the request itself succeeds
    with pytest.raises(AzureRequestError, match="HTTP 409"):
        poll.result()
    with pytest.raises(AzureUnreachable):
        client.online_endpoints.list()


def test_poller_progress_waits_in_slices(capsys, monkeypatch):
    monkeypatch.setattr(azure_client, "POLLER_PROGRESS_SECONDS", 0.0)
    slow = poller("done")
    slow.done.side_effect = [False, False, True, True]
    fake = FakeMLClient()
    fake.online_deployments.begin_create_or_update.side_effect = None
    fake.online_deployments.begin_create_or_update.return_value = slow

    result = azure_client.AzureClient(fake, "ws").online_deployments.begin_create_or_update(
        "deployment").result(progress="online deployment blue")

    assert result == "done"
    assert slow.wait.call_count == 1  # one slice: not done, waited, still not done, printed
    assert "online deployment blue: still running" in capsys.readouterr().out


def test_unknown_operation_group_is_an_attribute_error():
    with pytest.raises(AttributeError):
        azure_client.AzureClient(FakeMLClient(), "ws").not_a_group  # noqa: B018


def test_connect_builds_the_real_mlclient_for_the_workspace_offline(monkeypatch):
    for var in ("AZURE_CLIENT_ID", "AZURE_TENANT_ID", "AZURE_CLIENT_SECRET"):
        monkeypatch.delenv(var, raising=False)
    workspace = azure_workspace()

    client = azure_client.connect(workspace)  # no request is made before an operation

    from azure.ai.ml import MLClient
    from azure.identity import DefaultAzureCredential

    assert isinstance(client.raw, MLClient)
    assert client.raw.subscription_id == workspace.subscription_id
    assert client.raw.resource_group_name == "rg-mlops-mf-001"
    assert client.raw.workspace_name == "mlw-mlops-mf-001"
    assert isinstance(client.raw._credential, DefaultAzureCredential)


def test_connect_refuses_a_local_or_incomplete_workspace():
    workspace = azure_workspace()
    with pytest.raises(FactoryError, match="local workspace"):
        azure_client.connect(dataclasses.replace(workspace, target="local"))
    with pytest.raises(FactoryError, match="lacks subscription_id"):
        azure_client.connect(dataclasses.replace(workspace, subscription_id=None))


def test_a_credential_failure_inside_the_real_sdk_becomes_azure_auth_error(monkeypatch):
    class NoCredential:
        def get_token(self, *scopes, **kwargs):
            raise ClientAuthenticationError("DefaultAzureCredential failed to retrieve a token")

        def get_token_info(self, *scopes, **kwargs):
            return self.get_token(*scopes)

    monkeypatch.setattr(azure_client, "_credential", NoCredential)

    client = azure_client.connect(azure_workspace())  # the real MLClient and pipeline
    with pytest.raises(AzureAuthError, match="no Azure credentials.*az login"):
        client.jobs.get("job-1")  # fails at the token, before any request leaves
