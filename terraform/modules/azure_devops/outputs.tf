output "project_id" {
  value = data.azuredevops_project.this.id
}

output "service_connection_id" {
  value = azuredevops_serviceendpoint_azurerm.this.id
}

output "variable_group_id" {
  value = azuredevops_variable_group.this.id
}

output "build_definition_ids" {
  value = { for name, d in azuredevops_build_definition.pipeline : name => d.id }
}

output "branch_policy_ids" {
  value = { for name, p in azuredevops_branch_policy_build_validation.pr : name => p.id }
}

output "promotion_environment_id" {
  value = { for name, e in azuredevops_environment.promotion : name => e.id }
}
