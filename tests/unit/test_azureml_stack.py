"""The synthesised Azure ML stack: resources, names from config, cross-references, role
assignments, backend, the workspace output, and no secret anywhere."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cdktf_app._backend import read_backend
from cdktf_app.azureml_stack import iso_duration
from mlops import identities
from mlops.azure_names import AzureNames, state_storage_account
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
def stack(azure_stacks) -> dict:
    return json.loads((azure_stacks / "azureml" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def subscription(azure_settings) -> str:
    return azure_settings.subscription_id


@pytest.fixture(scope="module")
def names(infra, subscription) -> AzureNames:
    return AzureNames.of(infra, subscription)


def _one(stack: dict, rtype: str) -> tuple[str, dict]:
    items = stack["resource"][rtype]
    assert len(items) == 1, f"expected one {rtype}, found {list(items)}"
    return next(iter(items.items()))


def _ref(rtype: str, name: str, attr: str = "id") -> str:
    return "${" + f"{rtype}.{name}.{attr}" + "}"


def test_every_resource_the_platform_needs(stack):
    assert set(stack["resource"]) == {
        "azurerm_storage_account", "azurerm_key_vault",
        "azurerm_log_analytics_workspace", "azurerm_application_insights",
        "azurerm_container_registry", "azurerm_machine_learning_workspace",
        "azurerm_machine_learning_compute_cluster", "azurerm_user_assigned_identity",
        "azurerm_role_assignment",
        "azapi_resource"}  # dev is the first of the promotion chain: it holds the registry
    # The resource group is the bootstrap's: destroying the stack must not take it (and the
    # infrastructure pipeline's role assignments on it) away.
    assert set(stack["data"]) == {"azurerm_client_config", "azurerm_subscription",
                                  "azurerm_resource_group"}
    assert stack["data"]["azurerm_resource_group"]["resource_group"]["name"] == \
        load_config().infra_env("dev").resource_group_name


def test_names_follow_the_seed_convention_with_a_stable_suffix(stack, names):
    found = {rtype: _one(stack, rtype)[1]["name"] for rtype in (
        "azurerm_storage_account", "azurerm_key_vault",
        "azurerm_log_analytics_workspace", "azurerm_application_insights",
        "azurerm_container_registry", "azurerm_machine_learning_workspace")}
    suffix = names.suffix
    assert re.fullmatch(r"[0-9a-f]{6}", suffix)
    assert found == {
        "azurerm_storage_account": f"stmlopsmf001{suffix}",
        "azurerm_key_vault": f"kv-mlopsmf001-{suffix}",
        "azurerm_log_analytics_workspace": "log-mlops-mf-001",
        "azurerm_application_insights": "appi-mlops-mf-001",
        "azurerm_container_registry": f"crmlopsmf001{suffix}",
        "azurerm_machine_learning_workspace": "mlw-mlops-mf-001",
    }


def test_provider_has_the_subscription_and_recreatable_features(stack, subscription):
    # azurerm >= 4.0 stops with "`subscription_id` is a required provider property when
    # performing a plan/apply operation" unless it is set (provider source,
    # internal/provider/framework/config.go). Features: "The Features Block" guide.
    provider = stack["provider"]["azurerm"][0]
    assert provider["subscription_id"] == subscription
    features = provider["features"][0]
    # a destroyed workspace is purged, so provision can reuse its name at once
    assert features["machine_learning"] == [{"purge_soft_deleted_workspace_on_destroy": True}]
    # purge protection forbids purging; re-creating the name recovers the soft-deleted vault
    assert features["key_vault"] == [{"purge_soft_delete_on_destroy": False,
                                      "recover_soft_deleted_key_vaults": True}]
    # registering providers needs subscription-wide rights: the bootstrap does it once
    assert provider["resource_provider_registrations"] == "none"
    assert not {"client_secret", "client_id", "oidc_token"} & set(provider)


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
    assert vault["name"].startswith("kv-")
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


def _principal(identity: str) -> str:
    return {"model_pipeline": "${azurerm_user_assigned_identity.pipeline_identity.principal_id}",
            "compute": "${azurerm_machine_learning_compute_cluster.compute.identity[0]"
                       ".principal_id}",
            "batch_compute": "${azurerm_machine_learning_compute_cluster.batch_compute"
                             ".identity[0].principal_id}"}[identity]


def _scope(scope: str, subscription: str) -> str:
    backend = read_backend("dev", default_account=state_storage_account(
        subscription, load_config().infra_env("dev")))
    return {"workspace": "${azurerm_machine_learning_workspace.ml_workspace.id}",
            "storage": "${azurerm_storage_account.storage_account.id}",
            "container_registry": "${azurerm_container_registry.container_registry.id}",
            "key_vault": "${azurerm_key_vault.key_vault.id}",
            "state_container": f"/subscriptions/{subscription}/resourceGroups/"
                               f"{backend['resource_group_name']}/providers/Microsoft.Storage/"
                               f"storageAccounts/{backend['storage_account_name']}/"
                               f"blobServices/default/containers/{backend['container_name']}",
            }[scope]


PROMOTION_SCOPES = ("source_workspace", "registry")  # a promotion target's grants only


def test_role_assignments_are_exactly_the_identity_tables_terraform_rows(stack, subscription):
    synthesised = {(a["role_definition_name"], a["scope"], a["principal_id"])
                   for a in stack["resource"]["azurerm_role_assignment"].values()}
    table = {(g.role, _scope(g.scope, subscription), _principal(g.identity))
             for g in identities.grants(by="terraform") if g.scope not in PROMOTION_SCOPES}
    assert synthesised == table  # both ways: nothing missing, nothing extra
    assert all(a["principal_type"] == "ServicePrincipal"
               for a in stack["resource"]["azurerm_role_assignment"].values())


def test_assignments_azure_ml_makes_itself_are_not_synthesised(stack):
    # Azure ML assigns these on its own (workspace system identity: "role assignment creation
    # managed by Microsoft"; compute AcrPull: "automatically granted"); Terraform creating them
    # again fails with RoleAssignmentExists (MicrosoftDocs/azure-docs#80040).
    synthesised = [(a["role_definition_name"], a["scope"], a["principal_id"])
                   for a in stack["resource"]["azurerm_role_assignment"].values()]
    workspace_principal = "${azurerm_machine_learning_workspace.ml_workspace.identity[0]" \
                          ".principal_id}"
    assert not [a for a in synthesised if a[2] == workspace_principal]
    assert not [a for a in synthesised if a[0] == "AcrPull"]
    assert identities.grants(by="azure"), "the table still records them"


def test_state_lives_in_the_azurerm_backend_of_the_environment(stack, subscription):
    backend = stack["terraform"]["backend"]["azurerm"]
    expected = read_backend("dev", default_account="unused")
    # storage account names are global: without one in the backend file, it is derived from
    # the subscription (<= 24 lower-case letters and digits)
    assert expected["storage_account_name"] == "unused"
    account = state_storage_account(subscription, load_config().infra_env("dev"))
    assert backend["storage_account_name"] == account
    assert re.fullmatch(r"[a-z0-9]{3,24}", account)
    assert backend["subscription_id"] == subscription
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
    with pytest.raises(FactoryError, match="missing container_name"):
        read_backend("dev", tmp_path, default_account="stx")
    (tmp_path / "dev.azurerm.tfbackend").write_text(
        'resource_group_name = "rg"\nstorage_account_name = "st"\ncontainer_name = "c"\n'
        'key = "k"\naccess_key = "abc"\n')
    with pytest.raises(FactoryError, match="access_key must not be in a committed file"):
        read_backend("dev", tmp_path)


def test_workspace_output_has_the_workspace_description_shape(stack, infra, names, subscription):
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
    assert workspace.subscription_id == subscription
    assert workspace.endpoint_suffix == names.suffix
    assert set(value) == {k for k, v in workspace.to_output().items() if v is not None}


def test_plain_outputs_name_the_workspace_and_its_neighbours(stack):
    outputs = stack["output"]
    assert outputs["workspace_name"]["value"] == \
        "${azurerm_machine_learning_workspace.ml_workspace.name}"
    assert outputs["resource_group_name"]["value"] == \
        "${data.azurerm_resource_group.resource_group.name}"
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


# -- promotion ---------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def prod_stack(tmp_path_factory, azure_settings) -> dict:
    from cdktf_app.app import synth

    outdir = tmp_path_factory.mktemp("cdktf-azure-prod")
    synth(load_config(), "azure", outdir, settings=azure_settings, env="prod")
    return json.loads((outdir / "stacks" / "azureml" / "cdk.tf.json").read_text())


def test_the_first_environment_holds_the_registry_its_targets_share(stack, prod_stack, config,
                                                                    subscription):
    """azurerm has no registry resource (hashicorp/terraform-provider-azurerm#22565): an
    azapi_resource with the body the REST API documents (how-to-manage-registries: each region
    a workspace is in, system-created storage and a Premium container registry)."""
    name, registry = _one(stack, "azapi_resource")
    home = AzureNames.of(config.infra_env("dev"), subscription)
    assert registry["type"].startswith("Microsoft.MachineLearningServices/registries@")
    assert registry["name"] == home.registry
    assert re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]{1,31}", registry["name"])  # 2-32 characters
    assert registry["parent_id"] == "${data.azurerm_resource_group.resource_group.id}"
    [region] = registry["body"]["properties"]["regionDetails"]  # dev and prod: westeurope
    assert region["location"] == config.infra_env("prod").location
    assert region["acrDetails"] == [{"systemCreatedAcrAccount": {"acrAccountSku": "Premium"}}]
    assert stack["terraform"]["required_providers"]["azapi"]["source"] == "Azure/azapi"
    assert "azapi_resource" not in prod_stack["resource"]  # one registry, shared
    for doc in (stack, prod_stack):
        assert doc["output"]["workspace"]["value"]["azureml_registry"] == home.registry


def test_a_promotion_target_grants_its_pipelines_the_source_read_and_the_registry(
        prod_stack, config, subscription):
    dev = AzureNames.of(config.infra_env("dev"), subscription)
    source = prod_stack["data"]["azurerm_machine_learning_workspace"]["source_workspace"]
    assert (source["name"], source["resource_group_name"]) == (dev.workspace,
                                                                dev.resource_group)
    made = {(a["role_definition_name"], a["scope"])
            for a in prod_stack["resource"]["azurerm_role_assignment"].values()
            if a["principal_id"] == _principal("model_pipeline")}
    registry = (f"/subscriptions/{subscription}/resourceGroups/{dev.resource_group}/providers/"
                f"Microsoft.MachineLearningServices/registries/{dev.registry}")
    assert ("Reader", "${data.azurerm_machine_learning_workspace.source_workspace.id}") in made
    assert ("AzureML Registry User", registry) in made
    wanted = {(g.role, g.scope) for g in identities.grants(by="terraform",
                                                           identity_key="model_pipeline")}
    assert len(made) == len(wanted)  # every model pipeline grant, the promotion ones included
    assert prod_stack["output"]["workspace"]["value"]["name"] == \
        "${azurerm_machine_learning_workspace.ml_workspace.name}"


def test_a_target_keeping_its_state_elsewhere_is_refused_naming_both_files(
        tmp_path, config, azure_settings):
    """prod's pipelines read dev's outputs with their read access on their own state
    container: both environments' backend files must name the same container."""
    from cdktn import App

    from cdktf_app._backend import BACKENDS_DIR
    from cdktf_app.azureml_stack import AzureMLStack

    backends = tmp_path / "backends"
    shutil.copytree(BACKENDS_DIR, backends)
    prod_file = backends / "prod.azurerm.tfbackend"
    prod_file.write_text(prod_file.read_text().replace('"tfstate"', '"prodstate"'))
    with pytest.raises(FactoryError) as info:
        AzureMLStack(App(outdir=str(tmp_path / "out")), "azureml",
                     infra=config.infra_env("prod"), settings=azure_settings,
                     backends_dir=backends, config=config)
    assert str(prod_file) in str(info.value) and "dev.azurerm.tfbackend" in str(info.value)
    assert "same resource group, storage account and container" in str(info.value)
