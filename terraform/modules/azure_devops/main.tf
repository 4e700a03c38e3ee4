locals {
  branch_ref      = "refs/heads/${var.development_branch}"
  pr_pipelines    = { for name, p in var.pipelines : name => p if p.kind == "pr" }
  infra_pipelines = { for name, p in var.pipelines : name => p if p.kind == "infra" }
  model_pipelines = { for name, p in var.pipelines : name => p if p.kind != "infra" }
  cd_pipelines    = { for name, p in var.pipelines : name => p if p.kind == "cd" }
  promotions      = var.approval_environment == "" ? {} : { (var.approval_environment) = true }
}

data "azuredevops_project" "this" {
  name = var.project_name
}

data "azuredevops_git_repository" "this" {
  project_id = data.azuredevops_project.this.id
  name       = var.repository_name
}

# Workload identity federation: Azure DevOps gets tokens for the pipeline identity from
# Entra ID by federation, so no client secret exists anywhere.
resource "azuredevops_serviceendpoint_azurerm" "this" {
  project_id                             = data.azuredevops_project.this.id
  service_endpoint_name                  = var.service_connection_name
  description                            = "Model Factory pipelines (managed by Terraform)"
  service_endpoint_authentication_scheme = "WorkloadIdentityFederation"
  azurerm_spn_tenantid                   = var.tenant_id
  azurerm_subscription_id                = var.subscription_id
  azurerm_subscription_name              = var.subscription_name

  credentials {
    serviceprincipalid = var.pipeline_identity_client_id
  }
}

resource "azurerm_federated_identity_credential" "service_connection" {
  name                      = "ado-${var.service_connection_name}"
  user_assigned_identity_id = var.pipeline_identity_id
  audience                  = ["api://AzureADTokenExchange"]
  issuer                    = azuredevops_serviceendpoint_azurerm.this.workload_identity_federation_issuer
  subject                   = azuredevops_serviceendpoint_azurerm.this.workload_identity_federation_subject
}

resource "azuredevops_variable_group" "this" {
  project_id   = data.azuredevops_project.this.id
  name         = var.variable_group_name
  description  = "Model Factory platform settings (managed by Terraform; names and ids only)"
  allow_access = false # each pipeline is authorised explicitly below

  dynamic "variable" {
    for_each = var.variables
    content {
      name  = variable.key
      value = variable.value
    }
  }
}

resource "azuredevops_build_definition" "pipeline" {
  for_each = var.pipelines

  project_id      = data.azuredevops_project.this.id
  name            = each.key
  path            = var.pipelines_folder
  variable_groups = [azuredevops_variable_group.this.id]

  ci_trigger {
    use_yaml = true
  }

  repository {
    repo_type   = "TfsGit"
    repo_id     = data.azuredevops_git_repository.this.id
    branch_name = local.branch_ref
    yml_path    = each.value.yml_path
  }
}

# The bootstrap creates the infrastructure pipeline's privileged connection (a pipeline cannot
# create the connection it runs with); only the infrastructure pipeline may use it.
data "azuredevops_serviceendpoint_azurerm" "infra" {
  project_id            = data.azuredevops_project.this.id
  service_endpoint_name = var.infra_service_connection_name
}

resource "azuredevops_pipeline_authorization" "infra_service_connection" {
  for_each = local.infra_pipelines

  project_id  = data.azuredevops_project.this.id
  resource_id = data.azuredevops_serviceendpoint_azurerm.infra.id
  type        = "endpoint"
  pipeline_id = azuredevops_build_definition.pipeline[each.key].id
}

# The model pipelines' connection: never authorised for the infrastructure pipeline, and the
# model pipelines never get the infrastructure one.
resource "azuredevops_pipeline_authorization" "service_connection" {
  for_each = local.model_pipelines

  project_id  = data.azuredevops_project.this.id
  resource_id = azuredevops_serviceendpoint_azurerm.this.id
  type        = "endpoint"
  pipeline_id = azuredevops_build_definition.pipeline[each.key].id
}

resource "azuredevops_pipeline_authorization" "variable_group" {
  for_each = var.pipelines

  project_id  = data.azuredevops_project.this.id
  resource_id = azuredevops_variable_group.this.id
  type        = "variablegroup"
  pipeline_id = azuredevops_build_definition.pipeline[each.key].id
}

# A PR into the development branch that touches a model's paths must pass its PR build.
resource "azuredevops_branch_policy_build_validation" "pr" {
  for_each = local.pr_pipelines

  project_id = data.azuredevops_project.this.id
  enabled    = true
  blocking   = true

  settings {
    display_name        = "${each.key} build validation"
    build_definition_id = azuredevops_build_definition.pipeline[each.key].id
    valid_duration      = 720
    # Azure Repos path filters are rooted at the repository: "/mlops/nyc_taxi/*".
    filename_patterns = [for p in each.value.path_filters : startswith(p, "/") ? p : "/${p}"]

    scope {
      repository_id  = data.azuredevops_git_repository.this.id
      repository_ref = local.branch_ref
      match_type     = "Exact"
    }
  }
}

# Promotion target: the environment its CD pipelines' deployment jobs run on, and the approval
# check that holds each deployment until a member of the approvers group approves it.
resource "azuredevops_environment" "promotion" {
  for_each = local.promotions

  project_id  = data.azuredevops_project.this.id
  name        = each.key
  description = "Model Factory: promotions into ${each.key} (managed by Terraform)"
}

data "azuredevops_group" "approvers" {
  for_each = local.promotions

  project_id = data.azuredevops_project.this.id
  name       = var.approvers_group
}

resource "azuredevops_check_approval" "promotion" {
  for_each = local.promotions

  project_id            = data.azuredevops_project.this.id
  target_resource_type  = "environment"
  target_resource_id    = azuredevops_environment.promotion[each.key].id
  approvers             = [data.azuredevops_group.approvers[each.key].origin_id]
  requester_can_approve = false
  instructions          = "Promote the approved model version into ${each.key}: the same artifact, digest-checked, with its lineage (nox -s promote)."
  timeout               = 4320
}

resource "azuredevops_pipeline_authorization" "promotion_environment" {
  for_each = local.promotions == {} ? {} : local.cd_pipelines

  project_id  = data.azuredevops_project.this.id
  resource_id = azuredevops_environment.promotion[var.approval_environment].id
  type        = "environment"
  pipeline_id = azuredevops_build_definition.pipeline[each.key].id
}
