"""Terraform authenticates with what the CI system gives: Azure DevOps' federated token
(AzureCLI@2 addSpnToEnvironment), GitHub's OIDC; and the azuredevops provider's credential is
checked before Terraform runs."""

from __future__ import annotations

from mlops.infra.credentials import devops_credential_problems, terraform_env

ADO = {"servicePrincipalId": "client", "tenantId": "tenant", "idToken": "federated-token"}


def test_azure_devops_federated_token_becomes_arm_oidc():
    # azurerm's CLI authentication is for users only ("Authenticating using the Azure CLI is
    # only supported as a User (not a Service Principal)"): hand Terraform the token instead.
    env = terraform_env({**ADO, "PATH": "/bin"})
    assert env["ARM_USE_OIDC"] == "true" and env["ARM_USE_CLI"] == "false"
    assert (env["ARM_CLIENT_ID"], env["ARM_TENANT_ID"], env["ARM_OIDC_TOKEN"]) == \
        ("client", "tenant", "federated-token")
    assert env["PATH"] == "/bin"


def test_github_oidc_names_the_identity():
    env = terraform_env({"ACTIONS_ID_TOKEN_REQUEST_URL": "https://x", "AZURE_CLIENT_ID": "c",
                         "AZURE_TENANT_ID": "t"})
    assert (env["ARM_USE_OIDC"], env["ARM_CLIENT_ID"], env["ARM_TENANT_ID"]) == ("true", "c", "t")


def test_explicit_configuration_and_a_person_are_left_alone():
    explicit = {**ADO, "ARM_USE_OIDC": "true", "ARM_CLIENT_ID": "other"}
    assert terraform_env(explicit) == explicit
    assert terraform_env({"HOME": "/root"}) == {"HOME": "/root"}  # az login: nothing to map


def test_azuredevops_provider_needs_a_pat_or_oidc():
    problems = devops_credential_problems({})
    assert len(problems) == 1 and "AZDO_PERSONAL_ACCESS_TOKEN" in problems[0]
    assert "addSpnToEnvironment" in problems[0]
    assert devops_credential_problems({"AZDO_PERSONAL_ACCESS_TOKEN": "pat"}) == []
    assert devops_credential_problems(ADO) == []
