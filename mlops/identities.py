"""Who does what on Azure, and with which roles: the identity model, written once.

Every identity the factory involves, every role it holds with the scope and the reason, and who
grants it: Terraform (the Azure ML stack synthesises exactly these role assignments), the
bootstrap (an administrator, once, before any pipeline exists), or Azure itself (assignments
Azure ML makes on its own; Terraform creating them again fails with RoleAssignmentExists, so
they are recorded here but never synthesised). docs/azure.md's identity table is generated from
this module, and a test walks the generated CI YAML: each job's identity (its service
connection) must hold a role permitting every Azure operation of every nox session it runs.

Role definitions are the built-in ones' actions as Azure documents them
(https://learn.microsoft.com/azure/role-based-access-control/built-in-roles), matched the way
Azure RBAC matches them: case-insensitive, ``*`` matching any characters, NotActions removed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

# -- scopes ------------------------------------------------------------------------------------
# scope -> its parent: a role assigned at a scope applies to everything beneath it.
SCOPES: dict[str, str | None] = {
    "subscription": None,
    "resource_group": "subscription",  # RESOURCE_GROUP_NAME (created by the bootstrap)
    "workspace": "resource_group",
    "storage": "resource_group",  # the workspace's storage account
    "key_vault": "resource_group",
    "container_registry": "resource_group",
    "application_insights": "resource_group",
    "state_resource_group": "subscription",  # the Terraform state (terraform/backends/)
    "state_container": "state_resource_group",
    # promotion: the environment a target environment takes models from (PROMOTE_FROM), and
    # the Azure ML registry the environments share (in the first environment's resource group)
    "source_resource_group": "subscription",
    "source_workspace": "source_resource_group",
    "registry_resource_group": "subscription",
    "registry": "registry_resource_group",
    "devops_project": None,  # Azure DevOps, outside Azure RBAC
}
SCOPE_TEXT = {
    "subscription": "subscription", "resource_group": "resource group RESOURCE_GROUP_NAME",
    "workspace": "Azure ML workspace", "storage": "workspace storage account",
    "key_vault": "workspace key vault", "container_registry": "workspace container registry",
    "application_insights": "Application Insights", "state_resource_group":
        "state resource group", "state_container": "Terraform state container",
    "source_resource_group": "resource group of the PROMOTE_FROM environment",
    "source_workspace": "Azure ML workspace of the PROMOTE_FROM environment",
    "registry_resource_group": "resource group of the shared registry",
    "registry": "shared Azure ML registry",
    "devops_project": "Azure DevOps project DEVOPS_PROJECT_NAME",
}


def covers(granted: str, needed: str) -> bool:
    """True when a role at ``granted`` applies at ``needed`` (same scope or an ancestor)."""
    scope: str | None = needed
    while scope is not None:
        if scope == granted:
            return True
        scope = SCOPES[scope]
    return False


# -- role definitions --------------------------------------------------------------------------
@dataclass(frozen=True)
class RoleDefinition:
    actions: tuple[str, ...] = ()
    not_actions: tuple[str, ...] = ()
    data_actions: tuple[str, ...] = ()
    not_data_actions: tuple[str, ...] = ()
    azure_rbac: bool = True  # False: an Azure DevOps permission, not an Azure role

    def allows(self, action: str, *, data: bool = False) -> bool:
        allowed, denied = ((self.data_actions, self.not_data_actions) if data
                           else (self.actions, self.not_actions))
        return (any(_matches(p, action) for p in allowed)
                and not any(_matches(p, action) for p in denied))


@cache
def _pattern(pattern: str) -> re.Pattern[str]:
    """Azure RBAC wildcards: case-insensitive, ``*`` matches any characters, and a ``/*/``
    segment matches no segment too. Microsoft documents a role whose NotActions hold
    ``workspaces/computes/*/write`` as one that "can't create or update a compute resource"
    (how-to-assign-roles, custom roles), i.e. it denies ``workspaces/computes/write``."""
    parts = [re.escape(p) for p in pattern.lower().split("/*/")]
    joined = "/(?:.*/)?".join(parts)
    return re.compile(joined.replace(r"\*", ".*"))


def _matches(pattern: str, action: str) -> bool:
    return _pattern(pattern).fullmatch(action.lower()) is not None


_ML = "Microsoft.MachineLearningServices/workspaces"
_REGISTRY = "Microsoft.MachineLearningServices/registries"
_BLOBS = "Microsoft.Storage/storageAccounts/blobServices/containers"
ROLES: dict[str, RoleDefinition] = {
    "Owner": RoleDefinition(actions=("*",)),
    "Contributor": RoleDefinition(actions=("*",), not_actions=(
        "Microsoft.Authorization/*/Delete", "Microsoft.Authorization/*/Write",
        "Microsoft.Authorization/elevateAccess/Action",
        "Microsoft.Blueprint/blueprintAssignments/write",
        "Microsoft.Blueprint/blueprintAssignments/delete",
        "Microsoft.Compute/galleries/share/action")),  # no data actions: no blob access
    "Reader": RoleDefinition(actions=("*/read",)),
    "Role Based Access Control Administrator": RoleDefinition(actions=(
        "Microsoft.Authorization/roleAssignments/write",
        "Microsoft.Authorization/roleAssignments/delete", "*/read", "Microsoft.Support/*")),
    # Everything in a workspace except creating or deleting compute and changing the workspace.
    "AzureML Data Scientist": RoleDefinition(
        actions=(f"{_ML}/*/read", f"{_ML}/*/action", f"{_ML}/*/delete", f"{_ML}/*/write"),
        not_actions=(f"{_ML}/delete", f"{_ML}/write", f"{_ML}/computes/*/write",
                     f"{_ML}/computes/*/delete", f"{_ML}/computes/listKeys/action",
                     f"{_ML}/listKeys/action", f"{_ML}/hubs/write", f"{_ML}/hubs/delete",
                     f"{_ML}/featurestores/write", f"{_ML}/featurestores/delete")),
    "AzureML Metrics Writer (preview)": RoleDefinition(
        data_actions=(f"{_ML}/metrics/*/write",)),
    "Storage Blob Data Contributor": RoleDefinition(
        actions=(f"{_BLOBS}/delete", f"{_BLOBS}/read", f"{_BLOBS}/write",
                 "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"),
        data_actions=(f"{_BLOBS}/blobs/delete", f"{_BLOBS}/blobs/read", f"{_BLOBS}/blobs/write",
                      f"{_BLOBS}/blobs/move/action", f"{_BLOBS}/blobs/add/action")),
    "Storage Blob Data Reader": RoleDefinition(
        actions=(f"{_BLOBS}/read",
                 "Microsoft.Storage/storageAccounts/blobServices/generateUserDelegationKey/action"),
        data_actions=(f"{_BLOBS}/blobs/read",)),
    "AcrPull": RoleDefinition(actions=("Microsoft.ContainerRegistry/registries/pull/read",)),
    # Registry assets (models, environments, components) but not the registry itself
    # (how-to-assign-roles: "Can get registries, and read, write and delete assets within them.
    # Cannot create new registry resources or delete them").
    "AzureML Registry User": RoleDefinition(actions=(f"{_REGISTRY}/read",
                                                     f"{_REGISTRY}/assets/*")),
    "Key Vault Administrator": RoleDefinition(
        actions=("Microsoft.Authorization/*/read", "Microsoft.Resources/deployments/*",
                 "Microsoft.Resources/subscriptions/resourceGroups/read",
                 "Microsoft.KeyVault/checkNameAvailability/read",
                 "Microsoft.KeyVault/deletedVaults/read", "Microsoft.KeyVault/locations/*/read",
                 "Microsoft.KeyVault/vaults/*/read", "Microsoft.KeyVault/operations/read"),
        data_actions=("Microsoft.KeyVault/vaults/*",)),
    # Azure DevOps: the project's "Project Administrators" group (service connections, variable
    # groups, pipelines, branch policies). Not an Azure role; the bootstrap grants it.
    "Project Administrator (Azure DevOps)": RoleDefinition(
        actions=("AzureDevOps/project/*",), azure_rbac=False),
}


# -- identities and their grants ---------------------------------------------------------------
@dataclass(frozen=True)
class Identity:
    key: str
    title: str
    what: str
    created_by: str  # "you" | "bootstrap" | "terraform" | "azure"
    # config key of the Azure DevOps service connection that runs as it, and the GitHub secret
    # holding its client id (azure/login), for the identities CI jobs run as
    service_connection_key: str | None = None
    github_client_id_secret: str | None = None


@dataclass(frozen=True)
class Grant:
    identity: str
    role: str
    scope: str
    why: str
    by: str  # "terraform" | "bootstrap" | "azure" | "administrator" (held before it all starts)
    source: str = ""  # where Azure documents an assignment it makes itself


IDENTITIES: tuple[Identity, ...] = (
    Identity("administrator", "Administrator (you)",
             "the person who runs `nox -s bootstrap -- --target azure` once, logged in with "
             "`az login`: creates the state storage, the infrastructure pipeline's identity "
             "and service connection, then the first apply", "you"),
    Identity("infra_pipeline", "Infrastructure pipeline",
             "user-assigned identity `id-{namespace}-{projectcode}-{version}-infra`; "
             "infra_provision_pipeline runs as it through the service connection "
             "AZURE_RM_INFRA_SVC_CONNECTION (workload identity federation)", "bootstrap",
             "AZURE_RM_INFRA_SVC_CONNECTION", "AZURE_INFRA_CLIENT_ID"),
    Identity("model_pipeline", "Model pipelines",
             "user-assigned identity `id-{namespace}-{projectcode}-{version}-pipelines`; the "
             "data, PR and CI pipelines run as it through AZURE_RM_SVC_CONNECTION", "terraform",
             "AZURE_RM_SVC_CONNECTION", "AZURE_CLIENT_ID"),
    Identity("workspace", "Azure ML workspace",
             "the workspace's system-assigned identity: reaches its storage, key vault, "
             "registry and Application Insights, builds environment images", "azure"),
    Identity("compute", "Training cluster", "CLUSTER_NAME's system-assigned identity: runs "
             "pipeline steps, pulls their images, reads inputs and writes outputs", "azure"),
    Identity("batch_compute", "Batch cluster", "BATCH_CLUSTER_NAME's system-assigned identity: "
             "runs batch scoring jobs", "azure"),
    Identity("online_endpoint", "Online endpoints", "each managed online endpoint's "
             "system-assigned identity (created by `nox -s deploy`): runs the scoring "
             "container", "azure"),
)

_WS_SAI = ("https://learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-"
           "authentication#workspace-identity-types (system-assigned: role assignment creation "
           "managed by Microsoft)")
_ACR_PULL = ("https://learn.microsoft.com/azure/machine-learning/how-to-identity-based-service-"
             "authentication#create-compute-with-managed-identity-to-access-docker-images-for-"
             "training (\"automatically granted ACRPull role on workspace ACR\")")
_ENDPOINT = ("https://learn.microsoft.com/azure/machine-learning/concept-endpoints-online-auth"
             "#automatic-role-assignment-for-endpoint-identity")

GRANTS: tuple[Grant, ...] = (
    # the administrator: holds Owner already; the bootstrap adds the data-plane role Owner lacks
    Grant("administrator", "Owner", "subscription", "creates the resource groups, the state "
          "account and the identities, and assigns roles (first apply included)",
          "administrator"),
    Grant("administrator", "Project Administrator (Azure DevOps)", "devops_project",
          "creates the infrastructure service connection and adds its identity to the project",
          "administrator"),
    Grant("administrator", "Storage Blob Data Contributor", "state_container",
          "Owner has no data actions: reads and writes the state (and its lease lock) in the "
          "first apply", "bootstrap"),
    # the infrastructure pipeline: everything in the resource group, nothing outside it
    Grant("infra_pipeline", "Contributor", "resource_group",
          "creates and changes the workspace, storage, key vault, registry, clusters and the "
          "model pipelines' identity", "bootstrap"),
    Grant("infra_pipeline", "Role Based Access Control Administrator", "resource_group",
          "creates the role assignments of the Azure ML stack (this table's Terraform rows)",
          "bootstrap"),
    Grant("infra_pipeline", "Storage Blob Data Contributor", "state_container",
          "reads and writes the Terraform state and takes its lease (the state lock)",
          "bootstrap"),
    Grant("infra_pipeline", "Role Based Access Control Administrator", "state_container",
          "grants the model pipelines read access to the state", "bootstrap"),
    Grant("infra_pipeline", "Project Administrator (Azure DevOps)", "devops_project",
          "manages the model pipelines' service connection, the variable group, the build "
          "definitions, the branch policies and the promotion environment's approval check",
          "bootstrap"),
    # a promotion target's infrastructure pipeline assigns its model pipelines' roles in the
    # environment it takes models from and on the shared registry (the two rows below it)
    Grant("infra_pipeline", "Role Based Access Control Administrator", "source_resource_group",
          "grants its model pipelines read access to the PROMOTE_FROM environment's workspace "
          "(promotion targets only)", "bootstrap"),
    Grant("infra_pipeline", "Role Based Access Control Administrator",
          "registry_resource_group", "grants its model pipelines the use of the shared "
          "registry (promotion targets only)", "bootstrap"),
    # the model pipelines: work inside the workspace; never change infrastructure
    Grant("model_pipeline", "AzureML Data Scientist", "workspace",
          "registers data, components, environments and models; submits, follows and cancels "
          "jobs; creates, invokes and deletes endpoints (not compute, not the workspace)",
          "terraform"),
    Grant("model_pipeline", "Storage Blob Data Contributor", "storage",
          "uploads data assets and code snapshots (shared keys are disabled on the account)",
          "terraform"),
    Grant("model_pipeline", "Storage Blob Data Reader", "state_container",
          "reads the Terraform outputs (the workspace description), nothing else; the "
          "environments share the container, so a promotion target reads its source's too",
          "terraform"),
    Grant("model_pipeline", "Reader", "source_workspace",
          "promotion targets: reads the approved version and its training job in the "
          "PROMOTE_FROM environment and shares it to the registry (never changes that "
          "environment)", "terraform"),
    Grant("model_pipeline", "AzureML Registry User", "registry",
          "promotion targets: shares the approved version into the registry, reads it back to "
          "check its digest and deploys from it (assets only, never the registry itself)",
          "terraform"),
    # the workspace's own identity: Azure ML assigns all of these itself
    Grant("workspace", "Contributor", "storage", "manages its datastores' containers",
          "azure", _WS_SAI),
    Grant("workspace", "Storage Blob Data Contributor", "storage", "reads and writes "
          "artifacts and data previews (identity-based storage access)", "azure",
          _WS_SAI + "; RoleAssignmentExists when assigned again: "
          "https://github.com/MicrosoftDocs/azure-docs/issues/80040"),
    Grant("workspace", "Contributor", "key_vault", "manages the vault", "azure", _WS_SAI),
    Grant("workspace", "Key Vault Administrator", "key_vault",
          "stores workspace secrets in the RBAC vault", "azure", _WS_SAI),
    Grant("workspace", "Contributor", "container_registry",
          "builds environment images with ACR Tasks (the registry has no admin user)", "azure",
          _WS_SAI),
    Grant("workspace", "Contributor", "application_insights", "writes telemetry", "azure",
          _WS_SAI),
    # clusters: Azure ML grants the image pull, Terraform the data access
    Grant("compute", "AcrPull", "container_registry", "pulls the steps' environment images",
          "azure", _ACR_PULL),
    Grant("compute", "Storage Blob Data Contributor", "storage",
          "reads step inputs and writes step outputs (identity-based datastore)", "terraform"),
    Grant("batch_compute", "AcrPull", "container_registry", "pulls the scoring image",
          "azure", _ACR_PULL),
    Grant("batch_compute", "Storage Blob Data Contributor", "storage",
          "reads batch inputs and writes predictions", "terraform"),
    # online endpoints: created at deploy time; Azure ML assigns their roles
    Grant("online_endpoint", "AcrPull", "container_registry", "pulls the scoring image",
          "azure", _ENDPOINT),
    Grant("online_endpoint", "Storage Blob Data Reader", "storage",
          "reads the model and the scoring code", "azure", _ENDPOINT),
    Grant("online_endpoint", "AzureML Metrics Writer (preview)", "workspace",
          "writes endpoint metrics", "azure", _ENDPOINT),
)


def identity(key: str) -> Identity:
    for item in IDENTITIES:
        if item.key == key:
            return item
    raise KeyError(f"unknown identity {key!r}; known: {', '.join(i.key for i in IDENTITIES)}")


def grants(*, by: str | None = None, identity_key: str | None = None) -> list[Grant]:
    return [g for g in GRANTS if (by is None or g.by == by)
            and (identity_key is None or g.identity == identity_key)]


# -- operations and the sessions that perform them ---------------------------------------------
@dataclass(frozen=True)
class Operation:
    name: str
    action: str
    scope: str
    data: bool = False  # a data action (blob contents), not a control-plane one


def _op(name: str, action: str, scope: str, data: bool = False) -> tuple[str, Operation]:
    return name, Operation(name, action, scope, data)


OPERATIONS: dict[str, Operation] = dict([
    _op("read the Terraform state", f"{_BLOBS}/blobs/read", "state_container", True),
    _op("write the Terraform state and its lease", f"{_BLOBS}/blobs/write", "state_container",
        True),
    _op("read the resource group's resources", "Microsoft.Resources/subscriptions/"
        "resourceGroups/read", "resource_group"),
    _op("create the Azure ML workspace", f"{_ML}/write", "resource_group"),
    _op("create storage, key vault and registry", "Microsoft.Storage/storageAccounts/write",
        "resource_group"),
    _op("create the shared Azure ML registry", f"{_REGISTRY}/write", "resource_group"),
    _op("create compute clusters", f"{_ML}/computes/write", "resource_group"),
    _op("create the model pipelines' identity and its federated credential",
        "Microsoft.ManagedIdentity/userAssignedIdentities/federatedIdentityCredentials/write",
        "resource_group"),
    _op("assign the stack's roles", "Microsoft.Authorization/roleAssignments/write",
        "resource_group"),
    _op("grant read access to the state", "Microsoft.Authorization/roleAssignments/write",
        "state_container"),
    _op("manage Azure DevOps resources", "AzureDevOps/project/write", "devops_project"),
    _op("read datastores", f"{_ML}/datastores/read", "workspace"),
    _op("upload data and code", f"{_BLOBS}/blobs/write", "storage", True),
    _op("register data assets", f"{_ML}/data/versions/write", "workspace"),
    _op("register components and environments", f"{_ML}/components/versions/write",
        "workspace"),
    _op("submit pipeline jobs", f"{_ML}/jobs/write", "workspace"),
    _op("follow jobs", f"{_ML}/jobs/read", "workspace"),
    _op("cancel jobs", f"{_ML}/jobs/cancel/action", "workspace"),
    _op("read models", f"{_ML}/models/versions/read", "workspace"),
    # jobs.download reads a finished step's outputs from the workspace's default datastore
    _op("download job outputs", f"{_BLOBS}/blobs/read", "storage", True),
    _op("register and tag models", f"{_ML}/models/versions/write", "workspace"),
    _op("deploy online endpoints", f"{_ML}/onlineEndpoints/deployments/write", "workspace"),
    _op("deploy batch endpoints", f"{_ML}/batchEndpoints/deployments/write", "workspace"),
    _op("read endpoints", f"{_ML}/onlineEndpoints/read", "workspace"),
    # concept-endpoints-online-auth: fetching the key needs onlineEndpoints/listKeys/action
    _op("invoke online endpoints with their key", f"{_ML}/onlineEndpoints/listKeys/action",
        "workspace"),
    # how-to-authenticate-batch-endpoint: invoking creates a job under the caller's identity
    _op("invoke batch endpoints", f"{_ML}/batchEndpoints/deployments/jobs/write", "workspace"),
    _op("delete endpoints", f"{_ML}/onlineEndpoints/delete", "workspace"),
    # models.archive / jobs.archive are updates (PUT) of the version or job
    _op("archive models and jobs", f"{_ML}/models/versions/write", "workspace"),
    # promotion (mlops.platform.azure.promotion): the source is only read; models.share reads
    # the source workspace (workspaces.get) and creates the asset in the registry
    _op("read the source environment's workspace", f"{_ML}/read", "source_workspace"),
    _op("read the source environment's models", f"{_ML}/models/versions/read",
        "source_workspace"),
    _op("read the source environment's jobs", f"{_ML}/jobs/read", "source_workspace"),
    _op("share models into the registry", f"{_REGISTRY}/assets/write", "registry"),
    _op("read models in the registry", f"{_REGISTRY}/assets/read", "registry"),
    # how-to-monitor-model-performance: a monitor is a schedule (MonitorSchedule)
    _op("schedule model monitoring", f"{_ML}/schedules/write", "workspace"),
])

_STATE = ("read the Terraform state",)
_INFRA_READ = (*_STATE, "write the Terraform state and its lease",
               "read the resource group's resources")
_INFRA_WRITE = (*_INFRA_READ, "create the Azure ML workspace",
                "create storage, key vault and registry", "create the shared Azure ML registry",
                "create compute clusters",
                "create the model pipelines' identity and its federated credential",
                "assign the stack's roles", "grant read access to the state",
                "manage Azure DevOps resources")
_DATA = (*_STATE, "read datastores", "upload data and code", "register data assets")
# pr_build and ci_build register their models' data before the pipeline (mlops/build.py)
_TRAIN = (*_DATA, "register components and environments", "submit pipeline jobs",
          "follow jobs", "read models")
_DEPLOY = (*_STATE, "read models", "upload data and code", "deploy online endpoints",
           "deploy batch endpoints", "invoke online endpoints with their key",
           "invoke batch endpoints")
# nox session (with --target azure) -> the Azure operations it performs itself (the sessions it
# requires add theirs). Sessions not listed perform none.
SESSION_OPERATIONS: dict[str, tuple[str, ...]] = {
    "plan": _INFRA_READ,
    "apply": _INFRA_WRITE,
    "provision": _INFRA_WRITE,
    "destroy": _INFRA_WRITE,
    "register_data": _DATA,
    "pr_build": _TRAIN,
    "ci_build": (*_TRAIN, "register and tag models", *_DEPLOY),
    "deploy": _DEPLOY,
    "invoke": (*_STATE, "upload data and code", "invoke online endpoints with their key",
               "invoke batch endpoints"),
    "endpoints": (*_STATE, "read endpoints", "invoke online endpoints with their key"),
    "undeploy": (*_STATE, "read endpoints", "delete endpoints"),
    "approve": (*_STATE, "read models", "register and tag models"),
    # run as the target environment's model pipelines (the CD pipeline)
    "promote": (*_STATE, "read the source environment's workspace",
                "read the source environment's models", "read the source environment's jobs",
                "share models into the registry", "read models in the registry", "read models",
                "register and tag models", *_DEPLOY),
    "lineage": (*_STATE, "read models", "follow jobs", "download job outputs",
                "read endpoints"),
    "cancel_job": (*_STATE, "follow jobs", "cancel jobs"),
    "wait_job": (*_STATE, "follow jobs"),
    "cleanup": (*_STATE, "read models", "archive models and jobs"),
    "gate": (*_STATE, "follow jobs", "download job outputs", "read models"),
    # registers the reference features (content-versioned) and the monitor schedule
    "monitor": (*_STATE, "read models", "read endpoints", "read datastores",
                "upload data and code", "register data assets", "schedule model monitoring"),
}
# Sessions that never call Azure as a CI identity: they read files or synthesise, or (bootstrap)
# run once as the administrator, whose rights docs/azure.md lists.
SESSIONS_WITHOUT_AZURE = ("check_config", "lint", "tests", "bench", "synth", "iac_scan",
                          "pipelines", "docs", "new_model", "bootstrap", "ui")
# Pipeline tasks that act on Azure themselves (not through a nox session).
TASK_OPERATIONS: dict[str, tuple[str, ...]] = {
    "AzureMLJobWaitTask@1": ("follow jobs",),
}


@dataclass
class Missing:
    job: str
    session: str
    operation: str
    identity: str

    def __str__(self) -> str:
        op = OPERATIONS[self.operation]
        devops = op.scope == "devops_project"
        candidates = sorted(name for name, role in ROLES.items()
                            if role.azure_rbac != devops and role.allows(op.action, data=op.data))
        return (f"job {self.job!r} runs {self.session} as {self.identity}, which cannot "
                f"{self.operation} ({op.action} on the {SCOPE_TEXT[op.scope]}): no role held "
                f"there permits it (e.g. {', '.join(candidates[:3])})")


def permits(identity_key: str, operation: str) -> list[Grant]:
    """The grants of ``identity_key`` that permit ``operation``."""
    op = OPERATIONS[operation]
    return [g for g in grants(identity_key=identity_key)
            if covers(g.scope, op.scope) and ROLES[g.role].allows(op.action, data=op.data)]


@dataclass
class JobRun:
    """One CI job: the identity it runs as and what it calls."""

    job: str
    identity: str
    sessions: list[str] = field(default_factory=list)  # nox sessions, requires-chain included
    tasks: list[str] = field(default_factory=list)


def check_jobs(jobs: list[JobRun]) -> list[Missing]:
    """Every operation a job's sessions and tasks perform, without a permitting role."""
    missing = []
    for run in jobs:
        work = [(s, SESSION_OPERATIONS.get(s, ())) for s in run.sessions]
        work += [(t, TASK_OPERATIONS.get(t, ())) for t in run.tasks]
        for what, operations in work:
            missing += [Missing(run.job, what, op, run.identity) for op in operations
                        if not permits(run.identity, op)]
    return missing


# -- the docs table ----------------------------------------------------------------------------
BY_TEXT = {"terraform": "Terraform (Azure ML stack)", "bootstrap": "`nox -s bootstrap`",
           "azure": "Azure ML itself", "administrator": "held before bootstrap"}


def markdown() -> str:
    """The identity tables of docs/azure.md."""
    lines = ["| identity | what it is | created by |", "|---|---|---|"]
    lines += [f"| {i.title} | {i.what} | {i.created_by} |" for i in IDENTITIES]
    lines += ["", "| identity | role | scope | why | granted by |", "|---|---|---|---|---|"]
    titles = {i.key: i.title for i in IDENTITIES}
    for g in GRANTS:
        by = BY_TEXT[g.by] + (f" ([source]({g.source.split(' ')[0]}))" if g.source else "")
        lines.append(f"| {titles[g.identity]} | {g.role} | {SCOPE_TEXT[g.scope]} | {g.why} "
                     f"| {by} |")
    return "\n".join(lines) + "\n"
