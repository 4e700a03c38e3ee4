"""The identity model: a coherent table, Azure RBAC semantics for its roles, and every CI job's
identity holding a role for every Azure operation of every session it runs (requires-chain
included) — read from the generated CI YAML, so a pipeline that runs a session as the wrong
identity fails here, naming the job, the session, the operation and the missing role."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import nox.registry
import pytest
import yaml

from mlops import identities
from mlops.cicd.generate import render_all
from mlops.config import load_config
from mlops.identities import (
    GRANTS,
    IDENTITIES,
    OPERATIONS,
    ROLES,
    SCOPES,
    SESSION_OPERATIONS,
    JobRun,
    check_jobs,
)
from mlops.infra.docs import GENERATED, render

ROOT = Path(__file__).resolve().parents[2]
# A session acts on Azure only when called with --target azure (`--list` only prints models).
NOX_CALL = re.compile(r"nox -s (\w+) --(?=[^\n]*--target azure)(?![^\n]*--list)")


@pytest.fixture(scope="module")
def requires() -> dict[str, list[str]]:
    nox.registry._REGISTRY.clear()
    spec = importlib.util.spec_from_file_location("factory_noxfile_ids", ROOT / "noxfile.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    found = {name: list(func.requires) for name, func in nox.registry.get().items()}
    nox.registry._REGISTRY.clear()
    return found


def _chain(session: str, requires: dict[str, list[str]]) -> list[str]:
    """The session and everything nox runs before it."""
    order: list[str] = []
    for required in requires.get(session, []):
        order += [s for s in _chain(required, requires) if s not in order]
    return [*order, session]


def _connection_identities(config) -> dict[str, str]:
    """Service connection name -> identity kind, for every environment (each has its own)."""
    found = {}
    for infra in config.infra.values():
        by_key = {"AZURE_RM_SVC_CONNECTION": infra.azure_rm_svc_connection,
                  "AZURE_RM_INFRA_SVC_CONNECTION": infra.infra_svc_connection}
        found.update({by_key[i.service_connection_key]: i.key for i in IDENTITIES
                      if i.service_connection_key})
    return found


def _secret_identities(config) -> dict[str, str]:
    """GitHub client id secret -> identity kind, for every environment."""
    from mlops.cicd.github import client_id_secret

    return {client_id_secret(kind, env): key for env in config.infra
            for kind, key in (("infra", "infra_pipeline"), ("ci", "model_pipeline"))}


def _azure_devops_jobs(path: str, doc: dict, connections, requires) -> list[JobRun]:
    jobs = doc.get("jobs") or [j for stage in doc.get("stages", []) for j in stage["jobs"]]
    runs = []
    for job in jobs:
        if "deployment" in job:  # a deployment job's steps are its strategy's
            job = {**job, "job": job["deployment"],
                   "steps": job["strategy"]["runOnce"]["deploy"]["steps"]}
        for step in job.get("steps", []):
            inputs = step.get("inputs", {})
            connection = inputs.get("azureSubscription") or inputs.get("serviceConnection")
            if not connection:
                continue
            sessions = [s for call in NOX_CALL.findall(inputs.get("inlineScript", ""))
                        for s in _chain(call, requires)]
            tasks = [] if step["task"] == "AzureCLI@2" else [step["task"]]
            runs.append(JobRun(f"{path}: {job['job']}", connections[connection], sessions,
                               tasks))
    return runs


def _github_jobs(path: str, doc: dict, secrets, requires) -> list[JobRun]:
    runs = []
    for name, job in doc["jobs"].items():
        if "uses" in job:  # calls a reusable workflow, checked as a document of its own
            continue
        sessions = [s for step in job["steps"] for call in NOX_CALL.findall(step.get("run", ""))
                    for s in _chain(call, requires)]
        login = next((s for s in job["steps"]
                      if str(s.get("uses", "")).startswith("azure/login")), None)
        if login is None:
            assert not sessions, f"{path}: {name} acts on Azure without logging in: {sessions}"
            continue
        secret = re.fullmatch(r"\$\{\{ secrets\.(\w+) \}\}", login["with"]["client-id"])[1]
        runs.append(JobRun(f"{path}: {name}", secrets[secret], sessions))
    return runs


@pytest.fixture(scope="module")
def ci_jobs(requires) -> list[JobRun]:
    config = load_config()
    connections = _connection_identities(config)
    secrets = _secret_identities(config)
    runs = []
    for path, text in render_all(config).items():
        doc = yaml.safe_load(text)
        if path.startswith(".azure-pipelines/"):
            runs += _azure_devops_jobs(path, doc, connections, requires)
        elif path.startswith(".github/workflows/"):  # not the shared set-up action
            runs += _github_jobs(path, doc, secrets, requires)
    return runs


# -- the table ---------------------------------------------------------------------------------
def test_every_grant_names_a_known_identity_role_and_scope():
    keys = {i.key for i in IDENTITIES}
    for grant in GRANTS:
        assert grant.identity in keys and grant.role in ROLES and grant.scope in SCOPES, grant
        assert grant.by in identities.BY_TEXT and grant.why
        if grant.by == "azure":  # what Azure does by itself is cited, not assumed
            assert grant.source.startswith("https://"), grant
    assert {i.key for i in IDENTITIES} == {g.identity for g in GRANTS}


def test_every_session_says_what_it_does_on_azure():
    """A new session must state its Azure operations (or that it has none): otherwise the
    identity check below would wave it through."""
    from mlops.identities import SESSIONS_WITHOUT_AZURE
    from mlops.sessions import SESSIONS

    unstated = [s.name for s in SESSIONS
                if s.name not in SESSION_OPERATIONS and s.name not in SESSIONS_WITHOUT_AZURE]
    assert not unstated, f"add these to SESSION_OPERATIONS or SESSIONS_WITHOUT_AZURE: {unstated}"


def test_operations_and_sessions_are_known(requires):
    assert set(SESSION_OPERATIONS) <= set(requires), "a session the noxfile does not have"
    for session, operations in SESSION_OPERATIONS.items():
        assert set(operations) <= set(OPERATIONS), session
    assert all(op.scope in SCOPES for op in OPERATIONS.values())


# -- Azure RBAC semantics of the built-in roles ------------------------------------------------
def test_azureml_data_scientist_works_in_the_workspace_but_cannot_create_compute():
    # "all actions within a workspace, except creating or deleting compute resources and
    # modifying the workspace itself" (how-to-assign-roles, AzureML Data Scientist)
    role = ROLES["AzureML Data Scientist"]
    ml = "Microsoft.MachineLearningServices/workspaces"
    assert role.allows(f"{ml}/jobs/write") and role.allows(f"{ml}/onlineEndpoints/listKeys/action")
    assert not role.allows(f"{ml}/computes/write")
    assert not role.allows(f"{ml}/write") and not role.allows(f"{ml}/delete")
    assert not role.allows("Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read",
                           data=True)


def test_contributor_cannot_assign_roles_or_read_blobs_and_owner_has_no_data_actions():
    assert ROLES["Contributor"].allows("Microsoft.MachineLearningServices/workspaces/write")
    assert not ROLES["Contributor"].allows("Microsoft.Authorization/roleAssignments/write")
    blob = "Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read"
    assert not ROLES["Owner"].allows(blob, data=True)
    assert ROLES["Storage Blob Data Reader"].allows(blob, data=True)
    assert not ROLES["Storage Blob Data Reader"].allows(blob.replace("read", "write"), data=True)


def test_wildcards_match_as_azure_rbac_does():
    # "*" spans segments; a "/*/" segment may be empty (see identities._pattern)
    role = identities.RoleDefinition(actions=("Microsoft.Foo/*/read",),
                                     not_actions=("Microsoft.Foo/bar/*/write",))
    assert role.allows("microsoft.foo/BAR/baz/read") and role.allows("Microsoft.Foo/read")
    assert not role.allows("Microsoft.Foo/bar/write")
    assert not ROLES["Reader"].allows("Microsoft.Foo/write")


def test_roles_apply_to_their_scope_and_below_only():
    assert identities.covers("resource_group", "workspace")
    assert identities.covers("subscription", "state_container")
    assert not identities.covers("workspace", "resource_group")
    assert not identities.covers("resource_group", "state_container")
    assert not identities.covers("subscription", "devops_project")


# -- the CI jobs -------------------------------------------------------------------------------
def test_every_ci_job_identity_may_do_what_its_sessions_do(ci_jobs):
    identities_used = {run.identity for run in ci_jobs}
    assert identities_used == {"infra_pipeline", "model_pipeline"}
    assert any("provision" in run.sessions for run in ci_jobs)
    assert any("AzureMLJobWaitTask@1" in run.tasks for run in ci_jobs)
    assert check_jobs(ci_jobs) == [], "\n".join(map(str, check_jobs(ci_jobs)))


def test_the_cd_jobs_promote_as_the_target_environments_model_pipelines(ci_jobs):
    promoting = [run for run in ci_jobs if "promote" in run.sessions]
    assert len(promoting) == 2 * len(load_config().model_names)  # Azure DevOps and GitHub
    assert {run.identity for run in promoting} == {"model_pipeline"}
    assert check_jobs(promoting) == []


def test_promotion_needs_the_source_read_and_the_registry_grants():
    """Without its Reader on the source workspace, or its AzureML Registry User on the
    registry, a promotion target's model pipelines could not promote: the check names both."""
    run = JobRun("cd", "model_pipeline", ["promote"])
    kept = identities.GRANTS
    try:
        identities.GRANTS = tuple(g for g in kept if g.scope not in ("source_workspace",
                                                                       "registry"))
        missing = {m.operation for m in check_jobs([run])}
    finally:
        identities.GRANTS = kept
    assert missing == {"read the source environment's workspace",
                       "read the source environment's models",
                       "read the source environment's jobs",
                       "share models into the registry", "read models in the registry"}


