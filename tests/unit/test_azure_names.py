"""Azure coordinates come from config or the environment, and a missing one fails before
Terraform, naming both; global names carry a stable suffix and keep Azure's naming rules."""

from __future__ import annotations

import dataclasses
import re

import pytest

from mlops.azure_names import (
    AzureNames,
    AzureSettings,
    AzureSettingsError,
    name_suffix,
    regional_endpoint_name,
    state_storage_account,
)
from mlops.config import load_config

SUB_A = "11111111-2222-3333-4444-555555555555"
SUB_B = "99999999-8888-7777-6666-555555555555"
ORG = "https://dev.azure.com/contoso"

# Azure's rules (learn.microsoft.com/azure/azure-resource-manager/management/resource-name-rules)
STORAGE = re.compile(r"[a-z0-9]{3,24}")
KEY_VAULT = re.compile(r"(?=.{3,24}$)[A-Za-z](?!.*--)[A-Za-z0-9-]*[A-Za-z0-9]")
REGISTRY = re.compile(r"[A-Za-z0-9]{5,50}")
ENDPOINT = re.compile(r"(?=.{3,32}$)[A-Za-z][A-Za-z0-9-]*[A-Za-z0-9]")


@pytest.fixture(scope="module")
def infra():
    return load_config().infra_env("dev")


def test_missing_subscription_and_organisation_fail_naming_both_places(infra):
    with pytest.raises(AzureSettingsError) as info:
        AzureSettings.resolve(infra, {})
    message = str(info.value)
    assert "ARM_SUBSCRIPTION_ID is not set" in message
    assert "SUBSCRIPTION_ID in config/infra_config.json" in message
    assert "AZDO_ORG_SERVICE_URL is not set" in message
    assert "DEVOPS_ORGANIZATION_URL in config/infra_config.json" in message
    assert "variable group mlops_platform_dev_vg" in message


def test_environment_gives_them_and_config_wins(infra):
    settings = AzureSettings.resolve(infra, {"ARM_SUBSCRIPTION_ID": SUB_A.upper(),
                                             "AZDO_ORG_SERVICE_URL": ORG + "/"})
    assert settings == AzureSettings(SUB_A, ORG)
    configured = dataclasses.replace(infra, subscription_id=SUB_B,
                                     devops_organization_url="https://dev.azure.com/fabrikam")
    settings = AzureSettings.resolve(configured, {"ARM_SUBSCRIPTION_ID": SUB_A,
                                                  "AZDO_ORG_SERVICE_URL": ORG})
    assert settings == AzureSettings(SUB_B, "https://dev.azure.com/fabrikam")


def test_reading_outputs_needs_only_the_subscription(infra):
    settings = AzureSettings.resolve(infra, {"ARM_SUBSCRIPTION_ID": SUB_A}, organization=False)
    assert settings.subscription_id == SUB_A
    with pytest.raises(AzureSettingsError, match="expected a subscription id"):
        AzureSettings.resolve(infra, {"ARM_SUBSCRIPTION_ID": "$(ARM_SUBSCRIPTION_ID)"},
                              organization=False)


def test_suffix_is_stable_and_differs_per_subscription_and_environment(infra):
    assert name_suffix(SUB_A, infra) == name_suffix(SUB_A.upper(), infra)
    assert re.fullmatch(r"[0-9a-f]{6}", name_suffix(SUB_A, infra))
    assert name_suffix(SUB_A, infra) != name_suffix(SUB_B, infra)
    assert name_suffix(SUB_A, infra) != name_suffix(SUB_A, dataclasses.replace(infra,
                                                                               version="002"))
    a, b = AzureNames.of(infra, SUB_A), AzureNames.of(infra, SUB_B)
    assert a.storage_account != b.storage_account and a.key_vault != b.key_vault
    assert a.container_registry != b.container_registry
    assert a.workspace == b.workspace == "mlw-mlops-mf-001"  # scoped to the resource group


@pytest.mark.parametrize("namespace, projectcode", [
    ("mlops", "mf"), ("ab", "1"),
    ("abcdefghij", "abcdefgh"),  # the longest NAMESPACE and PROJECTCODE config accepts
])
def test_names_keep_azures_rules_for_every_accepted_config(infra, namespace, projectcode):
    config = dataclasses.replace(infra, namespace=namespace, projectcode=projectcode,
                                 version="999")
    for subscription in (SUB_A, SUB_B):
        names = AzureNames.of(config, subscription)
        assert STORAGE.fullmatch(names.storage_account), names.storage_account
        assert KEY_VAULT.fullmatch(names.key_vault), names.key_vault
        assert REGISTRY.fullmatch(names.container_registry), names.container_registry
        assert STORAGE.fullmatch(state_storage_account(subscription, config))
        assert names.storage_account.endswith(names.suffix)


@pytest.mark.parametrize("configured", ["abc", "nyc-taxi-online", "a" * 32, "a" * 24 + "-bcdefg"])
def test_endpoint_names_get_the_suffix_within_32_characters(configured):
    name = regional_endpoint_name(configured, "0a1b2c")
    assert ENDPOINT.fullmatch(name), name
    assert name.endswith("-0a1b2c")
    assert regional_endpoint_name(configured, None) == configured  # local: unchanged
