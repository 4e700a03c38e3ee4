terraform {
  required_version = ">= 1.6"

  required_providers {
    # No typed CDK bindings exist for Azure DevOps, hence this hand-written module.
    azuredevops = {
      source  = "microsoft/azuredevops"
      version = ">= 1.0, < 2.0"
    }
    # Only for the federated credential that trusts the service connection.
    azurerm = {
      source  = "hashicorp/azurerm"
      version = ">= 5.0, < 6.0"
    }
  }
}
