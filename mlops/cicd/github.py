"""GitHub Actions workflows for each CI definition (the same set as Azure DevOps, calling the
same nox sessions after an OIDC azure/login), plus the composite action every job's set-up is
(.github/actions/setup: Python, Node.js, Terraform, nox, the factory environment).

GitHub has no agentless jobs, and the Azure login azure/login leaves behind cannot be renewed:
the federated token it used is valid for minutes, the access token for 60-90. So the PR and CI
builds submit with `--no-wait` (job `submit` publishes the job name), and job `gate` waits in
slices of WAIT_SLICE_MINUTES, re-running azure/login before each (`nox -s wait_job` stops at
the end of its slice and says whether the job finished; later slices are skipped once it has).
Then `nox -s gate` reads the gate decision after a fresh login, fails the run when the build's
rule is not met (so `deploy` is skipped) and writes the run's metadata to the job summary and
outputs. Cancelling the run signals the running step; an `if: cancelled()` step runs
`nox -s cancel_job`, which cancels the Azure ML job.
The approval is the `production` environment: give it required reviewers in the repository's
settings (Settings > Environments); the approve job waits for them, showing the gate job's
summary on the run page and the Azure ML job as the environment's URL.
A CD workflow per model and promotion target follows the CI workflow (`workflow_run`, when it
succeeded) or runs by hand; its job waits on the same `production` environment's reviewers,
then promotes. It logs in as the target environment's identity: each environment other than
dev has its own client id secrets, suffixed with the environment (AZURE_CLIENT_ID_PROD).
"""

from __future__ import annotations

from typing import Any

from mlops.cicd._paths import trigger_globs
from mlops.cicd._sessions import (
    APPROVAL_VARIABLES,
    FINISHED_VARIABLE,
    INFRA_ENV,
    INSTALL_NOX,
    JOB_NAME_VARIABLE,
    JOB_URL_VARIABLE,
    NODE_VERSION,
    PREPARE,
    PYTHON_VERSION,
    TERRAFORM_VERSION,
    VERSION_VARIABLE,
    WAIT_SLICE_MINUTES,
    nox_call,
)
from mlops.cicd.definitions import (
    GITHUB_DIR,
    GITHUB_SETUP_ACTION,
    MODEL_PR_WORKFLOW,
    PipelineDefinition,
    ci_pipeline_name,
)
from mlops.config import FactoryConfig
from mlops.identities import identity

RUNNER = "ubuntu-latest"
JOB_TIMEOUT_MINUTES = 360  # the most a GitHub-hosted job may run
SETUP_ALLOWANCE_MINUTES = 30  # checkout, tools, environment, the gate itself
SLICE_TIMEOUT_MINUTES = WAIT_SLICE_MINUTES + 5  # the runner's backstop if a slice overruns
WAIT_SLICES = (JOB_TIMEOUT_MINUTES - SETUP_ALLOWANCE_MINUTES) // SLICE_TIMEOUT_MINUTES
APPROVAL_ENVIRONMENT = "production"
# Actions pinned to major versions.
CHECKOUT, SETUP_PYTHON, SETUP_NODE = "actions/checkout@v4", "actions/setup-python@v5", \
    "actions/setup-node@v4"
SETUP_TERRAFORM, AZURE_LOGIN = "hashicorp/setup-terraform@v3", "azure/login@v2"
# A local action is referenced by its folder, from the repository root.
SETUP_REF = "./" + GITHUB_SETUP_ACTION.rsplit("/", 1)[0]
JOB_NAME_OUTPUT = JOB_NAME_VARIABLE.lower()
MODEL_PR_PATH = f"{GITHUB_DIR}/{MODEL_PR_WORKFLOW}.yml"

