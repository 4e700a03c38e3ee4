"""The synthesised Azure ML stack: resources, names from config, cross-references, role
assignments, backend, the workspace output, and no secret anywhere."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from cdktf_app._backend import read_backend
from cdktf_app.azureml_stack import AzureNames, iso_duration
from mlops.config import load_config
from mlops.errors import FactoryError
from mlops.iac_scan import secret_references
from mlops.records import Workspace


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def infra(config):
    return config.infra_env("dev")


@pytest.fixture(scope="module")
def stack(config, tmp_path_factory) -> dict:
    from cdktf_app.app import synth

    outdir = tmp_path_factory.mktemp("cdktf")
    synth(config, "azure", outdir)
    return json.loads((outdir / "stacks" / "azureml" / "cdk.tf.json").read_text())


def _one(stack: dict, rtype: str) -> tuple[str, dict]:
    items = stack["resource"][rtype]
    assert len(items) == 1, f"expected one {rtype}, found {list(items)}"
    return next(iter(items.items()))


def _ref(rtype: str, name: str, attr: str = "id") -> str:
    return "${" + f"{rtype}.{name}.{attr}" + "}"


def test_every_resource_the_platform_needs(stack):
    assert set(stack["resource"]) == {
        "azurerm_resource_group", "azurerm_storage_account", "azurerm_key_vault",
        "azurerm_log_analytics_workspace", "azurerm_application_insights",
        "azurerm_container_registry", "azurerm_machine_learning_workspace",
        "azurerm_machine_learning_compute_cluster", "azurerm_user_assigned_identity",
        "azurerm_role_assignment"}
    assert set(stack["data"]) == {"azurerm_client_config", "azurerm_subscription"}


def test_names_follow_the_seed_convention(stack, infra):
    names = {rtype: _one(stack, rtype)[1]["name"] for rtype in (
        "azurerm_resource_group", "azurerm_storage_account", "azurerm_key_vault",
        "azurerm_log_analytics_workspace", "azurerm_application_insights",
        "azurerm_container_registry", "azurerm_machine_learning_workspace")}
    assert names == {
        "azurerm_resource_group": infra.resource_group_name,
        "azurerm_storage_account": "stmlopsmf001",
        "azurerm_key_vault": "kv-mlops-mf-001",
        "azurerm_log_analytics_workspace": "log-mlops-mf-001",
        "azurerm_application_insights": "appi-mlops-mf-001",
        "azurerm_container_registry": "crmlopsmf001",
        "azurerm_machine_learning_workspace": "mlw-mlops-mf-001",
    }
    assert _one(stack, "azurerm_resource_group")[1]["location"] == infra.location


def test_names_come_from_namespace_projectcode_and_version(infra):
    other = dataclasses.replace(infra, namespace="Fraud", projectcode="x-y", version="002",
                                resource_group_name="rg-fraud")
    names = AzureNames.of(other)
    assert names.workspace == "mlw-Fraud-x-y-002"
    assert names.storage_account == "stfraudxy002"  # storage: lower-case letters and digits
    assert names.container_registry == "crfraudxy002"
    assert names.resource_group == "rg-fraud"
    long = AzureNames.of(dataclasses.replace(infra, namespace="averyveryverylongnamespace"))
    assert len(long.storage_account) <= 24 and len(long.key_vault) <= 24


def test_storage_account_is_locked_down(stack):
    _, storage = _one(stack, "azurerm_storage_account")
    assert storage["https_traffic_only_enabled"] is True
    assert storage["min_tls_version"] == "TLS1_2"
    assert storage["allow_nested_items_to_be_public"] is False
    assert storage["shared_access_key_enabled"] is False
    assert storage["blob_properties"]["delete_retention_policy"]["days"] > 0


def test_key_vault_uses_rbac_soft_delete_and_purge_protection(stack):
    _, vault = _one(stack, "azurerm_key_vault")
    assert vault["rbac_authorization_enabled"] is True
    assert vault["purge_protection_enabled"] is True
    assert vault["soft_delete_retention_days"] >= 7
    assert vault["tenant_id"] == "${data.azurerm_client_config.current.tenant_id}"
    assert vault["network_acls"]["default_action"] == "Deny"


def test_application_insights_is_workspace_based(stack):
    name, _ = _one(stack, "azurerm_log_analytics_workspace")
    _, insights = _one(stack, "azurerm_application_insights")
    assert insights["workspace_id"] == _ref("azurerm_log_analytics_workspace", name)
    assert insights["local_authentication_enabled"] is False


def test_container_registry_has_no_admin_user(stack):
    _, registry = _one(stack, "azurerm_container_registry")
    assert registry["admin_enabled"] is False


def test_workspace_links_storage_key_vault_insights_and_registry(stack):
    _, workspace = _one(stack, "azurerm_machine_learning_workspace")
    linked = {rtype: _ref(rtype, _one(stack, rtype)[0]) for rtype in (
        "azurerm_storage_account", "azurerm_key_vault", "azurerm_application_insights",
        "azurerm_container_registry")}
    assert workspace["storage_account_id"] == linked["azurerm_storage_account"]
    assert workspace["key_vault_id"] == linked["azurerm_key_vault"]
    assert workspace["application_insights_id"] == linked["azurerm_application_insights"]
    assert workspace["container_registry_id"] == linked["azurerm_container_registry"]
    assert workspace["identity"] == {"type": "SystemAssigned"}
    assert workspace["storage_account_access_type"] == "Identity"


def test_compute_clusters_come_from_config(stack, infra):
    clusters = {c["name"]: c for c in stack["resource"]["azurerm_machine_learning_compute_cluster"]
                .values()}
    assert set(clusters) == {infra.cluster_name, infra.batch_cluster_name}
    workspace_id = _ref("azurerm_machine_learning_workspace",
                        _one(stack, "azurerm_machine_learning_workspace")[0])
    compute, batch = clusters[infra.cluster_name], clusters[infra.batch_cluster_name]
    assert compute["scale_settings"] == {
        "min_node_count": infra.cluster_min_nodes, "max_node_count": infra.cluster_max_nodes,
        "scale_down_nodes_after_idle_duration":
            iso_duration(infra.cluster_idle_seconds_before_scaledown)}
    assert compute["vm_size"] == infra.cluster_size
    assert batch["scale_settings"]["max_node_count"] == infra.batch_cluster_max_nodes
    assert batch["scale_settings"]["min_node_count"] == 0
    assert batch["vm_size"] == infra.batch_cluster_size
    for cluster in (compute, batch):
        assert cluster["machine_learning_workspace_id"] == workspace_id
        assert cluster["identity"] == {"type": "SystemAssigned"}
        assert cluster["local_auth_enabled"] is False


@pytest.mark.parametrize(("seconds", "expected"), [
    (300, "PT5M"), (120, "PT2M"), (90, "PT1M30S"), (3600, "PT1H"), (3725, "PT1H2M5S"), (0, "PT0S")])
def test_idle_scale_down_is_an_iso_duration(seconds, expected):
    assert iso_duration(seconds) == expected


def test_role_assignments_grant_what_the_pipelines_need(stack):
    grants = {(a["role_definition_name"], a["scope"], a["principal_id"])
              for a in stack["resource"]["azurerm_role_assignment"].values()}
    ws = "azurerm_machine_learning_workspace.ml_workspace"
    assert ("AzureML Data Scientist", "${" + ws + ".id}",
            "${azurerm_user_assigned_identity.pipeline_identity.principal_id}") in grants
    assert ("Storage Blob Data Contributor", "${azurerm_storage_account.storage_account.id}",
            "${" + ws + ".identity[0].principal_id}") in grants
    assert ("AcrPull", "${azurerm_container_registry.container_registry.id}",
            "${azurerm_machine_learning_compute_cluster.compute.identity[0].principal_id}") \
        in grants
    assert all(a["principal_type"] == "ServicePrincipal"
               for a in stack["resource"]["azurerm_role_assignment"].values())


def test_state_lives_in_the_azurerm_backend_of_the_environment(stack):
    backend = stack["terraform"]["backend"]["azurerm"]
    expected = read_backend("dev")
    assert backend["storage_account_name"] == expected["storage_account_name"]
    assert backend["resource_group_name"] == expected["resource_group_name"]
    assert backend["container_name"] == expected["container_name"]
    assert backend["key"] == f"azureml/{expected['key']}"
    assert backend["use_azuread_auth"] is True
    assert not {"access_key", "sas_token", "client_secret"} & set(backend)


def test_backend_file_problems_name_the_file(tmp_path):
    with pytest.raises(FactoryError, match=r"prod\.azurerm\.tfbackend: no azurerm backend"):
        read_backend("prod", tmp_path)
    (tmp_path / "dev.azurerm.tfbackend").write_text('resource_group_name = "rg"\nkey = "k"\n')
    with pytest.raises(FactoryError, match="missing storage_account_name, container_name"):
        read_backend("dev", tmp_path)
    (tmp_path / "dev.azurerm.tfbackend").write_text(
        'resource_group_name = "rg"\nstorage_account_name = "st"\ncontainer_name = "c"\n'
        'key = "k"\naccess_key = "abc"\n')
    with pytest.raises(FactoryError, match="access_key must not be in a committed file"):
        read_backend("dev", tmp_path)


def test_workspace_output_has_the_workspace_description_shape(stack, infra):
    value = stack["output"]["workspace"]["value"]
    assert value["target"] == "azure"
    ws = "azurerm_machine_learning_workspace.ml_workspace"
    assert value["mlflow_tracking_uri"] == \
        "azureml://${" + ws + ".location}.api.azureml.ms/mlflow/v1.0${" + ws + ".id}"
    assert value["mlflow_registry_uri"] == value["mlflow_tracking_uri"]
    assert value["compute"]["max_nodes"] == infra.cluster_max_nodes
    # Resolve the references as Terraform would, then read it as the platform does.
    resolved = json.loads(re.sub(r"\$\{[^}]*\.(\w+)\}", r"resolved-\1", json.dumps(value)))
    workspace = Workspace.from_output(resolved)
    assert workspace.target == "azure" and workspace.root is None
    assert workspace.resource_group == "resolved-name"
    assert workspace.subscription_id == "resolved-subscription_id"
    assert set(value) == {k for k, v in workspace.to_output().items() if v is not None}


def test_plain_outputs_name_the_workspace_and_its_neighbours(stack):
    outputs = stack["output"]
    assert outputs["workspace_name"]["value"] == \
        "${azurerm_machine_learning_workspace.ml_workspace.name}"
    assert outputs["resource_group_name"]["value"] == \
        "${azurerm_resource_group.resource_group.name}"
    for name in ("subscription_id", "storage_account_name", "key_vault_name",
                 "container_registry_name", "pipeline_identity_client_id"):
        assert name in outputs


def test_no_secret_in_the_synthesised_stack(stack):
    assert secret_references(stack) == []
    text = json.dumps(stack)
    for attribute in ("instrumentation_key", "connection_string", "primary_access_key",
                      "primary_key", "client_secret"):
        assert attribute not in text


def test_secret_check_catches_a_leak(stack):
    leaky = json.loads(json.dumps(stack))
    leaky["output"]["insights"] = {
        "value": "${azurerm_application_insights.application_insights.instrumentation_key}"}
    leaky["terraform"]["backend"]["azurerm"]["access_key"] = "abc"
    found = secret_references(leaky)
    assert any("instrumentation_key" in f and f.startswith("output.insights") for f in found)
    assert any(f.startswith("terraform.backend.azurerm.access_key") for f in found)


def test_no_path_of_this_checkout_leaks_into_the_stack(stack):
    assert str(Path(__file__).resolve().parents[2]) not in json.dumps(stack)
