"""The Azure ML stack: the workspace the azure platform trains, registers and serves in.

In the bootstrap's resource group: storage (HTTPS + TLS 1.2 only, no public blobs, no shared
keys), key vault (RBAC, soft delete, purge protection), Log Analytics + workspace-based
Application Insights, container registry (no admin user), the Azure ML workspace linking the
four, the training and batch compute clusters, the identity the model pipelines run as, and the
role assignments mlops.identities gives Terraform. Names: mlops.azure_names.

Promotion: the first environment of a promotion chain (one others name in PROMOTE_FROM) also
creates the Azure ML registry the chain shares. azurerm has no registry resource
(hashicorp/terraform-provider-azurerm#22565 open, #32613 unmerged), so it is an azapi_resource
of Microsoft.MachineLearningServices/registries, the body the REST API documents
(how-to-manage-registries: a region per workspace location, system-created storage and a Premium
container registry). A promotion target reads its source's workspace (a data source) and grants
its own model pipelines the roles mlops.identities gives them there and on the registry.

Outputs hold names and ids only: no key, connection string or instrumentation key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from cdktn import TerraformOutput, TerraformResource, TerraformStack
from cdktn_provider_azurerm.application_insights import ApplicationInsights
from cdktn_provider_azurerm.container_registry import ContainerRegistry
from cdktn_provider_azurerm.data_azurerm_client_config import DataAzurermClientConfig
from cdktn_provider_azurerm.data_azurerm_machine_learning_workspace import (
    DataAzurermMachineLearningWorkspace,
)
from cdktn_provider_azurerm.data_azurerm_resource_group import DataAzurermResourceGroup
from cdktn_provider_azurerm.data_azurerm_subscription import DataAzurermSubscription
from cdktn_provider_azurerm.key_vault import KeyVault, KeyVaultNetworkAcls
from cdktn_provider_azurerm.log_analytics_workspace import LogAnalyticsWorkspace
from cdktn_provider_azurerm.machine_learning_compute_cluster import (
    MachineLearningComputeCluster,
    MachineLearningComputeClusterIdentity,
    MachineLearningComputeClusterScaleSettings,
)
from cdktn_provider_azurerm.machine_learning_workspace import (
    MachineLearningWorkspace,
    MachineLearningWorkspaceIdentity,
)
from cdktn_provider_azurerm.provider import (
    AzurermProvider,
    AzurermProviderFeatures,
    AzurermProviderFeaturesKeyVault,
    AzurermProviderFeaturesMachineLearning,
)
from cdktn_provider_azurerm.role_assignment import RoleAssignment
from cdktn_provider_azurerm.storage_account import (
    StorageAccount,
    StorageAccountBlobProperties,
    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy,
    StorageAccountBlobPropertiesDeleteRetentionPolicy,
)
from cdktn_provider_azurerm.user_assigned_identity import UserAssignedIdentity
from constructs import Construct

from cdktf_app._backend import azurerm_backend, backend_file, backend_settings, state_container_id
from mlops import identities
from mlops.azure_names import AzureNames, AzureSettings, promotion_chain, registry_home
from mlops.config import FactoryConfig, InfraConfig
from mlops.errors import FactoryError

SOFT_DELETE_DAYS = 30
AZAPI_PROVIDER = {"source": "Azure/azapi", "version": ">= 2.0, < 3.0"}
REGISTRY_API = "Microsoft.MachineLearningServices/registries@2024-04-01"


def iso_duration(seconds: int) -> str:
    """300 -> "PT5M": the form Azure returns, so plans show no spurious change."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return f"PT{text or '0S'}"