COMMENTS = {
    "pr_changed": ("Pull-request builds: lists the models this change touches (their PATH_FILTERS",
                   "and the factory paths against git diff, the rule Azure DevOps branch policies",
                   "apply) and runs model_pr_build for each."),
    "pr_model": ("Pull-request build of one model (called by pr_build_changed_models): lint and",
                 "unit tests, submit training on the pr environment, wait (re-authenticating",
                 "every slice), fail on a missed threshold."),
    "pr": ("Pull-request build for {model}: lint and unit tests, submit training on the pr",
           "environment, wait (re-authenticating every slice), fail on a missed threshold."),
    "ci": ("CI for {model} on the development branch: train on dev, wait, gate (fails unless a",
           "new champion was registered), deploy and smoke-test, then approval through the",
           "'" + APPROVAL_ENVIRONMENT + "' environment (configure required reviewers on it).",
           "Cancelling cancels the Azure ML job."),
    "infra": ("Provisions the {env} environment's Azure ML workspace and Azure DevOps resources",
              "from config/."),
    "data": ("Registers every model's data assets (versioned by content) in the Azure ML workspace.",),
    "cd": ("CD for {model} to {env}: after its CI workflow succeeded (or by hand), waits for the",
           "'" + APPROVAL_ENVIRONMENT + "' environment's required reviewers, then promotes the",
           "approved version from {source} (the same artifact, digest-checked, through the shared",
           "Azure ML registry; never retrained), logged in as {env}'s model pipelines.",),
    "monitor": ("Scheduled monitoring of {model} (MONITOR_CRON, UTC; GitHub runs schedules on the",
                "default branch): keeps Azure ML model monitoring of its online endpoint configured.",),
}
LOGIN_NOTE = ("Azure login is OIDC (federated credential, no client secret): repository secrets",
              "AZURE_CLIENT_ID (model pipelines) or AZURE_INFRA_CLIENT_ID (infrastructure),",
              "suffixed _<ENV> for an environment other than dev (AZURE_CLIENT_ID_PROD),",
              "AZURE_TENANT_ID and AZURE_SUBSCRIPTION_ID name the identity.")
SETUP_COMMENTS = ("Set-up steps every job runs after checkout: Python, Node.js, Terraform, nox,",
                  "then the factory environment (built before any Azure login: a federated token",
                  "is valid for minutes, so the first Azure call must follow its login).")


def setup_action() -> dict[str, Any]:
    """The composite action: the only place the workflows install their tools."""
    return {
        "name": "Model Factory set-up",
        "description": "Python, Node.js, Terraform and nox, then the factory environment",
        "runs": {"using": "composite", "steps": [
            {"uses": SETUP_PYTHON, "with": {"python-version": PYTHON_VERSION}},
            {"uses": SETUP_NODE, "with": {"node-version": NODE_VERSION}},
            {"uses": SETUP_TERRAFORM, "with": {"terraform_version": TERRAFORM_VERSION,
                                               "terraform_wrapper": False}},
            {"name": "Install nox", "shell": "bash", "run": INSTALL_NOX},
            {"name": "Build the factory environment, check config", "shell": "bash",
             "run": PREPARE},
        ]},
    }


def _secret(name: str) -> str:
    return "${{ secrets." + name + " }}"


def client_id_secret(kind: str, env: str = INFRA_ENV) -> str:
    """The repository secret naming the identity a workflow logs in as (mlops.identities): the
    development environment's as the table names it, another environment's suffixed."""
    key = "infra_pipeline" if kind == "infra" else "model_pipeline"
    base = str(identity(key).github_client_id_secret)
    return base if env == INFRA_ENV else f"{base}_{env.upper()}"


def _login(kind: str, env: str = INFRA_ENV, **extra: Any) -> dict[str, Any]:
    return {"name": "Azure login (OIDC)", **extra, "uses": AZURE_LOGIN, "with": {
        "client-id": _secret(client_id_secret(kind, env)),
        "tenant-id": "${{ secrets.AZURE_TENANT_ID }}",
        "subscription-id": "${{ secrets.AZURE_SUBSCRIPTION_ID }}"}}


def _job_env(kind: str, env: str = INFRA_ENV) -> dict[str, str]:
    """Terraform reads the identity and the subscription from the environment (the OIDC token
    itself comes from the runner, see mlops.infra.credentials)."""
    values = {"AZURE_CLIENT_ID": _secret(client_id_secret(kind, env)),
              "AZURE_TENANT_ID": "${{ secrets.AZURE_TENANT_ID }}",
              "ARM_SUBSCRIPTION_ID": "${{ secrets.AZURE_SUBSCRIPTION_ID }}"}
    if kind == "infra":
        values["AZDO_ORG_SERVICE_URL"] = _secret("AZDO_ORG_SERVICE_URL")
    if env != INFRA_ENV:
        values["FACTORY_INFRA_ENV"] = env
    return values


def _nox_step(command: str, **extra: Any) -> dict[str, Any]:
    return {"name": command, **extra, "run": command}


