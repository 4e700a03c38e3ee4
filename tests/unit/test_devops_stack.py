"""The synthesised Azure DevOps stack: the HCL module fed from config, from the CI pipeline list
and from the Azure ML stack (by remote state, never retyped); bad module inputs fail at synth."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import hcl2
import pytest

from cdktf_app.devops_stack import MODULE_DIR
from mlops.cicd.definitions import AZURE, definitions_for
from mlops.config import load_config
from mlops.errors import FactoryError
from mlops.plugins import model_filters


@pytest.fixture(scope="module")
def config():
    return load_config()


@pytest.fixture(scope="module")
def infra(config):
    return config.infra_env("dev")


@pytest.fixture(scope="module")
def synthesised(azure_stacks) -> Path:
    return azure_stacks


@pytest.fixture(scope="module")
def stack(synthesised) -> dict:
    return json.loads((synthesised / "azure_devops" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def azureml(synthesised) -> dict:
    return json.loads((synthesised / "azureml" / "cdk.tf.json").read_text())


@pytest.fixture(scope="module")
def module(stack) -> dict:
    return stack["module"]["azure_devops"]


@pytest.fixture(scope="module")
def main_tf() -> dict:
    with (MODULE_DIR / "main.tf").open() as handle:
        return hcl2.load(handle)


def _resource(main_tf: dict, rtype: str, name: str) -> dict:
    for block in main_tf["resource"]:
        if f'"{rtype}"' in block:
            body = block[f'"{rtype}"']
            if f'"{name}"' in body:
                return body[f'"{name}"']
    raise AssertionError(f"{rtype}.{name} not in main.tf")


def _producer(stack: dict, azureml: dict, reference: str) -> str:
    """The Azure ML stack expression behind a remote-state reference of the DevOps stack."""
    match = re.fullmatch(r"\$\{data\.terraform_remote_state\.([^.]+)\.outputs\.([^}]+)\}",
                         reference)
    assert match, f"not a remote-state reference: {reference}"
    assert stack["data"]["terraform_remote_state"][match.group(1)]["config"] == \
        azureml["terraform"]["backend"]["azurerm"]
    return azureml["output"][match.group(2)]["value"]


def test_module_is_copied_next_to_the_stack(synthesised, module):
    source = module["source"]
    assert source.startswith("./assets/")
    copy = synthesised / "azure_devops" / source
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf"):
        assert (copy / name).read_text() == (MODULE_DIR / name).read_text()


def test_names_come_from_config(module, infra):
    assert module["project_name"] == infra.devops_project_name
    assert module["repository_name"] == infra.repository_name
    assert module["development_branch"] == infra.development_branch
    assert module["service_connection_name"] == infra.azure_rm_svc_connection
    assert module["variable_group_name"] == "mlops_platform_dev_vg" == infra.variable_group_name


def test_variable_group_carries_the_workspace_from_the_azureml_stack(stack, azureml, module):
    variables = module["variables"]
    ws = "azurerm_machine_learning_workspace.ml_workspace"
    assert _producer(stack, azureml, variables["WORKSPACE_NAME"]) == "${" + ws + ".name}"
    assert _producer(stack, azureml, variables["RESOURCE_GROUP_NAME"]) == \
        "${data.azurerm_resource_group.resource_group.name}"
    assert _producer(stack, azureml, variables["CLUSTER_NAME"]) == \
        "${azurerm_machine_learning_compute_cluster.compute.name}"
    assert _producer(stack, azureml, variables["BATCH_CLUSTER_NAME"]) == \
        "${azurerm_machine_learning_compute_cluster.batch_compute.name}"


def test_variable_group_has_every_variable_the_pipelines_read(module, infra, azure_settings):
    variables = module["variables"]
    assert {"SUBSCRIPTION_ID", "TENANT_ID", "RESOURCE_GROUP_NAME", "LOCATION", "WORKSPACE_NAME",
            "CLUSTER_NAME", "BATCH_CLUSTER_NAME", "AZURE_RM_SVC_CONNECTION", "MLFLOW_TRACKING_URI",
            "AZURE_CLIENT_ID", "FACTORY_TARGET", "ARM_SUBSCRIPTION_ID", "AZDO_ORG_SERVICE_URL",
            "AZURE_RM_INFRA_SVC_CONNECTION"} <= set(variables)
    assert variables["AZURE_RM_SVC_CONNECTION"] == infra.azure_rm_svc_connection
    assert variables["AZURE_RM_INFRA_SVC_CONNECTION"] == infra.infra_svc_connection
    assert variables["FACTORY_TARGET"] == "azure"
    # Azure Pipelines maps non-secret variables to environment variables: every step of every
    # pipeline gets the subscription azurerm and its backend need, and the organisation.
    assert variables["ARM_SUBSCRIPTION_ID"] == variables["SUBSCRIPTION_ID"] == \
        azure_settings.subscription_id
    assert variables["AZDO_ORG_SERVICE_URL"] == azure_settings.organization_url


def test_azuredevops_provider_has_the_organisation_and_no_credential(stack, azure_settings):
    # org_service_url is required (AZDO_ORG_SERVICE_URL otherwise); credentials come from the
    # environment only (terraform-provider-azuredevops docs, index: Argument Reference).
    provider = stack["provider"]["azuredevops"][0]
    assert provider == {"org_service_url": azure_settings.organization_url}
    assert stack["provider"]["azurerm"][0]["subscription_id"] == azure_settings.subscription_id


def test_only_the_infrastructure_pipeline_may_use_its_service_connection(main_tf, module, infra):
    assert module["infra_service_connection_name"] == infra.infra_svc_connection
    locals_ = {k: v for block in main_tf["locals"] for k, v in block.items()}
    assert 'p.kind == "infra"' in locals_["infra_pipelines"]
    assert 'p.kind != "infra"' in locals_["model_pipelines"]
    infra_auth = _resource(main_tf, "azuredevops_pipeline_authorization",
                           "infra_service_connection")
    model_auth = _resource(main_tf, "azuredevops_pipeline_authorization", "service_connection")
    assert infra_auth["for_each"] == "${local.infra_pipelines}"
    assert infra_auth["resource_id"] == "${data.azuredevops_serviceendpoint_azurerm.infra.id}"
    assert model_auth["for_each"] == "${local.model_pipelines}"
    assert model_auth["resource_id"] == "${azuredevops_serviceendpoint_azurerm.this.id}"


def test_service_connection_inputs_reference_the_azureml_stack(stack, azureml, module):
    assert _producer(stack, azureml, module["pipeline_identity_client_id"]) == \
        "${azurerm_user_assigned_identity.pipeline_identity.client_id}"
    assert _producer(stack, azureml, module["pipeline_identity_id"]) == \
        "${azurerm_user_assigned_identity.pipeline_identity.id}"
    assert _producer(stack, azureml, module["subscription_name"]) == \
        "${data.azurerm_subscription.subscription.display_name}"


def test_one_build_definition_per_generated_pipeline_yaml_of_the_environment(config, module,
                                                                            main_tf):
    """Each environment's stack creates the build definitions of its own pipelines: two
    environments never both claim one (a definition name is unique in the project)."""
    definitions = [d for d in definitions_for(config, AZURE) if d.env == "dev"]
    assert module["pipelines"] == {
        d.name: {"kind": d.kind, "yml_path": d.azure_path, "path_filters": list(d.path_filters)}
        for d in definitions}
    assert "infra_provision_prod_pipeline" not in module["pipelines"]
    assert not [d for d in definitions if d.kind == "cd"]
    assert module["approval_environment"] == ""  # dev takes no promotions
    build = _resource(main_tf, "azuredevops_build_definition", "pipeline")
    assert build["for_each"] == "${var.pipelines}"
    assert build["name"] == "${each.key}"
    assert build["repository"][0]["yml_path"] == "${each.value.yml_path}"
    kinds = sorted(d.kind for d in definitions)
    assert kinds.count("pr") == kinds.count("ci") == len(config.model_names)


def test_branch_policies_use_each_pr_pipelines_path_filters(config, module, main_tf):
    prs = {name: p for name, p in module["pipelines"].items() if p["kind"] == "pr"}
    assert prs == {d.name: {"kind": "pr", "yml_path": d.azure_path,
                            "path_filters": list(d.path_filters)}
                   for d in definitions_for(config, AZURE) if d.kind == "pr"}
    for model in config.model_names:
        assert prs[f"{model}_pr_dev_pipeline"]["path_filters"] == \
            list(model_filters(config.entry(model, "pr").path_filters))
    locals_ = {k: v for block in main_tf["locals"] for k, v in block.items()}
    assert 'p.kind == "pr"' in locals_["pr_pipelines"]
    policy = _resource(main_tf, "azuredevops_branch_policy_build_validation", "pr")
    assert policy["for_each"] == "${local.pr_pipelines}"
    settings = policy["settings"][0]
    assert "each.value.path_filters" in settings["filename_patterns"]
    assert settings["build_definition_id"] == \
        "${azuredevops_build_definition.pipeline[each.key].id}"
    assert settings["scope"][0]["repository_ref"] == "${local.branch_ref}"


def test_a_promotion_target_gets_its_cd_pipelines_and_an_approved_environment(
        config, azure_settings, tmp_path, main_tf):
    """prod's stack: its infrastructure and CD pipelines, and the Azure DevOps environment its
    CD deployment jobs name, with an approval check by the approvers group (azuredevops
    provider: azuredevops_environment, azuredevops_check_approval with target_resource_type
    "environment"; a pipeline must be authorised for an environment before it can use it)."""
    from cdktf_app.app import synth

    synth(config, "azure", tmp_path, settings=azure_settings, env="prod")
    prod = json.loads((tmp_path / "stacks" / "azure_devops" / "cdk.tf.json").read_text())
    inputs = prod["module"]["azure_devops"]
    assert set(inputs["pipelines"]) == {"infra_provision_prod_pipeline", *(
        f"{m}_cd_prod_pipeline" for m in config.model_names)}
    assert inputs["approval_environment"] == "prod"
    assert inputs["service_connection_name"] == config.infra_env("prod").azure_rm_svc_connection
    assert inputs["variable_group_name"] == "mlops_platform_prod_vg"
    check = _resource(main_tf, "azuredevops_check_approval", "promotion")
    assert check["target_resource_type"] == '"environment"'
    assert "azuredevops_environment.promotion" in check["target_resource_id"]
    assert check["requester_can_approve"] is False
    authorization = _resource(main_tf, "azuredevops_pipeline_authorization",
                              "promotion_environment")
    assert authorization["type"] == '"environment"'
    assert authorization["for_each"] == "${local.promotions == {} ? {} : local.cd_pipelines}"


def test_service_connection_uses_workload_identity_federation_without_secret(main_tf):
    endpoint = _resource(main_tf, "azuredevops_serviceendpoint_azurerm", "this")
    assert endpoint["service_endpoint_authentication_scheme"] == '"WorkloadIdentityFederation"'
    assert endpoint["service_endpoint_name"] == "${var.service_connection_name}"
    assert set(endpoint["credentials"][0]) - {"__is_block__"} == {"serviceprincipalid"}
    federated = _resource(main_tf, "azurerm_federated_identity_credential", "service_connection")
    assert "workload_identity_federation_subject" in federated["subject"]


def test_root_declares_the_module_providers(stack):
    providers = stack["terraform"]["required_providers"]
    assert providers["azuredevops"]["source"] == "microsoft/azuredevops"
    assert providers["azurerm"]["source"] in ("azurerm", "hashicorp/azurerm")
    versions = hcl2.load((MODULE_DIR / "versions.tf").open())["terraform"][0]
    declared = versions["required_providers"][0]["azuredevops"]
    assert declared["source"].strip('"') == providers["azuredevops"]["source"]
    assert declared["version"].strip('"') == providers["azuredevops"]["version"]


def test_devops_state_has_its_own_blob(stack, azureml):
    ours = stack["terraform"]["backend"]["azurerm"]
    theirs = azureml["terraform"]["backend"]["azurerm"]
    assert ours["key"].startswith("azure_devops/") and theirs["key"].startswith("azureml/")
    assert ours["storage_account_name"] == theirs["storage_account_name"]


def test_no_secret_in_the_synthesised_stack(stack):
    from mlops.iac_scan import secret_references

    assert secret_references(stack) == []


def _synth_with_module(config, infra, module_dir: Path, outdir: Path) -> None:
    from cdktn import App

    from cdktf_app.azureml_stack import AzureMLStack
    from cdktf_app.devops_stack import AzureDevOpsStack
    from mlops.azure_names import SCAN_ORGANIZATION, SCAN_SUBSCRIPTION, AzureSettings

    settings = AzureSettings(SCAN_SUBSCRIPTION, SCAN_ORGANIZATION)
    app = App(outdir=str(outdir))
    azureml = AzureMLStack(app, "azureml", infra=infra, settings=settings)
    AzureDevOpsStack(app, "azure_devops", infra=infra, config=config, azureml=azureml,
                     settings=settings, module_dir=module_dir)
    app.synth()


def test_synth_fails_on_a_missing_required_module_input(config, infra, tmp_path):
    module_dir = tmp_path / "azure_devops"
    shutil.copytree(MODULE_DIR, module_dir)
    with (module_dir / "variables.tf").open("a") as handle:
        handle.write('\nvariable "agent_pool" {\n  type = string\n}\n')
    with pytest.raises(FactoryError) as info:
        _synth_with_module(config, infra, module_dir, tmp_path / "out")
    assert str(module_dir) in str(info.value)
    assert "missing required input 'agent_pool'" in str(info.value)
    assert not (tmp_path / "out" / "stacks" / "azure_devops").exists()


def test_synth_fails_on_an_unknown_module_input(config, infra, tmp_path):
    module_dir = tmp_path / "azure_devops"
    shutil.copytree(MODULE_DIR, module_dir)
    text = (module_dir / "variables.tf").read_text()
    text = re.sub(r'variable "repository_name" \{.*?\n\}\n', "", text, flags=re.S)
    (module_dir / "variables.tf").write_text(text)
    with pytest.raises(FactoryError) as info:
        _synth_with_module(config, infra, module_dir, tmp_path / "out")
    assert str(module_dir) in str(info.value)
    assert "unknown input 'repository_name'" in str(info.value)