def test_the_registry_user_works_with_assets_but_cannot_create_a_registry():
    # "Can get registries, and read, write and delete assets within them. Cannot create new
    # registry resources or delete them." (how-to-assign-roles, AzureML Registry User)
    role, registry = ROLES["AzureML Registry User"], "Microsoft.MachineLearningServices/registries"
    assert role.allows(f"{registry}/assets/write") and role.allows(f"{registry}/read")
    assert not role.allows(f"{registry}/write") and not role.allows(f"{registry}/delete")
    # a source workspace's Reader reads models and jobs but changes nothing there
    reader, ml = ROLES["Reader"], "Microsoft.MachineLearningServices/workspaces"
    assert reader.allows(f"{ml}/models/versions/read") and reader.allows(f"{ml}/jobs/read")
    assert not reader.allows(f"{ml}/models/versions/write")


def test_only_the_infrastructure_pipeline_changes_infrastructure(ci_jobs):
    infra_sessions = {"plan", "apply", "provision", "destroy"}
    for run in ci_jobs:
        if run.identity != "infra_pipeline":
            assert not infra_sessions & set(run.sessions), run


def test_a_job_running_a_session_as_the_wrong_identity_fails_naming_everything(ci_jobs):
    provision = next(r for r in ci_jobs if "provision" in r.sessions)
    wrong = JobRun(provision.job, "model_pipeline", provision.sessions)
    missing = check_jobs([wrong])
    text = "\n".join(map(str, missing))
    assert "create the Azure ML workspace" in text and "create compute clusters" in text
    assert f"job {provision.job!r} runs provision as model_pipeline" in text
    assert "write the Terraform state" in text  # Reader on the state is not enough
    assert "e.g. Contributor" in text or "Contributor" in text


def test_model_sessions_requiring_provision_again_would_fail(requires):
    chain = _chain("pr_build", {**requires, "pr_build": [*requires["pr_build"], "provision"]})
    missing = check_jobs([JobRun("pr", "model_pipeline", chain)])
    assert {m.session for m in missing} == {"plan", "provision"}


# -- the docs ----------------------------------------------------------------------------------
def test_docs_identity_tables_are_generated_from_the_table():
    for relative, blocks in GENERATED.items():
        text = (ROOT / relative).read_text(encoding="utf-8")
        assert render(text, blocks, relative) == text, f"{relative} drifted: run `nox -s docs`"
    table = identities.markdown()
    for grant in GRANTS:
        assert f"| {grant.role} |" in table
