# Inputs come from config/infra_config.json and the Azure ML stack's attributes; the CDK app
# checks them against these blocks at synth (cdktf_app/_hcl_module.py).

variable "project_name" {
  type        = string
  description = "Existing Azure DevOps project (DEVOPS_PROJECT_NAME)."
}

variable "repository_name" {
  type        = string
  description = "Git repository in the project holding the pipeline YAML (REPOSITORY_NAME)."
}

variable "development_branch" {
  type        = string
  description = "Branch the pipelines build and the PR policies protect (DEVELOPMENT_BRANCH)."
}

variable "service_connection_name" {
  type        = string
  description = "AzureRM service connection name (AZURE_RM_SVC_CONNECTION)."
}

variable "infra_service_connection_name" {
  type        = string
  description = "The infrastructure pipeline's own service connection (AZURE_RM_INFRA_SVC_CONNECTION), created by the bootstrap."
}

variable "tenant_id" {
  type        = string
  description = "Entra ID tenant of the subscription."
}

variable "subscription_id" {
  type        = string
  description = "Subscription the service connection is scoped to."
}

variable "subscription_name" {
  type        = string
  description = "Display name of that subscription."
}

variable "pipeline_identity_id" {
  type        = string
  description = "Resource id of the user-assigned identity the pipelines run as."
}

variable "pipeline_identity_client_id" {
  type        = string
  description = "Client id of that identity (the service connection's service principal)."
}

variable "variable_group_name" {
  type        = string
  description = "Variable group every pipeline reads (VARIABLE_GROUP_NAME)."
}

variable "variables" {
  type        = map(string)
  description = "The variable group's contents. Names and ids only: never secrets."
}

variable "pipelines" {
  type = map(object({
    kind         = string       # infra | data | pr | ci | cd | monitor
    yml_path     = string       # e.g. .azure-pipelines/nyc_taxi_pr_dev_pipeline.yml
    path_filters = list(string) # repository paths; pr pipelines get a build-validation policy
  }))
  description = "One build definition per generated pipeline YAML (mlops.cicd.definitions)."
}

variable "pipelines_folder" {
  type        = string
  default     = "\\model-factory"
  description = "Folder of the build definitions in Azure Pipelines."
}

variable "approval_environment" {
  type        = string
  default     = ""
  description = "Azure DevOps environment the CD pipelines of this environment deploy to, with an approval check (\"\" = none: the environment takes no promotions)."
}

variable "approvers_group" {
  type        = string
  default     = "Project Administrators"
  description = "Project group whose members approve a deployment to approval_environment."
}
