"""Every session of the task graph, declared once: the noxfile defines its sessions from this
table, the CLI its commands, `nox -s docs` the README's session table, and the CI generators
name only sessions listed here (tests/unit/test_sessions.py checks all four).

Standard library only: the noxfile imports it before any environment exists.
"""

from __future__ import annotations

from dataclasses import dataclass

TERRAFORM = ("terraform", "node")  # outside prerequisites of anything that synthesises


@dataclass(frozen=True)
class Session:
    name: str  # the nox session (`nox -s NAME`); the CLI command is NAME with '-' for '_'
    help: str  # one line: `nox -l`, the CLI's help
    what: str  # the README table's description (markdown)
    requires: tuple[str, ...] = ()  # nox sessions that run first
    default: bool = False  # runs with a plain `nox`
    tools: tuple[str, ...] = ()  # outside prerequisites checked before it runs
    runner: str = "factory"  # "factory": python -m mlops <command>; "lint" / "tests": their own
    new_names: bool = False  # its MODEL arguments name models that do not exist yet

    @property
    def command(self) -> str:
        return self.name.replace("_", "-")

    @property
    def module(self) -> str:
        return f"mlops.commands.{self.name}"


SESSIONS: tuple[Session, ...] = (
    Session("check_config", "Validate config/*.json and every model's configs; list all "
            "problems at once.",
            "validates `config/*.json` and every model's configs, all problems at once",
            default=True),
    Session("lint", "Ruff over the factory, its models and tests.",
            "ruff over the factory, models and tests", default=True, runner="lint"),
    Session("tests", "The test suite: unit tests plus integration tests on the real local "
            "platform.", "the test suite (unit + integration on the real local platform): "
            "two pytest-xdist workers, then the `serial` modules alone",
            default=True, runner="tests"),
    Session("bench", "Benchmarks; results go to docs/benchmarks.md with the command that "
            "produced them.",
            "benchmarks → `docs/benchmarks.md` (`-- --only AREA` for one area)", tools=TERRAFORM),
    Session("synth", "Synthesise the stacks of --target (local default) to .factory/cdktf.out; "
            "skipped when unchanged.",
            "synthesises the stacks of the target to `.factory/cdktf.out`; skipped when inputs "
            "are unchanged", requires=("check_config",), default=True, tools=TERRAFORM),
    Session("plan", "Save a Terraform plan; print its summary and write it as markdown for a "
            "PR comment.",
            "saved plan + add/change/destroy summary (printed, and markdown for a PR comment)",
            requires=("synth",), tools=TERRAFORM),
    Session("apply", "Apply the saved plan only (never an unreviewed one).",
            "applies the saved plan only, never an unreviewed one", tools=TERRAFORM),
    Session("provision", "Provision the workspace: apply the plan just made; a no-op when "
            "nothing changed.", "synth → plan → apply", requires=("plan",), tools=TERRAFORM),
    Session("bootstrap", "Azure, once, as an administrator: state storage, the infrastructure "
            "pipeline's identity and connection, the first apply.",
            "Azure, once, as an administrator: state storage, the infrastructure pipeline's "
            "identity and service connection, then the first apply "
            "([docs/azure.md](docs/azure.md)); local needs nothing", tools=TERRAFORM),
    Session("destroy", "Destroy the stacks; local stops its endpoints and archives the "
            "workspace first (-- --delete-data deletes it).",
            "removes the stack; the local workspace is archived first (`-- --delete-data` "
            "deletes it)", tools=TERRAFORM),
    Session("iac_scan", "checkov over the synthesised Azure stacks and CI YAML; every "
            "suppression has a reason.",
            "checkov over the synthesised Azure stacks and the generated CI YAML",
            default=True, tools=("node",)),
    Session("pipelines", "Write the Azure DevOps and GitHub Actions YAML from config "
            "(-- --check: report drift).",
            "regenerates `.azure-pipelines/` and `.github/` (workflows, set-up action) from "
            "config (`-- --check` reports drift)"),
    Session("docs", "Write the generated parts of the docs (-- --check: report drift).",
            "regenerates the generated tables of the docs (this session table, the identity "
            "tables of [docs/azure.md](docs/azure.md)); `-- --check` reports drift"),
    Session("cancel_job", "Cancel the Azure ML job of a cancelled CI run (CI calls it; "
            "AZUREML_JOB_NAME optional).",
            "cancels a model's running Azure ML pipeline job (CI runs it when a run is "
            "cancelled)"),
    Session("wait_job", "Wait one bounded slice for the Azure ML job a CI run submitted.",
            "waits one bounded slice for the Azure ML job CI submitted (`AZUREML_JOB_NAME`); "
            "GitHub repeats it after each login"),
    Session("gate", "Read a finished CI job's gate decision; fail when it is not met; publish "
            "it.", "reads the finished CI job's gate decision, fails when it is not met, "
            "publishes the run's metadata for the approval"),
    Session("new_model", "Scaffold a model: -- NAME [--task regression|classification] "
            "[--from MODEL].",
            "writes a new model: folder, configs, config entries and CI pipelines "
            "(`-- NAME [--task regression\\|classification] [--from MODEL]`)", new_names=True),
    # model sessions never require provision: mlops.infra.workspace_for provisions local on
    # demand and only reads Terraform outputs on azure (the infrastructure pipeline provisions).
    # pr_build and ci_build wait for no other session: the CLI validates the configuration
    # before any command (every problem at once, as check_config does), and they register their
    # models' data themselves (SESSION_OPERATIONS in mlops/identities.py) while the checks run.
    Session("register_data", "Register each model's datasets as data assets versioned by "
            "content (generates empty ones).",
            "registers each model's datasets, versioned by content",
            requires=("check_config",), tools=TERRAFORM),
    Session("pr_build", "Lint and unit tests of each model, then its pipeline on env pr; "
            "fails when the gate fails.",
            "lint + unit tests of the model, alongside its data registration and pipeline "
            "on `pr`, gate", tools=TERRAFORM),
    Session("ci_build", "Pipeline on env dev, gated registration, then deploy and smoke-test "
            "the new champion.",
            "data registration, pipeline on `dev`, gated registration, deploy batch + "
            "online, smoke tests", tools=TERRAFORM),
    Session("deploy", "Deploy each model's champion to its batch and online endpoints "
            "(blue/green, smoke-tested).",
            "deploys the champion to its batch and online endpoints (blue/green)",
            requires=("check_config",), tools=TERRAFORM),
    Session("undeploy", "Stop and remove each model's endpoints and their processes; says "
            "what it removed.", "stops and removes a model's endpoints", tools=TERRAFORM),
    Session("invoke", "Send each model's sample request to its online endpoint; run its batch "
            "endpoint.", "sends the sample request online and scores the batch test data",
            tools=TERRAFORM),
    Session("endpoints", "List endpoints: name, kind, model, version, scoring URI, status "
            "(-- --json, --show-keys).", "lists endpoints (`-- --json`, `--show-keys`)",
            tools=TERRAFORM),
    Session("cleanup", "Remove old non-champion model versions and finished PR experiments, "
            "keeping the newest N (-- --keep N; --check: report only).",
            "removes old model versions (never the champion or an approved one) and finished PR "
            "experiments, keeping the newest N (`-- --keep N`, `--check` reports only)",
            tools=TERRAFORM),
    Session("approve", "Tag a model version for production (-- MODEL [--version N], default "
            "the champion), recording approver and build.",
            "tags a version for production (`-- MODEL --version N`, default the champion), "
            "recording who and which build", tools=TERRAFORM),
    Session("promote", "Promote a model's approved version to another environment (-- MODEL "
            "--from dev --to prod [--version N]); never retrains.",
            "moves the approved version (default: the champion) to another environment "
            "(`-- MODEL --from dev --to prod`): the same artifact, digest-checked, registered "
            "with lineage tags, made champion and deployed; never retrains, refuses an "
            "unapproved version", tools=TERRAFORM),
    Session("lineage", "Print where a model's served or registered version came from, in every "
            "environment (-- MODEL [--env ENV] [--version N] [--json]).",
            "data → run and steps → gate → version and digest → approval → promotions → "
            "endpoints, in each environment (`-- MODEL [--env ENV] [--version N] [--json]`)",
            tools=TERRAFORM),
    Session("monitor", "Drift of each model's logged online requests and predictions against "
            "its training data; fails naming drifted columns.",
            "compares logged requests and predictions with the training data (evidently), "
            "writes `reports/<model>_monitor_<env>.html` and `.json`, fails naming the drifted "
            "columns; on Azure configures Azure ML model monitoring", tools=TERRAFORM),
    Session("ui", "Serve the MLflow UI over the local workspace's store on 127.0.0.1; print its "
            "URL and the reports' links.",
            "serves the MLflow UI of the local workspace (`--env ENV`), prints its URL and the "
            "HTML reports' links; runs until Ctrl-C", tools=TERRAFORM),
)
BY_NAME = {session.name: session for session in SESSIONS}
BY_COMMAND = {session.command: session for session in SESSIONS}


