"""The Azure DevOps stack of one infrastructure environment: its service connection and variable
group, the build definitions of its pipelines (mlops.cicd.definitions: each pipeline belongs to
one environment), branch policies, and for a promotion target the Azure DevOps environment its
CD pipelines deploy to, with an approval check.

No typed CDK bindings exist for the microsoft/azuredevops provider, so the resources live in
the HCL module terraform/modules/azure_devops; this stack feeds it from config, from the CI
pipeline list (mlops.cicd.definitions) and from the Azure ML stack's attributes, which cdktn
turns into remote-state references: nothing is retyped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cdktn import TerraformOutput, TerraformStack
from constructs import Construct

from cdktf_app._backend import azurerm_backend
from cdktf_app._hcl_module import hcl_module
from cdktf_app.azureml_stack import AzureMLStack, azurerm_provider
from mlops.azure_names import AzureSettings
from mlops.cicd.definitions import AZURE, definitions_for
from mlops.config import FactoryConfig, InfraConfig

MODULE_DIR = Path(__file__).resolve().parents[1] / "terraform" / "modules" / "azure_devops"
AZUREDEVOPS_PROVIDER = {"source": "microsoft/azuredevops", "version": ">= 1.0, < 2.0"}


def pipeline_inputs(config: FactoryConfig, env: str) -> dict[str, dict[str, Any]]:
    """The module's ``pipelines`` input: one entry per generated pipeline YAML of ``env``."""
    return {d.name: {"kind": d.kind, "yml_path": d.azure_path,
                     "path_filters": list(d.path_filters)}
            for d in definitions_for(config, AZURE) if d.env == env}


def approval_environment(config: FactoryConfig, env: str) -> str:
    """The Azure DevOps environment CD pipelines deploy to ("" when ``env`` has none): named
    after the infrastructure environment, as the generated CD YAML names it."""
    cd = any(d.kind == "cd" and d.env == env for d in definitions_for(config, AZURE))
    return env if cd else ""


def module_inputs(infra: InfraConfig, config: FactoryConfig,
                  azureml: AzureMLStack) -> dict[str, Any]:
    variables = {
        **azureml.pipeline_variables(),
        "AZURE_RM_SVC_CONNECTION": infra.azure_rm_svc_connection,
        "AZURE_RM_INFRA_SVC_CONNECTION": infra.infra_svc_connection,
        "AZDO_ORG_SERVICE_URL": azureml.settings.organization_url,
        "VARIABLE_GROUP_NAME": infra.variable_group_name,
        "NAMESPACE": infra.namespace,
        "PROJECTCODE": infra.projectcode,
        "VERSION": infra.version,
        "DEVELOPMENT_BRANCH": infra.development_branch,
        "FACTORY_TARGET": "azure",
        "FACTORY_INFRA_ENV": infra.env_name,
    }
    return {
        "project_name": infra.devops_project_name,
        "repository_name": infra.repository_name,
        "development_branch": infra.development_branch,
        "service_connection_name": infra.azure_rm_svc_connection,
        "infra_service_connection_name": infra.infra_svc_connection,
        "tenant_id": azureml.client.tenant_id,
        "subscription_id": azureml.client.subscription_id,
        "subscription_name": azureml.subscription.display_name,
        "pipeline_identity_id": azureml.pipeline_identity.id,
        "pipeline_identity_client_id": azureml.pipeline_identity.client_id,
        "variable_group_name": infra.variable_group_name,
        "variables": variables,
        "pipelines": pipeline_inputs(config, infra.env_name),
        "approval_environment": approval_environment(config, infra.env_name),
    }


class AzureDevOpsStack(TerraformStack):
    """Composes terraform/modules/azure_devops; inputs are checked against it at synth."""

    def __init__(self, scope: Construct, stack_id: str, *, infra: InfraConfig,
                 config: FactoryConfig, azureml: AzureMLStack, settings: AzureSettings,
                 backends_dir: Path | None = None, module_dir: Path = MODULE_DIR):
        super().__init__(scope, stack_id)
        # The module's federated credential needs azurerm.
        azurerm_provider(self, settings)
        # Declared here too so the module's "azuredevops" means microsoft/azuredevops in the
        # root as well (else Terraform looks for hashicorp/azuredevops). Its organisation is
        # config (not a secret); its credential comes from the environment only: ARM_USE_OIDC
        # with the pipeline's token, or AZDO_PERSONAL_ACCESS_TOKEN (mlops.infra.credentials).
        self.add_override("terraform.required_providers.azuredevops", AZUREDEVOPS_PROVIDER)
        self.add_override("provider.azuredevops", [{"org_service_url": settings.organization_url}])
        self.backend = azurerm_backend(self, stack_id, infra, settings.subscription_id,
                                       backends_dir)
        self.inputs = module_inputs(infra, config, azureml)
        self.module = hcl_module(self, "azure_devops", module_dir, self.inputs)
        for name in ("project_id", "service_connection_id", "variable_group_id"):
            TerraformOutput(self, name, value=self.module.get_string(name))
        TerraformOutput(self, "build_definition_ids",
                        value=self.module.get("build_definition_ids"))
