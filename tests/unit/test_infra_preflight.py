"""Azure prerequisites are named precisely; the infra lock times out with a clear message;
apply without a saved plan refuses."""

from __future__ import annotations

import json

import pytest

from mlops.infra.azure_preflight import credential_problems
from mlops.infra.layout import seconds
from mlops.infra.lock import InfraLockTimeout, infra_lock


def test_no_credentials_names_the_variables_and_az_login(tmp_path):
    problems = credential_problems({}, home=tmp_path)
    assert len(problems) == 1
    assert "ARM_TENANT_ID, ARM_CLIENT_ID not set" in problems[0]
    assert "az login" in problems[0]


def test_the_federated_token_of_an_azure_devops_step_counts(tmp_path):
    # AzureCLI@2 with addSpnToEnvironment: true (mlops.infra.credentials maps it)
    env = {"servicePrincipalId": "c", "tenantId": "t", "idToken": "token"}
    assert credential_problems(env, home=tmp_path) == []
    assert credential_problems({"servicePrincipalId": "c", "tenantId": "t"},
                               home=tmp_path) != []


def test_ids_without_a_credential_are_not_enough(tmp_path):
    env = {"ARM_TENANT_ID": "t", "ARM_CLIENT_ID": "c", "ARM_SUBSCRIPTION_ID": "s"}
    assert "a credential not set" in credential_problems(env, home=tmp_path)[0]
    assert credential_problems({**env, "ARM_CLIENT_SECRET": "x"}, home=tmp_path) == []
    assert credential_problems({**env, "ARM_USE_OIDC": "true", "ARM_OIDC_TOKEN": "t"},
                               home=tmp_path) == []


def test_an_az_cli_login_counts(tmp_path):
    (tmp_path / ".azure").mkdir()
    (tmp_path / ".azure" / "azureProfile.json").write_text(
        json.dumps({"subscriptions": [{"id": "s", "isDefault": True}]}))
    assert credential_problems({}, home=tmp_path) == []
    assert credential_problems({"ARM_USE_CLI": "false"}, home=tmp_path) != []


@pytest.mark.parametrize(("text", "value"), [("60s", 60), ("2m", 120), ("0s", 0), ("5", 5)])
def test_durations(text, value):
    assert seconds(text) == value


def test_bad_duration_names_the_variable():
    from mlops.errors import FactoryError

    with pytest.raises(FactoryError, match="FACTORY_TF_LOCK_TIMEOUT='soon'"):
        seconds("soon")


def test_second_holder_of_the_infra_lock_times_out_naming_the_first(tmp_path):
    lock = tmp_path / "locks" / "local.lock"
    expected = r"\(pid \d+: provision\) holds .*waited 0.3 s"
    with infra_lock(lock, "provision", 1), pytest.raises(InfraLockTimeout, match=expected), \
            infra_lock(lock, "plan", 0.3):
        pass
    with infra_lock(lock, "plan", 0):  # released: free again
        pass


def test_apply_without_a_saved_plan_refuses(config_root, monkeypatch):
    from mlops.config import load_config
    from mlops.infra import apply
    from mlops.infra.lifecycle import NoSavedPlan

    monkeypatch.setenv("FACTORY_ROOT", str(config_root))
    with pytest.raises(NoSavedPlan, match=r"no saved plan for --target local: run `nox -s plan`"):
        apply(load_config(config_root), "local")
