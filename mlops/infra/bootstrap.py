"""bootstrap: what the pipelines need before any pipeline can run, created once by an
administrator (`az login` as a person with Owner on the subscription and Project Administrator
in the Azure DevOps project), then the first apply.

A pipeline cannot create the storage that keeps its own state, the identity it runs as, or the
service connection it authenticates with. So, with the Azure CLI (each command printed before
it runs; every one create-or-keep, so a second run changes nothing):

1. select the subscription; register the resource providers the stacks use (the azurerm
   provider is configured not to: that needs rights the infrastructure pipeline lacks);
2. the state resource group, storage account (Entra ID only, versioned, soft delete) and
   container; the workload resource group RESOURCE_GROUP_NAME;
3. the infrastructure pipeline's user-assigned identity;
4. the role assignments mlops.identities gives the bootstrap (the administrator's data access to
   the state, the infrastructure identity's roles on the resource group and the state);
5. in Azure DevOps: the infrastructure service connection AZURE_RM_INFRA_SVC_CONNECTION (workload
   identity federation), the federated credential that trusts it, and the identity as a
   Project Administrator of DEVOPS_PROJECT_NAME;
6. the first apply (`provision`) as the administrator: it creates the workspace, the model
   pipelines' identity and service connection, the variable group and the pipelines.

The process runner is injected: tests check the command lines without the Azure CLI.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlops import identities
from mlops.azure_names import AzureNames, AzureSettings, registry_home
from mlops.config import FactoryConfig, InfraConfig
from mlops.config.loader import selected_infra_env
from mlops.errors import FactoryError

RESOURCE_PROVIDERS = ("Microsoft.MachineLearningServices", "Microsoft.Storage",
                      "Microsoft.KeyVault", "Microsoft.ContainerRegistry", "Microsoft.Insights",
                      "Microsoft.OperationalInsights", "Microsoft.ManagedIdentity")
# Azure DevOps' resource id for Entra ID tokens (az rest --resource).
AZURE_DEVOPS_RESOURCE = "499b84ac-1321-427f-aa17-267ca6975798"
FEDERATION_AUDIENCE = "api://AzureADTokenExchange"
_ALREADY = ("RoleAssignmentExists", "already exists")


class BootstrapError(FactoryError):
    """An Azure CLI command failed; the message names it and what Azure said."""


@dataclass
class AzResult:
    returncode: int
    stdout: str = ""
    stderr: str = ""


AzRunner = Callable[[Sequence[str]], AzResult]


def subprocess_az(argv: Sequence[str]) -> AzResult:
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, check=False,
                              stdin=subprocess.DEVNULL)
    except FileNotFoundError:
        raise BootstrapError("the Azure CLI (az) is not on PATH: install it "
                             "(https://learn.microsoft.com/cli/azure/install-azure-cli), run "
                             "`az login`, then bootstrap again") from None
    return AzResult(done.returncode, done.stdout, done.stderr)


@dataclass
class AzCli:
    """One method per need; every command printed before it runs."""

    run: AzRunner = subprocess_az
    say: Callable[[str], None] = field(default=lambda text: print(text, flush=True))
    commands: list[list[str]] = field(default_factory=list)

    def __call__(self, *args: str, output: str = "json", tolerate: Sequence[str] = ()) -> Any:
        argv = ["az", *args, "--only-show-errors", "-o", output]
        self.commands.append(argv)
        self.say("$ " + " ".join(_quote(a) for a in argv))
        result = self.run(argv)
        if result.returncode != 0:
            if any(marker in result.stderr for marker in tolerate):
                self.say("  (already there)")
                return None
            detail = (result.stderr or result.stdout).strip().splitlines()
            raise BootstrapError(f"`{' '.join(argv[:4])} ...` failed (exit {result.returncode}):"
                                 f" {detail[-1] if detail else 'no output'}")
        text = result.stdout.strip()
        if output == "json":
            return json.loads(text) if text else None
        return text


def _quote(arg: str) -> str:
    return f"'{arg}'" if any(c in arg for c in " \"$[]?*()") else arg


@dataclass(frozen=True)
class Plan:
    """Everything the bootstrap creates, named from config (nothing typed twice)."""

    infra: InfraConfig
    settings: AzureSettings
    names: AzureNames
    backend: dict[str, str]
    # a promotion target's source environment and the home of the registry it shares
    source: InfraConfig | None = None
    registry_home: InfraConfig | None = None

    @classmethod
    def of(cls, config: FactoryConfig, settings: AzureSettings | None = None) -> Plan:
        from cdktf_app._backend import backend_settings

        infra = config.infra_env(selected_infra_env())
        settings = settings or AzureSettings.resolve(infra, purpose="bootstrap Azure")
        source = config.infra_env(infra.promote_from) if infra.promote_from else None
        return cls(infra, settings, AzureNames.of(infra, settings.subscription_id),
                   backend_settings(infra, settings.subscription_id), source,
                   registry_home(config, infra) if source else None)

    @property
    def scopes(self) -> dict[str, str]:
        """Scope -> ARM id of every scope this environment's grants can name (a promotion
        target's include its source's resource group and the registry's)."""
        from cdktf_app._backend import state_container_id

        sub = f"/subscriptions/{self.settings.subscription_id}"
        scopes = {"subscription": sub,
                  "resource_group": f"{sub}/resourceGroups/{self.infra.resource_group_name}",
                  "state_resource_group":
                      f"{sub}/resourceGroups/{self.backend['resource_group_name']}",
                  "state_container": state_container_id(self.backend,
                                                        self.settings.subscription_id)}
        if self.source is not None and self.registry_home is not None:
            scopes["source_resource_group"] = \
                f"{sub}/resourceGroups/{self.source.resource_group_name}"
            scopes["registry_resource_group"] = \
                f"{sub}/resourceGroups/{self.registry_home.resource_group_name}"
        return scopes

    @property
    def entitlements_url(self) -> str:
        """The Service Principal Entitlements API of the organisation (vsaex host)."""
        org = self.settings.organization_url
        if "dev.azure.com/" in org:
            return org.replace("https://dev.azure.com/", "https://vsaex.dev.azure.com/") + \
                "/_apis/serviceprincipalentitlements?api-version=7.1-preview.1"
        name = org.removeprefix("https://").split(".")[0]
        return (f"https://vsaex.dev.azure.com/{name}/_apis/serviceprincipalentitlements"
                "?api-version=7.1-preview.1")