class Monitoring(Construct):
    """Log Analytics and the workspace-based Application Insights that writes into it."""

    def __init__(self, scope: Construct, construct_id: str, *, names: AzureNames,
                 resource_group: DataAzurermResourceGroup, tags: dict[str, str]):
        super().__init__(scope, construct_id)
        self.log_analytics = LogAnalyticsWorkspace(
            self, "log_analytics", name=names.log_analytics, location=resource_group.location,
            resource_group_name=resource_group.name, sku="PerGB2018", retention_in_days=30,
            tags=tags)
        self.application_insights = ApplicationInsights(
            self, "application_insights", name=names.application_insights,
            location=resource_group.location, resource_group_name=resource_group.name,
            application_type="web", workspace_id=self.log_analytics.id,
            local_authentication_enabled=False, tags=tags)
        # Readable logical ids: these names appear in plans and checkov findings.
        self.log_analytics.override_logical_id("log_analytics")
        self.application_insights.override_logical_id("application_insights")


class ComputeCluster(Construct):
    """An Azure ML compute cluster scaling between min and max nodes, with its own identity
    (it pulls images and reads/writes data as itself, never with keys)."""

    def __init__(self, scope: Construct, construct_id: str, *, name: str, vm_size: str,
                 min_nodes: int, max_nodes: int, idle_seconds: int,
                 workspace: MachineLearningWorkspace, tags: dict[str, str]):
        super().__init__(scope, construct_id)
        self.cluster = MachineLearningComputeCluster(
            self, "cluster", name=name, location=workspace.location,
            machine_learning_workspace_id=workspace.id, vm_size=vm_size,
            vm_priority="Dedicated", local_auth_enabled=False, ssh_public_access_enabled=False,
            identity=MachineLearningComputeClusterIdentity(type="SystemAssigned"),
            scale_settings=MachineLearningComputeClusterScaleSettings(
                min_node_count=min_nodes, max_node_count=max_nodes,
                scale_down_nodes_after_idle_duration=iso_duration(idle_seconds)),
            tags=tags)
        self.cluster.override_logical_id(construct_id)


def azurerm_provider(stack: TerraformStack, settings: AzureSettings) -> AzurermProvider:
    """azurerm as both Azure stacks configure it. subscription_id: required since azurerm 4.0
    (its provider stops with "subscription_id is a required provider property" otherwise).
    Features (azurerm "The Features Block" guide) so that destroy then provision with the same
    names works: a destroyed workspace is purged from Azure ML's soft delete (else its name stays
    taken for 14 days); a key vault cannot be purged under purge protection, so re-creating its
    name recovers the soft-deleted vault instead. No automatic resource provider registration:
    it needs subscription-wide rights the infrastructure pipeline does not have; the bootstrap
    registers the providers once."""
    return AzurermProvider(
        stack, "azurerm", subscription_id=settings.subscription_id, storage_use_azuread=True,
        resource_provider_registrations="none",
        features=[AzurermProviderFeatures(
            machine_learning=[AzurermProviderFeaturesMachineLearning(
                purge_soft_deleted_workspace_on_destroy=True)],
            key_vault=[AzurermProviderFeaturesKeyVault(
                purge_soft_delete_on_destroy=False, recover_soft_deleted_key_vaults=True)])])