def _job(kind: str, name: str, steps: list[dict[str, Any]], *, login: bool = True,
         env: dict[str, str] | None = None, infra_env: str = INFRA_ENV,
         **extra: Any) -> dict[str, Any]:
    setup = [{"uses": CHECKOUT, "with": {"persist-credentials": False}}, {"uses": SETUP_REF}]
    return {"name": name, **extra, "runs-on": RUNNER,
            "env": {**_job_env(kind, infra_env), **(env or {})},
            "steps": [*setup, *([_login(kind, infra_env)] if login else []), *steps]}


def _cancel_steps(kind: str, model: str, job_name: str) -> list[dict[str, Any]]:
    """A cancelled run cancels its Azure ML job (after a fresh login: the step may come long
    after the job's last one)."""
    return [_login(kind, **{"if": "cancelled()"}),
            _nox_step(nox_call("cancel_job", model), **{"if": "cancelled()"},
                      env={JOB_NAME_VARIABLE: job_name})]


def _wait_steps(kind: str, model: str) -> list[dict[str, Any]]:
    """WAIT_SLICES slices, each a fresh azure/login then one bounded wait. A slice runs only
    when the previous one ran and said "false" (a skipped slice has no output, so once one
    says "true" every later slice is skipped)."""
    steps: list[dict[str, Any]] = []
    for index in range(1, WAIT_SLICES + 1):
        condition = ({} if index == 1 else {
            "if": f"steps.wait_{index - 1}.outputs.{FINISHED_VARIABLE.lower()} == 'false'"})
        steps.append(_login(kind, **condition))
        steps.append(_nox_step(nox_call("wait_job", model), id=f"wait_{index}", **condition,
                               **{"timeout-minutes": SLICE_TIMEOUT_MINUTES}))
    return steps


def _training_jobs(kind: str, session: str, model: str) -> dict[str, Any]:
    """submit (no wait) -> gate (sliced wait, then the gate decision)."""
    published = f"${{{{ needs.submit.outputs.{JOB_NAME_OUTPUT} }}}}"
    submit = _job(kind, f"Submit the training pipeline ({session}, no wait)", [
        _nox_step(nox_call(session, model, "--no-wait"), id="submit"),
        *_cancel_steps(kind, model, f"${{{{ steps.submit.outputs.{JOB_NAME_OUTPUT} }}}}")],
        outputs={JOB_NAME_OUTPUT: f"${{{{ steps.submit.outputs.{JOB_NAME_OUTPUT} }}}}"})
    gate = _job(kind, "Wait for the Azure ML job, then read its gate decision", [
        *_wait_steps(kind, model),
        _login(kind),
        _nox_step(nox_call("gate", model), id="gate"),
        *_cancel_steps(kind, model, published)],
        login=False, needs="submit", env={JOB_NAME_VARIABLE: published},
        outputs={name.lower(): f"${{{{ steps.gate.outputs.{name.lower()} }}}}"
                 for name in (*APPROVAL_VARIABLES, VERSION_VARIABLE)},
        **{"timeout-minutes": JOB_TIMEOUT_MINUTES})
    return {"submit": submit, "gate": gate}


def _changed_models_jobs(config: FactoryConfig) -> dict[str, Any]:
    """`changes` lists the models the pull request touches (the branch-policy rule, see
    mlops/changes.py); `build` runs the per-model PR workflow for each of them."""
    branch = config.infra_env(INFRA_ENV).development_branch
    # no --target azure: choosing the models reads only git and config, never Azure
    listing = _nox_step(f"nox -s pr_build -- --changed origin/{branch} --list", id="changes")
    changes = {"name": "Models this change touches", "runs-on": RUNNER,
               "outputs": {"models": "${{ steps.changes.outputs.models }}"},
               "steps": [{"uses": CHECKOUT, "with": {"persist-credentials": False,
                                                     "fetch-depth": 0}},
                         {"uses": SETUP_REF}, listing]}
    build = {"name": "Pull-request build of ${{ matrix.model }}", "needs": "changes",
             "if": "needs.changes.outputs.models != '[]'",
             "strategy": {"fail-fast": False,
                          "matrix": {"model": "${{ fromJSON(needs.changes.outputs.models) }}"}},
             "uses": f"./{MODEL_PR_PATH}", "with": {"model": "${{ matrix.model }}"},
             "secrets": "inherit"}
    return {"changes": changes, "build": build}