def bootstrap(config: FactoryConfig, *, az: AzCli | None = None,
              first_apply: Callable[[FactoryConfig], Any] | None = None,
              settings: AzureSettings | None = None) -> Plan:
    from mlops.infra.credentials import devops_credential_problems

    az = az or AzCli()
    plan = Plan.of(config, settings)
    problems = devops_credential_problems(os.environ) if first_apply is None else []
    if problems:  # the first apply would stop there: say so before creating anything
        raise BootstrapError("; ".join(problems))
    infra, backend, names = plan.infra, plan.backend, plan.names
    location, state_rg = infra.location, backend["resource_group_name"]
    az.say(f"bootstrap {infra.env_name}: subscription {plan.settings.subscription_id}, "
           f"organisation {plan.settings.organization_url}")

    az("account", "set", "--subscription", plan.settings.subscription_id, output="none")
    tenant = az("account", "show", "--query", "tenantId", output="tsv")
    for namespace in RESOURCE_PROVIDERS:
        az("provider", "register", "--namespace", namespace, "--wait", output="none")

    tags = ["--tags", "project=model-factory", f"environment={infra.env_name}"]
    az("group", "create", "--name", state_rg, "--location", location, *tags, output="none")
    az("group", "create", "--name", infra.resource_group_name, "--location", location, *tags,
       output="none")
    account = backend["storage_account_name"]
    az("storage", "account", "create", "--name", account, "--resource-group", state_rg,
       "--location", location, "--sku", "Standard_GRS", "--kind", "StorageV2",
       "--https-only", "true", "--min-tls-version", "TLS1_2",
       "--allow-blob-public-access", "false", "--allow-shared-key-access", "false",
       output="none")
    az("storage", "account", "blob-service-properties", "update", "--account-name", account,
       "--resource-group", state_rg, "--enable-versioning", "true",
       "--enable-delete-retention", "true", "--delete-retention-days", "30",
       "--enable-container-delete-retention", "true", "--container-delete-retention-days", "30",
       output="none")
    # Control plane (no data role needed yet): Owner may create it.
    az("storage", "container-rm", "create", "--storage-account", account,
       "--resource-group", state_rg, "--name", backend["container_name"], output="none")

    identity = az("identity", "create", "--name", names.infra_identity, "--resource-group",
                  state_rg, "--location", location)
    principals = {"administrator": (az("ad", "signed-in-user", "show", "--query", "id",
                                       output="tsv"), "User"),
                  "infra_pipeline": (identity["principalId"], "ServicePrincipal")}
    for grant in identities.grants(by="bootstrap"):
        if not identities.ROLES[grant.role].azure_rbac:
            continue  # Azure DevOps: below
        if grant.scope not in plan.scopes:
            continue  # a promotion target's grant, and this environment is none
        principal, kind = principals[grant.identity]
        az("role", "assignment", "create", "--assignee-object-id", principal,
           "--assignee-principal-type", kind, "--role", grant.role,
           "--scope", plan.scopes[grant.scope], output="none", tolerate=_ALREADY)

    _devops(az, plan, identity, tenant)
    az.say("bootstrap: Azure and Azure DevOps prerequisites are in place; first apply ...")
    if first_apply is None:
        from mlops.infra.lifecycle import provision

        def first_apply(cfg: FactoryConfig) -> Any:
            return provision(cfg, "azure")
    first_apply(config)
    az.say("bootstrap: done. Next: run the pipeline infra_provision_pipeline once, then the "
           "data and CI pipelines (docs/azure.md)")
    return plan