class AzureMLStack(TerraformStack):
    """All Azure resources of one infrastructure environment (config/infra_config.json)."""

    def __init__(self, scope: Construct, stack_id: str, *, infra: InfraConfig,
                 settings: AzureSettings, backends_dir: Path | None = None,
                 config: FactoryConfig | None = None):
        super().__init__(scope, stack_id)
        self.infra, self.settings = infra, settings
        self.names = names = AzureNames.of(infra, settings.subscription_id)
        tags = {"project": "model-factory", "environment": infra.env_name,
                "managed-by": "terraform"}

        azurerm_provider(self, settings)
        self.backend = azurerm_backend(self, stack_id, infra, settings.subscription_id,
                                       backends_dir)
        self.client = DataAzurermClientConfig(self, "current")
        self.subscription = DataAzurermSubscription(self, "subscription")
        # Created by the bootstrap, read here: destroying the stack must not delete the group
        # that holds the infrastructure pipeline's own role assignments.
        self.resource_group = rg = DataAzurermResourceGroup(self, "resource_group",
                                                            name=names.resource_group)
        self.storage = self._storage(rg, tags)
        self.key_vault = KeyVault(
            self, "key_vault", name=names.key_vault, location=rg.location,
            resource_group_name=rg.name, tenant_id=self.client.tenant_id, sku_name="standard",
            rbac_authorization_enabled=True, purge_protection_enabled=True,
            soft_delete_retention_days=90,
            # Only trusted Azure services (Azure ML) reach the vault; nobody needs it directly.
            network_acls=KeyVaultNetworkAcls(default_action="Deny", bypass="AzureServices"),
            tags=tags)
        self.monitoring = Monitoring(self, "monitoring", names=names, resource_group=rg,
                                     tags=tags)
        self.container_registry = ContainerRegistry(
            self, "container_registry", name=names.container_registry, location=rg.location,
            resource_group_name=rg.name, sku="Standard", admin_enabled=False,
            anonymous_pull_enabled=False, tags=tags)
        self.workspace = MachineLearningWorkspace(
            self, "ml_workspace", name=names.workspace, friendly_name=names.workspace,
            location=rg.location, resource_group_name=rg.name,
            storage_account_id=self.storage.id, key_vault_id=self.key_vault.id,
            application_insights_id=self.monitoring.application_insights.id,
            container_registry_id=self.container_registry.id,
            identity=MachineLearningWorkspaceIdentity(type="SystemAssigned"),
            storage_account_access_type="Identity",  # shared keys are disabled on the store
            v1_legacy_mode_enabled=False, sku_name="Basic", tags=tags)
        self.compute = ComputeCluster(
            self, "compute", name=infra.cluster_name, vm_size=infra.cluster_size,
            min_nodes=infra.cluster_min_nodes, max_nodes=infra.cluster_max_nodes,
            idle_seconds=infra.cluster_idle_seconds_before_scaledown,
            workspace=self.workspace, tags=tags).cluster
        self.batch_compute = ComputeCluster(
            self, "batch_compute", name=infra.batch_cluster_name,
            vm_size=infra.batch_cluster_size, min_nodes=0,
            max_nodes=infra.batch_cluster_max_nodes,
            idle_seconds=infra.cluster_idle_seconds_before_scaledown,
            workspace=self.workspace, tags=tags).cluster
        self.pipeline_identity = UserAssignedIdentity(
            self, "pipeline_identity", name=names.pipeline_identity, location=rg.location,
            resource_group_name=rg.name, tags=tags)
        self.promotion_scopes: dict[str, str] = {}
        self.registry_name: str | None = None
        if config is not None:
            self._promotion(config, tags, backends_dir)
        self._role_assignments()
        self._outputs()

    def _promotion(self, config: FactoryConfig, tags: dict[str, str],
                   backends_dir: Path | None) -> None:
        """The shared registry (created here when this environment is its home) and, for a
        promotion target, the scopes of its grants: the source's workspace and the registry."""
        home = registry_home(config, self.infra)
        if home is None:
            return
        subscription = self.settings.subscription_id
        self.registry_name = AzureNames.of(home, subscription).registry
        if home == self.infra:
            chain = [e for e in config.infra.values() if promotion_chain(config, e)[-1] == home]
            locations = list(dict.fromkeys([home.location, *(e.location for e in chain)]))
            self.registry = self._registry(self.registry_name, locations, tags)
        source_name = self.infra.promote_from
        if source_name is None:
            return
        source = config.infra_env(source_name)
        _same_state(self.infra, source, subscription, backends_dir)
        source_names = AzureNames.of(source, subscription)
        self.source_workspace = DataAzurermMachineLearningWorkspace(
            self, "source_workspace", name=source_names.workspace,
            resource_group_name=source_names.resource_group)
        self.promotion_scopes = {
            "source_workspace": self.source_workspace.id,
            "registry": (f"/subscriptions/{subscription}/resourceGroups/"
                         f"{home.resource_group_name}/providers/"
                         f"Microsoft.MachineLearningServices/registries/{self.registry_name}")}

    def _registry(self, name: str, locations: list[str], tags: dict[str, str]
                  ) -> TerraformResource:
        self.add_override("terraform.required_providers.azapi", AZAPI_PROVIDER)
        # azapi authenticates as azurerm does (ARM_* environment, mlops.infra.credentials)
        self.add_override("provider.azapi", [{"subscription_id": self.settings.subscription_id}])
        registry = TerraformResource(self, "ml_registry", terraform_resource_type="azapi_resource")
        registry.add_override("type", REGISTRY_API)
        registry.add_override("name", name)
        registry.add_override("parent_id", self.resource_group.id)
        registry.add_override("location", locations[0])
        registry.add_override("identity", [{"type": "SystemAssigned"}])
        registry.add_override("tags", tags)
        registry.add_override("body", {"properties": {
            "publicNetworkAccess": "Enabled",
            "regionDetails": [{
                "location": location,
                "storageAccountDetails": [{"systemCreatedStorageAccount": {
                    "storageAccountType": "Standard_LRS", "storageAccountHnsEnabled": False}}],
                "acrDetails": [{"systemCreatedAcrAccount": {"acrAccountSku": "Premium"}}],
            } for location in locations]}})
        registry.override_logical_id("ml_registry")
        return registry

    def _storage(self, rg: DataAzurermResourceGroup, tags: dict[str, str]) -> StorageAccount:
        return StorageAccount(
            self, "storage_account", name=self.names.storage_account, location=rg.location,
            resource_group_name=rg.name, account_tier="Standard", account_replication_type="GRS",
            account_kind="StorageV2", https_traffic_only_enabled=True, min_tls_version="TLS1_2",
            allow_nested_items_to_be_public=False, shared_access_key_enabled=False,
            default_to_oauth_authentication=True, local_user_enabled=False,
            cross_tenant_replication_enabled=False,
            blob_properties=StorageAccountBlobProperties(
                delete_retention_policy=StorageAccountBlobPropertiesDeleteRetentionPolicy(
                    days=SOFT_DELETE_DAYS),
                container_delete_retention_policy=(
                    StorageAccountBlobPropertiesContainerDeleteRetentionPolicy(
                        days=SOFT_DELETE_DAYS))),
            tags=tags)

    def _role_assignments(self) -> None:
        """Exactly the role assignments mlops.identities says Terraform makes: identities, never
        keys. The ones Azure ML makes itself are left to it (assigning them again fails with
        RoleAssignmentExists)."""
        principals = {
            "model_pipeline": self.pipeline_identity.principal_id,
            "compute": self.compute.identity.principal_id,
            "batch_compute": self.batch_compute.identity.principal_id,
        }
        scopes = {
            "workspace": self.workspace.id, "storage": self.storage.id,
            "key_vault": self.key_vault.id, "container_registry": self.container_registry.id,
            "state_container": state_container_id(self.backend, self.settings.subscription_id),
            **self.promotion_scopes,  # promotion targets only
        }
        for grant in identities.grants(by="terraform"):
            if grant.scope not in scopes:
                continue
            role = re.sub(r"[^a-z0-9]+", "_", grant.role.lower()).strip("_")
            RoleAssignment(self, f"{grant.identity}_{role}_{grant.scope}",
                           scope=scopes[grant.scope], role_definition_name=grant.role,
                           principal_id=principals[grant.identity],
                           principal_type="ServicePrincipal", description=grant.why[:1024])

    @property
    def mlflow_tracking_uri(self) -> str:
        return (f"azureml://{self.workspace.location}.api.azureml.ms/mlflow/v1.0"
                f"{self.workspace.id}")

    def workspace_output(self) -> dict[str, Any]:
        """Same shape as mlops.records.Workspace.to_output() with target azure."""
        infra = self.infra
        return {
            "target": "azure",
            "name": self.workspace.name,
            "location": self.workspace.location,
            "compute": {"name": self.compute.name, "size": self.compute.vm_size,
                        "max_nodes": infra.cluster_max_nodes,
                        "min_nodes": infra.cluster_min_nodes},
            "batch_compute": {"name": self.batch_compute.name,
                              "size": self.batch_compute.vm_size,
                              "max_nodes": infra.batch_cluster_max_nodes, "min_nodes": 0},
            "mlflow_tracking_uri": self.mlflow_tracking_uri,
            "mlflow_registry_uri": self.mlflow_tracking_uri,
            "root": None, "artifact_root": None, "data_store": None, "endpoint_registry": None,
            "subscription_id": self.settings.subscription_id,
            "resource_group": self.resource_group.name,
            "endpoint_suffix": self.names.suffix,
            "endpoint_ports": None,
            "azureml_registry": self.registry_name,
        }

    def pipeline_variables(self) -> dict[str, str]:
        """What the pipelines read from the variable group, as references to this stack."""
        return {
            "SUBSCRIPTION_ID": self.settings.subscription_id,
            # azurerm and its backend read it: every pipeline step gets it from the group
            "ARM_SUBSCRIPTION_ID": self.settings.subscription_id,
            "TENANT_ID": self.client.tenant_id,
            "RESOURCE_GROUP_NAME": self.resource_group.name,
            "LOCATION": self.resource_group.location,
            "WORKSPACE_NAME": self.workspace.name,
            "CLUSTER_NAME": self.compute.name,
            "BATCH_CLUSTER_NAME": self.batch_compute.name,
            "STORAGE_ACCOUNT_NAME": self.storage.name,
            "KEY_VAULT_NAME": self.key_vault.name,
            "CONTAINER_REGISTRY_NAME": self.container_registry.name,
            "APPLICATION_INSIGHTS_NAME": self.monitoring.application_insights.name,
            "MLFLOW_TRACKING_URI": self.mlflow_tracking_uri,
            "AZURE_CLIENT_ID": self.pipeline_identity.client_id,
            **({"AZUREML_REGISTRY_NAME": self.registry_name} if self.registry_name else {}),
        }

    def _outputs(self) -> None:
        TerraformOutput(self, "workspace", value=self.workspace_output(),
                        description="The workspace description (mlops.records.Workspace)")
        plain = {
            "workspace_name": self.workspace.name,
            "workspace_id": self.workspace.id,
            "resource_group_name": self.resource_group.name,
            "location": self.resource_group.location,
            "subscription_id": self.settings.subscription_id,
            "storage_account_name": self.storage.name,
            "key_vault_name": self.key_vault.name,
            "container_registry_name": self.container_registry.name,
            "application_insights_name": self.monitoring.application_insights.name,
            "pipeline_identity_client_id": self.pipeline_identity.client_id,
        }
        for name, value in plain.items():
            TerraformOutput(self, name, value=value)


def _same_state(target: InfraConfig, source: InfraConfig, subscription: str,
                backends_dir: Path | None) -> None:
    """A promotion target's model pipelines read the source's Terraform outputs with the read
    access they hold on their own state container: both must keep their state there."""
    mine = backend_settings(target, subscription, backends_dir)
    theirs = backend_settings(source, subscription, backends_dir)
    if state_container_id(mine, subscription) != state_container_id(theirs, subscription):
        raise FactoryError(
            f"{backend_file(target.env_name, backends_dir)} and "
            f"{backend_file(source.env_name, backends_dir)}: {target.env_name} takes models from "
            f"{source.env_name} (PROMOTE_FROM) and reads its outputs, so both keep their state "
            "in the same resource group, storage account and container (expected the same "
            "resource_group_name, container_name and storage account; a different key each)")