def markdown() -> str:
    """The README's session table."""
    rows = ["| session | requires | runs | what it does |", "|---|---|---|---|"]
    for s in SESSIONS:
        requires = ", ".join(s.requires) or "–"
        rows.append(f"| `{s.name}` | {requires} | {'by default' if s.default else 'on request'} "
                    f"| {s.what} |")
    return "\n".join(rows) + "\n"


# `nox -s tests`: most integration tests wait on subprocesses and servers, so two pytest-xdist
# workers (each taking whole modules: their module fixtures, their order) keep both cores busy;
# the modules marked `serial` (fault tests timing processes coming back) run alone afterwards.
# Modules are handed out in collection order, which tests/conftest.py sorts longest first; each
# run lists its slowest tests, so that a CI log shows where the time went.
TEST_WORKERS = 2
SERIAL_MARK = "serial"
SLOWEST_SHOWN = 25


def suite_runs(posargs: list[str] | tuple[str, ...]) -> list[list[str]]:
    """The pytest argument lists `nox -s tests` runs, one after the other. Arguments given
    (`nox -s tests -- -k front`) are run once, as given, in one process."""
    if posargs:
        return [list(posargs)]
    return [["-n", str(TEST_WORKERS), "--dist", "loadscope", "--no-loadscope-reorder",
             "-m", f"not {SERIAL_MARK}", f"--durations={SLOWEST_SHOWN}"],
            ["-m", SERIAL_MARK, f"--durations={SLOWEST_SHOWN}"]]