def _devops(az: AzCli, plan: Plan, identity: dict[str, Any], tenant: str) -> None:
    """The infrastructure service connection, its federated credential, and the identity as a
    Project Administrator (Service Principal Entitlements API)."""
    infra, settings = plan.infra, plan.settings
    org = ["--org", settings.organization_url]
    where = [*org, "--project", infra.devops_project_name]
    az("extension", "add", "--name", "azure-devops", "--upgrade", output="none")
    project_id = az("devops", "project", "show", "--project", infra.devops_project_name, *org,
                    "--query", "id", output="tsv")
    name = infra.infra_svc_connection
    found = az("devops", "service-endpoint", "list", *where, "--query",
               f"[?name=='{name}'].id | [0]", output="tsv")
    if not found:
        subscription_name = az("account", "show", "--query", "name", output="tsv")
        definition = {
            "name": name, "type": "azurerm", "url": "https://management.azure.com/",
            "description": "Model Factory infrastructure pipeline (created by nox -s bootstrap)",
            "authorization": {"scheme": "WorkloadIdentityFederation", "parameters": {
                "tenantid": tenant, "serviceprincipalid": identity["clientId"]}},
            "data": {"subscriptionId": settings.subscription_id,
                     "subscriptionName": subscription_name, "environment": "AzureCloud",
                     "scopeLevel": "Subscription", "creationMode": "Manual"},
            "isShared": False, "isReady": True,
            "serviceEndpointProjectReferences": [{
                "projectReference": {"id": project_id, "name": infra.devops_project_name},
                "name": name}],
        }
        with _json_file(definition) as path:
            found = az("devops", "service-endpoint", "create", "--service-endpoint-configuration",
                       str(path), *where, "--query", "id", output="tsv")
    federation = az("devops", "service-endpoint", "show", "--id", found, *where,
                    "--query", "authorization.parameters")
    az("identity", "federated-credential", "create", "--name", f"ado-{name}",
       "--identity-name", plan.names.infra_identity,
       "--resource-group", plan.backend["resource_group_name"],
       "--issuer", federation["workloadIdentityFederationIssuer"],
       "--subject", federation["workloadIdentityFederationSubject"],
       "--audiences", FEDERATION_AUDIENCE, output="none")
    entitlement = {
        "accessLevel": {"accountLicenseType": "express"},
        "servicePrincipal": {"origin": "aad", "originId": identity["principalId"],
                             "subjectKind": "servicePrincipal"},
        "projectEntitlements": [{"group": {"groupType": "projectAdministrator"},
                                 "projectRef": {"id": project_id}}],
    }
    with _json_file(entitlement) as path:
        az("rest", "--method", "post", "--uri", plan.entitlements_url, "--resource",
           AZURE_DEVOPS_RESOURCE, "--body", f"@{path}", output="none", tolerate=_ALREADY)


class _json_file:
    """A temporary JSON file for an az command (ids only: nothing secret)."""

    def __init__(self, value: dict[str, Any]):
        self.value = value

    def __enter__(self) -> Path:
        fd, name = tempfile.mkstemp(prefix="factory-bootstrap-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(self.value, handle, indent=2)
        self.path = Path(name)
        return self.path

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)