def _jobs(definition: PipelineDefinition, config: FactoryConfig) -> dict[str, Any]:
    model = definition.model
    if definition.kind == "pr":
        return _training_jobs("pr", "pr_build", model)
    if definition.kind == "pr_model":
        return _training_jobs("pr", "pr_build", "${{ inputs.model }}")
    if definition.kind == "pr_changed":
        return _changed_models_jobs(config)
    if definition.kind == "ci":
        job_url = f"${{{{ needs.gate.outputs.{JOB_URL_VARIABLE.lower()} }}}}"
        return {
            **_training_jobs("ci", "ci_build", model),
            "deploy": _job("ci", "Deploy batch and online endpoints, smoke-test", [
                _nox_step(nox_call("deploy", model)), _nox_step(nox_call("invoke", model))],
                needs="gate"),
            # the version the build registered (what the reviewers saw), not today's champion
            "approve": _job("ci", "Tag the version this run registered for production", [
                _nox_step(nox_call("approve", model, "--version", "${{ needs.gate.outputs."
                                   f"{VERSION_VARIABLE.lower()} }}}}"))],
                needs=["gate", "deploy"],
                environment={"name": APPROVAL_ENVIRONMENT, "url": job_url}),
        }
    if definition.kind == "cd":
        env, source = definition.env, str(definition.source_env)
        return {"promote": _job(
            "cd", f"Promote {model} from {source} to {env}", [
                _nox_step(nox_call("promote", model, "--from", source, "--to", env)),
                _nox_step(nox_call("lineage", model, env=env))],
            infra_env=env, environment={"name": APPROVAL_ENVIRONMENT},
            **{"if": "github.event_name == 'workflow_dispatch' || "
                     "github.event.workflow_run.conclusion == 'success'"})}
    if definition.kind == "infra":
        return {"provision": _job("infra", "Provision the infrastructure",
                                  [_nox_step(nox_call("provision", env=definition.env))],
                                  infra_env=definition.env)}
    if definition.kind == "data":
        return {"register_data": _job("data", "Register data assets",
                                      [_nox_step(nox_call("register_data"))])}
    if definition.kind == "monitor":
        return {"monitor": _job("monitor", "Configure model monitoring",
                                [_nox_step(nox_call("monitor", model))])}
    raise ValueError(f"unknown pipeline kind {definition.kind!r}")


def _triggers(definition: PipelineDefinition, config: FactoryConfig) -> dict[str, Any]:
    branch = config.infra_env(definition.env).development_branch
    if definition.kind == "pr_model":  # called by the changed-models workflow, once per model
        return {"workflow_call": {"inputs": {"model": {"type": "string", "required": True,
                                                       "description": "the model to build"}}}}
    if definition.kind == "pr_changed":  # every pull request: the workflow picks the models
        return {"pull_request": {"branches": [branch]}, "workflow_dispatch": {}}
    if definition.kind == "monitor":  # GitHub runs schedules on the default branch
        return {"schedule": [{"cron": definition.schedule}], "workflow_dispatch": {}}
    if definition.kind == "cd":  # after the model's CI workflow, on the branch CI builds
        ci_branch = config.infra_env(INFRA_ENV).development_branch
        return {"workflow_run": {"workflows": [ci_pipeline_name(str(definition.model))],
                                 "types": ["completed"], "branches": [ci_branch]},
                "workflow_dispatch": {}}
    event = "pull_request" if definition.kind == "pr" else "push"
    return {event: {"branches": [branch], "paths": trigger_globs(definition.path_filters)},
            "workflow_dispatch": {}}


def render(definition: PipelineDefinition, config: FactoryConfig) -> dict[str, Any]:
    """The workflow document for one definition."""
    document = {
        "name": definition.name,
        "on": _triggers(definition, config),
        "permissions": {"contents": "read", "id-token": "write"},
        "concurrency": {"group": "${{ github.workflow }}-${{ github.ref }}",
                        "cancel-in-progress": True},
        "jobs": _jobs(definition, config),
    }
    if definition.kind == "pr_model":  # the caller's concurrency group covers its runs
        del document["concurrency"]
    if definition.kind == "cd":  # never two promotions at once, none cancelled half-way
        document["concurrency"] = {"group": "${{ github.workflow }}", "cancel-in-progress": False}
    return document


def comments(definition: PipelineDefinition) -> tuple[str, ...]:
    return tuple(line.format(model=definition.model, env=definition.env,
                             source=definition.source_env)
                 for line in (*COMMENTS[definition.kind], *LOGIN_NOTE))
