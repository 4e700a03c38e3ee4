"""The bootstrap's Azure CLI command lines, checked without the CLI: every command printed,
create-or-keep (a second run changes nothing), the role assignments exactly the identity table's
bootstrap rows, and the first apply last; local needs nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from mlops import identities
from mlops.azure_names import AzureNames, AzureSettings
from mlops.config import load_config
from mlops.infra.bootstrap import AzCli, AzResult, BootstrapError, Plan, _quote, bootstrap

ROOT = Path(__file__).resolve().parents[2]
SETTINGS = AzureSettings("11111111-2222-3333-4444-555555555555", "https://dev.azure.com/contoso")


class FakeAz:
    """Answers like the Azure CLI; `existing` says what is already there."""

    def __init__(self, existing: bool = False):
        self.existing = existing
        self.bodies: list[dict] = []

    def __call__(self, argv):
        args = argv[1:]
        joined = " ".join(args)
        for item in args:  # read the JSON files while they exist
            if item.endswith(".json") and Path(item.lstrip("@")).is_file():
                self.bodies.append(json.loads(Path(item.lstrip("@")).read_text()))
        if args[:2] == ["account", "show"]:
            return AzResult(0, "tenant-1\n" if "tenantId" in joined else "My subscription\n")
        if args[:2] == ["identity", "create"]:
            return AzResult(0, json.dumps({"principalId": "infra-principal",
                                           "clientId": "infra-client"}))
        if args[:3] == ["ad", "signed-in-user", "show"]:
            return AzResult(0, "admin-object\n")
        if args[:3] == ["devops", "project", "show"]:
            return AzResult(0, "project-1\n")
        if args[:3] == ["devops", "service-endpoint", "list"]:
            return AzResult(0, "endpoint-1\n" if self.existing else "\n")
        if args[:3] == ["devops", "service-endpoint", "create"]:
            return AzResult(0, "endpoint-1\n")
        if args[:3] == ["devops", "service-endpoint", "show"]:
            return AzResult(0, json.dumps({"workloadIdentityFederationIssuer": "https://iss",
                                           "workloadIdentityFederationSubject": "sc://o/p/c"}))
        if args[:3] == ["role", "assignment", "create"] and self.existing:
            return AzResult(1, stderr="ERROR: (RoleAssignmentExists) The role assignment "
                                      "already exists.")
        if args[0] == "rest" and self.existing:
            return AzResult(1, stderr="ERROR: ... already exists in the organization")
        return AzResult(0, "")


@pytest.fixture
def config():
    return load_config()


def _run(config, existing=False):
    fake, printed, applied = FakeAz(existing), [], []
    az = AzCli(run=fake, say=printed.append)
    plan = bootstrap(config, az=az, first_apply=applied.append, settings=SETTINGS)
    return plan, az.commands, printed, applied, fake


def test_commands_create_the_state_the_identity_and_the_connection_then_apply(config):
    plan, commands, printed, applied, fake = _run(config)
    infra = config.infra_env("dev")
    names = AzureNames.of(infra, SETTINGS.subscription_id)
    lines = [" ".join(c) for c in commands]
    assert lines[0] == f"az account set --subscription {SETTINGS.subscription_id} " \
                       "--only-show-errors -o none"
    assert any(line.startswith("az provider register --namespace "
                               "Microsoft.MachineLearningServices --wait") for line in lines)
    state = plan.backend
    assert f"az group create --name {state['resource_group_name']}" in "\n".join(lines)
    assert f"az group create --name {infra.resource_group_name}" in "\n".join(lines)
    account = next(c for c in commands if c[1:4] == ["storage", "account", "create"])
    assert account[account.index("--name") + 1] == state["storage_account_name"]
    for flag, value in (("--allow-shared-key-access", "false"), ("--https-only", "true"),
                        ("--min-tls-version", "TLS1_2"), ("--allow-blob-public-access", "false")):
        assert account[account.index(flag) + 1] == value
    identity = next(c for c in commands if c[1:3] == ["identity", "create"])
    assert identity[identity.index("--name") + 1] == names.infra_identity
    # every command is printed before it runs; the first apply comes last
    assert [p for p in printed if p.startswith("$ az ")] == \
        ["$ " + " ".join(_quote(a) for a in c) for c in commands]
    assert applied == [config]


def test_role_assignments_are_the_identity_tables_bootstrap_rows(config):
    plan, commands, *_ = _run(config)
    principals = {"admin-object": "administrator", "infra-principal": "infra_pipeline"}
    scopes = {v: k for k, v in plan.scopes.items()}
    made = set()
    for c in commands:
        if c[1:4] == ["role", "assignment", "create"]:
            made.add((principals[c[c.index("--assignee-object-id") + 1]],
                      c[c.index("--role") + 1], scopes[c[c.index("--scope") + 1]]))
    table = {(g.identity, g.role, g.scope) for g in identities.grants(by="bootstrap")
             if identities.ROLES[g.role].azure_rbac and g.scope in plan.scopes}
    assert made == table
    assert "source_resource_group" not in plan.scopes  # dev takes models from nowhere
    assert ("infra_pipeline", "Contributor", "resource_group") in made
    assert plan.scopes["state_container"].endswith(
        f"/storageAccounts/{plan.backend['storage_account_name']}/blobServices/default/"
        f"containers/{plan.backend['container_name']}")


def test_a_promotion_targets_infrastructure_identity_may_grant_in_its_source(config,
                                                                         monkeypatch):
    """prod's infrastructure pipeline assigns its model pipelines' roles on dev's workspace and
    on the registry in dev's resource group: the bootstrap lets it, there and nowhere else."""
    monkeypatch.setenv("FACTORY_INFRA_ENV", "prod")
    plan, commands, *_ = _run(config)
    dev = config.infra_env("dev")
    assert plan.infra.env_name == "prod" and plan.source == dev == plan.registry_home
    rbac = [c for c in commands if c[1:4] == ["role", "assignment", "create"]
            and c[c.index("--role") + 1] == "Role Based Access Control Administrator"]
    scopes = {c[c.index("--scope") + 1] for c in rbac}
    dev_group = f"/subscriptions/{SETTINGS.subscription_id}/resourceGroups/" \
                f"{dev.resource_group_name}"
    assert dev_group in scopes
    assert all(c[c.index("--assignee-object-id") + 1] == "infra-principal" for c in rbac)
    identity = next(c for c in commands if c[1:3] == ["identity", "create"])
    assert identity[identity.index("--name") + 1] == "id-mlops-mf-101-infra"


def test_the_infra_service_connection_uses_workload_identity_federation(config):
    _, commands, _, _, fake = _run(config)
    endpoint = next(b for b in fake.bodies if b.get("type") == "azurerm")
    infra = config.infra_env("dev")
    assert endpoint["name"] == infra.infra_svc_connection
    assert endpoint["authorization"] == {"scheme": "WorkloadIdentityFederation", "parameters": {
        "tenantid": "tenant-1", "serviceprincipalid": "infra-client"}}
    assert "serviceprincipalkey" not in json.dumps(endpoint).lower()  # no secret anywhere
    credential = next(c for c in commands if c[1:4] == ["identity", "federated-credential",
                                                         "create"])
    assert credential[credential.index("--issuer") + 1] == "https://iss"
    assert credential[credential.index("--subject") + 1] == "sc://o/p/c"
    assert credential[credential.index("--audiences") + 1] == "api://AzureADTokenExchange"
    entitlement = next(b for b in fake.bodies if "projectEntitlements" in b)
    assert entitlement["servicePrincipal"]["originId"] == "infra-principal"
    assert entitlement["projectEntitlements"][0]["group"]["groupType"] == "projectAdministrator"
    rest = next(c for c in commands if c[1] == "rest")
    assert rest[rest.index("--uri") + 1].startswith(
        "https://vsaex.dev.azure.com/contoso/_apis/serviceprincipalentitlements")


def test_a_second_run_keeps_what_exists(config):
    _, commands, printed, applied, fake = _run(config, existing=True)
    assert not [c for c in commands if c[1:4] == ["devops", "service-endpoint", "create"]]
    assert "  (already there)" in printed
    assert applied == [config]


def test_a_failing_command_stops_naming_it(config):
    def broken(argv):
        return AzResult(1, stderr="ERROR: AuthorizationFailed: no access") \
            if argv[1:3] == ["group", "create"] else FakeAz()(argv)

    applied = []
    with pytest.raises(BootstrapError, match=r"`az group create --name .*` failed .*"
                                             r"AuthorizationFailed"):
        bootstrap(config, az=AzCli(run=broken, say=lambda _: None),
                  first_apply=applied.append, settings=SETTINGS)
    assert applied == []


def test_without_an_azure_devops_credential_nothing_is_created(config, monkeypatch):
    monkeypatch.delenv("AZDO_PERSONAL_ACCESS_TOKEN", raising=False)
    for name in ("servicePrincipalId", "tenantId", "idToken", "ARM_USE_OIDC"):
        monkeypatch.delenv(name, raising=False)
    az = AzCli(run=FakeAz(), say=lambda _: None)
    with pytest.raises(BootstrapError, match="AZDO_PERSONAL_ACCESS_TOKEN"):
        bootstrap(config, az=az, settings=SETTINGS)
    assert az.commands == []


def test_plan_needs_the_subscription(config, monkeypatch):
    monkeypatch.delenv("ARM_SUBSCRIPTION_ID", raising=False)
    monkeypatch.delenv("AZDO_ORG_SERVICE_URL", raising=False)
    with pytest.raises(Exception, match="(?s)cannot bootstrap Azure:.*ARM_SUBSCRIPTION_ID"):
        Plan.of(config)


def test_local_needs_no_bootstrap():
    out = subprocess.run([sys.executable, "-m", "mlops", "bootstrap"], cwd=ROOT,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0
    assert "nothing to do" in out.stdout
