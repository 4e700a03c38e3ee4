"""Loads and validates config/*.json and every model's configs, reporting all problems at once."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from mlops.config._fields import ConfigError, Fields, Problem, each_entry, read_json
from mlops.config.model import (
    DATA_PURPOSES,
    DEFAULT_DRIFT_THRESHOLD,
    DEFAULT_ENDPOINT_PORTS,
    DEFAULT_MONITOR_CRON,
    DEFAULT_SAMPLING_RATE,
    DEPLOYMENT_KEYS,
    BatchConfig,
    DataConfig,
    Dataset,
    FactoryConfig,
    InfraConfig,
    ModelEnvConfig,
    RealtimeConfig,
)
from mlops.paths import repo_root
from mlops.plugins import ModelPlugin, PluginError, read_plugin
from mlops.tasks import task as task_of
from mlops.tasks import threshold_problem

INFRA_FILE = "config/infra_config.json"
MODEL_FILE = "config/model_config.json"
# Environments every model's pipelines use (PR build on pr, CI build on dev).
PR_ENV, CI_ENV = "pr", "dev"
REQUIRED_ENVIRONMENTS = (PR_ENV, CI_ENV)
# The entry whose MODEL_NAME the CI build registers and deploys, and that approval, promotion
# and lineage act on (its batch and realtime configs name the endpoints in every environment).
DEPLOY_ENVIRONMENT = CI_ENV
DEFAULT_INFRA_ENV = "dev"
ENV_NAME_PATTERN = r"[a-z][a-z0-9]{1,15}"  # an environment name (infrastructure or model)
PORT_RANGE_TEXT = "a port range \"FIRST-LAST\" within 1024-65535, at least 200 ports wide"
MIN_PORT_RANGE = 200  # a front scans this many ports from its name's place in the range

MODEL_NAME_PATTERN = r"[a-z][a-z0-9_]{1,30}"  # a model folder under mlops/
AZURE_ML_ENDPOINT = r"[A-Za-z][A-Za-z0-9-]{2,31}"
AZURE_ML_ENDPOINT_TEXT = "3-32 letters, digits and hyphens, starting with a letter"
_COMPUTE = r"[A-Za-z][A-Za-z0-9-]{1,15}"
_GUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
DEVOPS_ORG_URL = (r"https://(dev\.azure\.com/[A-Za-z0-9][A-Za-z0-9_.-]*"
                  r"|[A-Za-z0-9][A-Za-z0-9-]*\.visualstudio\.com)/?")
# five cron fields (minute hour day month weekday) of digits, '*', ',', '-' and '/': what both
# Azure Pipelines' `schedules:` and GitHub's `on: schedule` accept, and Azure ML's CronTrigger
_CRON_FIELD = r"[0-9*,/-]+"
CRON = rf"{_CRON_FIELD}( {_CRON_FIELD}){{4}}"
_COMPUTE_TEXT = "2-16 letters, digits and hyphens, starting with a letter (Azure ML compute name)"


def selected_infra_env() -> str:
    return os.environ.get("FACTORY_INFRA_ENV", DEFAULT_INFRA_ENV)


def load_config(root: Path | None = None, infra_env: str | None = None) -> FactoryConfig:
    """The whole configuration, or ConfigError listing every problem of every file."""
    root = (root or repo_root()).resolve()
    infra_env = infra_env or selected_infra_env()
    problems: list[Problem] = []
    infra = _load_infra(root, problems)
    entries, declared = _load_models(root, problems)
    if infra and infra_env not in infra:
        problems.append(Problem(INFRA_FILE, None, None,
                                f"no infrastructure environment {infra_env!r} (FACTORY_INFRA_ENV); "
                                f"found {', '.join(sorted(infra))}"))
    if infra:
        _check_environments(infra, problems)
        _check_batch_clusters(entries, list(infra.values()), root, problems)
    _check_environment_coverage(declared, problems)
    _check_endpoint_names(entries, root, problems)
    if problems:
        # Files shared by several entries would otherwise repeat their problems.
        raise ConfigError(dict.fromkeys(problems))
    return FactoryConfig(root=root, infra=infra, entries=entries)


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


# ---------------------------------------------------------------- infra_config.json

def _load_infra(root: Path, problems: list[Problem]) -> dict[str, InfraConfig]:
    data = read_json(root / INFRA_FILE, INFRA_FILE, problems)
    if data is None:
        return {}
    if not isinstance(data, dict) or not data:
        problems.append(Problem(INFRA_FILE, None, None,
                                "expected an object of infrastructure environments, e.g. {\"dev\": {...}}"))
        return {}
    result = {}
    for env_name, values in data.items():
        if not isinstance(values, dict):
            problems.append(Problem(INFRA_FILE, env_name, None, "expected an object of settings"))
            continue
        before = len(problems)
        f = Fields(problems, INFRA_FILE, env_name, values)
        cfg = dict(
            env_name=env_name,
            namespace=f.string("NAMESPACE", pattern=r"[a-z][a-z0-9]{1,9}",
                               expected="2-10 lower-case letters or digits, starting with a letter"),
            projectcode=f.string("PROJECTCODE", pattern=r"[a-z0-9]{1,8}",
                                 expected="1-8 lower-case letters or digits"),
            version=f.string("VERSION", pattern=r"\d{3}",
                             expected="three digits, zero-padded (e.g. \"001\")"),
            location=f.string("LOCATION", pattern=r"[a-z][a-z0-9]+",
                              expected="an Azure region name such as \"westeurope\""),
            resource_group_name=f.string("RESOURCE_GROUP_NAME", pattern=r"[-\w.()]{1,90}",
                                         expected="1-90 letters, digits, '-', '_', '.', '(' or ')'"),
            azure_rm_svc_connection=f.string("AZURE_RM_SVC_CONNECTION"),
            cluster_name=f.string("CLUSTER_NAME", pattern=_COMPUTE, expected=_COMPUTE_TEXT),
            cluster_size=f.string("CLUSTER_SIZE", pattern=r"STANDARD_\w+",
                                  expected="an Azure VM size such as \"STANDARD_DS3_V2\""),
            cluster_min_nodes=f.integer("CLUSTER_MIN_NODES", minimum=0, default=0),
            cluster_max_nodes=f.integer("CLUSTER_MAX_NODES", minimum=1, maximum=100),
            cluster_idle_seconds_before_scaledown=f.integer(
                "CLUSTER_IDLE_SECONDS_BEFORE_SCALEDOWN", minimum=0, default=300),
            batch_cluster_name=f.string("BATCH_CLUSTER_NAME", pattern=_COMPUTE, expected=_COMPUTE_TEXT),
            batch_cluster_size=f.string("BATCH_CLUSTER_SIZE", pattern=r"STANDARD_\w+",
                                        expected="an Azure VM size such as \"STANDARD_DS3_V2\""),
            batch_cluster_max_nodes=f.integer("BATCH_CLUSTER_MAX_NODES", minimum=1, maximum=100),
            variable_group_name=f.string("VARIABLE_GROUP_NAME", default="mlops_platform_dev_vg"),
            devops_project_name=f.string("DEVOPS_PROJECT_NAME"),
            repository_name=f.string("REPOSITORY_NAME"),
            development_branch=f.string("DEVELOPMENT_BRANCH", default="develop"),
            subscription_id=f.string("SUBSCRIPTION_ID", pattern=_GUID, default=None,
                                     expected="an Azure subscription id (a GUID)"),
            devops_organization_url=f.string(
                "DEVOPS_ORGANIZATION_URL", pattern=DEVOPS_ORG_URL, default=None,
                expected="an Azure DevOps organisation URL, https://dev.azure.com/<org>"),
            azure_rm_infra_svc_connection=f.string("AZURE_RM_INFRA_SVC_CONNECTION", default=None),
            promote_from=f.string("PROMOTE_FROM", pattern=ENV_NAME_PATTERN, default=None,
                                  expected="the name of another environment of this file"),
            local_endpoint_ports=_port_range(f, "LOCAL_ENDPOINT_PORTS"),
        )
        f.check_unknown()
        if (cfg["azure_rm_infra_svc_connection"] is not None
                and cfg["azure_rm_infra_svc_connection"] == cfg["azure_rm_svc_connection"]):
            f.problem("AZURE_RM_INFRA_SVC_CONNECTION", "expected a service connection other than "
                      "AZURE_RM_SVC_CONNECTION (the model pipelines must not get the "
                      "infrastructure pipeline's privileges)")
        if (cfg["cluster_min_nodes"] is not None and cfg["cluster_max_nodes"] is not None
                and cfg["cluster_min_nodes"] > cfg["cluster_max_nodes"]):
            f.problem("CLUSTER_MIN_NODES", f"expected at most CLUSTER_MAX_NODES "
                      f"({cfg['cluster_max_nodes']}), found {cfg['cluster_min_nodes']}")
        if len(problems) == before:
            result[env_name] = InfraConfig(**cfg)
    return result


def _port_range(f: Fields, key: str) -> tuple[int, int] | None:
    text = f.string(key, pattern=r"\d{4,5}-\d{4,5}", expected=PORT_RANGE_TEXT, default=None)
    if text is None:
        return DEFAULT_ENDPOINT_PORTS if key not in f.data else None
    first, last = (int(part) for part in text.split("-"))
    if not 1024 <= first < last <= 65535 or last - first + 1 < MIN_PORT_RANGE:
        f.problem(key, f"expected {PORT_RANGE_TEXT}, found {text!r}")
        return None
    return first, last


def _check_environments(infra: dict[str, InfraConfig], problems: list[Problem]) -> None:
    """Each environment is its own workspace: its own names and its own endpoint ports; a
    promotion source names another environment, and promotions never go round in a circle."""
    seen: dict[str, str] = {}
    for env in infra.values():
        other = seen.setdefault(env.workspace_name, env.env_name)
        if other != env.env_name:
            problems.append(Problem(INFRA_FILE, env.env_name, "VERSION", (
                f"expected a workspace name of its own: NAMESPACE, PROJECTCODE and VERSION give "
                f"{env.workspace_name!r}, the same as environment {other!r}")))
    ranges = sorted((env.local_endpoint_ports, env.env_name) for env in infra.values())
    for (first, name), (second, other) in zip(ranges, ranges[1:], strict=False):
        if second[0] <= first[1]:
            problems.append(Problem(INFRA_FILE, other, "LOCAL_ENDPOINT_PORTS", (
                f"expected ports of its own: {second[0]}-{second[1]} overlaps {name}'s "
                f"{first[0]}-{first[1]} (the default is {DEFAULT_ENDPOINT_PORTS[0]}-"
                f"{DEFAULT_ENDPOINT_PORTS[1]}; give each environment its own range)")))
    for env in infra.values():
        source = env.promote_from
        if source is None:
            continue
        if source == env.env_name or source not in infra:
            known = ", ".join(sorted(set(infra) - {env.env_name})) or "none"
            problems.append(Problem(INFRA_FILE, env.env_name, "PROMOTE_FROM", (
                f"expected another environment of this file ({known}), found {source!r}")))
            continue
        chain = [env.env_name]
        while source is not None and source not in chain:
            chain.append(source)
            source = infra[source].promote_from if source in infra else None
        if source is not None:
            problems.append(Problem(INFRA_FILE, env.env_name, "PROMOTE_FROM", (
                f"expected promotions to start somewhere: {' <- '.join([*chain, source])} "
                f"goes round in a circle")))


# ---------------------------------------------------------------- model_config.json

def _entry_label(index: int, item: dict[str, Any]) -> str:
    model, env = item.get("ML_MODEL_CONFIG_NAME"), item.get("ENV_NAME")
    if isinstance(model, str) and isinstance(env, str):
        return f"{model}/{env}"
    return f"models[{index}]"


def _load_models(root: Path, problems: list[Problem]
                 ) -> tuple[dict[tuple[str, str], ModelEnvConfig], set[tuple[str, str]]]:
    """Valid entries, plus every (model, env) declared, valid or not (for the coverage check)."""
    data = read_json(root / MODEL_FILE, MODEL_FILE, problems)
    entries: dict[tuple[str, str], ModelEnvConfig] = {}
    declared: set[tuple[str, str]] = set()
    plugins: dict[str, ModelPlugin | None] = {}
    if data is None:
        return entries, declared
    for label, item in each_entry(problems, MODEL_FILE, data, "models", _entry_label):
        before = len(problems)
        f = Fields(problems, MODEL_FILE, label, item)
        model = f.string("ML_MODEL_CONFIG_NAME", pattern=MODEL_NAME_PATTERN,
                         expected="a model folder name: lower-case letters, digits, '_'")
        env = f.string("ENV_NAME", pattern=ENV_NAME_PATTERN,
                       expected="an environment name: lower-case letters and digits")
        model_dir = root / "mlops" / model if model else None
        plugin = _plugin(model_dir, root, plugins, problems) if model_dir else None
        metrics = task_of(plugin.task).metric_names if plugin else ()
        values = dict(
            cluster_region=f.string("CLUSTER_REGION"),
            conda_path=f.path("CONDA_PATH", root),
            display_base_name=f.string("DISPLAY_BASE_NAME"),
            env_base_image_name=f.string("ENV_BASE_IMAGE_NAME"),
            environment_name=f.string("ENVIRONMENT_NAME"),
            experiment_base_name=f.string("EXPERIMENT_BASE_NAME"),
            model_base_name=f.string("MODEL_BASE_NAME"),
            gate_metric=f.string("GATE_METRIC", choices=metrics or None,
                                 default=task_of(plugin.task).default_gate_metric if plugin
                                 else None),
            gate_threshold=f.number("GATE_THRESHOLD"),
            path_filters=f.string_list("PATH_FILTERS", default=None),
            # the estimator's parameters for this environment (defaults: its PARAMS)
            training_params=f.typed_map("TRAINING_PARAMS", plugin.params if plugin else {},
                                        default={}),
            drift_threshold=f.number("DRIFT_THRESHOLD", minimum=0.001, maximum=1,
                                     default=DEFAULT_DRIFT_THRESHOLD),
            monitor_cron=f.string("MONITOR_CRON", pattern=CRON, default=DEFAULT_MONITOR_CRON,
                                  expected="five cron fields, minute hour day month weekday "
                                           "(UTC), e.g. \"0 6 * * *\""),
            is_online_deployment=f.boolean(DEPLOYMENT_KEYS["online"], default=True),
            is_batch_deployment=f.boolean(DEPLOYMENT_KEYS["batch"], default=True),
        )
        batch_path = f.path("BATCH_DEPLOYMENT_CONFIG", root)
        realtime_path = f.path("REALTIME_DEPLOYMENT_CONFIG", root)
        data_path = f.path("DATA_CONFIG_PATH", root)
        f.check_unknown()
        if plugin and values["gate_metric"] and values["gate_threshold"] is not None:
            why = threshold_problem(plugin.task, values["gate_metric"], values["gate_threshold"])
            if why:
                f.problem("GATE_THRESHOLD", f"expected a reachable threshold: {why}")
        batch = _load_batch(batch_path, root, problems) if batch_path else None
        realtime = _load_realtime(realtime_path, root, problems) if realtime_path else None
        datacfg = _load_data(data_path, root, problems) if data_path else None
        if (model, env) in declared:
            f.problem(None, "duplicate entry: this model and environment appear more than once")
        if model and env:
            declared.add((model, env))
        if len(problems) == before and model and env and plugin:
            filters = values.pop("path_filters") or [f"mlops/{model}/*"]
            entries[(model, env)] = ModelEnvConfig(
                model=model, env=env, model_dir=model_dir, task=plugin.task,
                path_filters=tuple(filters),
                batch=batch, realtime=realtime, data=datacfg, **values)
    return entries, declared


# ---------------------------------------------------------------- per-model files

def _plugin(model_dir: Path, root: Path, seen: dict[str, ModelPlugin | None],
            problems: list[Problem]) -> ModelPlugin | None:
    """The model folder's plugin, read once per model; its problems are reported once."""
    if model_dir.name in seen:
        return seen[model_dir.name]
    plugin = None
    if not model_dir.is_dir():
        problems.append(Problem(MODEL_FILE, model_dir.name, "ML_MODEL_CONFIG_NAME",
                                f"expected a model folder, found no folder "
                                f"{_relative(model_dir, root)}"))
    else:
        try:
            plugin = read_plugin(model_dir)
        except PluginError as exc:
            problems.extend(Problem(_relative(model_dir, root), None, None, line.strip()[2:])
                            for line in str(exc).splitlines()[1:])
    seen[model_dir.name] = plugin
    return plugin


def _load_batch(path: Path, root: Path, problems: list[Problem]) -> BatchConfig | None:
    shown = _relative(path, root)
    data = read_json(path, shown, problems)
    if not isinstance(data, dict):
        if data is not None:
            problems.append(Problem(shown, None, None, "expected an object of settings"))
        return None
    before = len(problems)
    f = Fields(problems, shown, None, data)
    values = dict(
        batch_cluster_name=f.string("BATCH_CLUSTER_NAME"),
        endpoint_name=f.string("ENDPOINT_NAME", pattern=AZURE_ML_ENDPOINT, expected=AZURE_ML_ENDPOINT_TEXT),
        deployment_name=f.string("DEPLOYMENT_NAME", pattern=AZURE_ML_ENDPOINT,
                                 expected=AZURE_ML_ENDPOINT_TEXT),
        cluster_instance_count=f.integer("CLUSTER_INSTANCE_COUNT", minimum=1, maximum=100),
        max_concurrency_per_instance=f.integer("MAX_CONCURRENCY_PER_INSTANCE", minimum=1, maximum=64),
        mini_batch_size=f.integer("MINI_BATCH_SIZE", minimum=1),
        output_file_name=f.string("OUTPUT_FILE_NAME", pattern=r"[\w.-]+\.csv",
                                  expected="a file name ending in .csv"),
        max_retries=f.integer("MAX_RETRIES", minimum=0, maximum=20),
        retry_timeout=f.integer("RETRY_TIMEOUT", minimum=1),
    )
    f.check_unknown()
    return BatchConfig(file=path, **values) if len(problems) == before else None


def _load_realtime(path: Path, root: Path, problems: list[Problem]) -> RealtimeConfig | None:
    shown = _relative(path, root)
    data = read_json(path, shown, problems)
    if not isinstance(data, dict):
        if data is not None:
            problems.append(Problem(shown, None, None, "expected an object of settings"))
        return None
    before = len(problems)
    f = Fields(problems, shown, None, data)
    values = dict(
        endpoint_name=f.string("ENDPOINT_NAME", pattern=AZURE_ML_ENDPOINT, expected=AZURE_ML_ENDPOINT_TEXT),
        deployment_name=f.string("DEPLOYMENT_NAME", pattern=AZURE_ML_ENDPOINT,
                                 expected=AZURE_ML_ENDPOINT_TEXT),
        deployment_vm_size=f.string("DEPLOYMENT_VM_SIZE", pattern=r"Standard_\w+",
                                    expected="an Azure VM size such as \"Standard_DS3_v2\""),
        deployment_instance_count=f.integer("DEPLOYMENT_INSTANCE_COUNT", minimum=1, maximum=20),
        environment_variables=f.string_map("ENVIRONMENT_VARIABLES", default={}),
        test_request_path=f.path("TEST_REQUEST_PATH", root),
        collection_sampling_rate=f.number("COLLECTION_SAMPLING_RATE", minimum=0.001, maximum=1,
                                          default=DEFAULT_SAMPLING_RATE),
    )
    f.check_unknown()
    return RealtimeConfig(file=path, **values) if len(problems) == before else None


def _load_data(path: Path, root: Path, problems: list[Problem]) -> DataConfig | None:
    shown = _relative(path, root)
    data = read_json(path, shown, problems)
    if data is None:
        return None
    before = len(problems)
    datasets = []
    for label, item in each_entry(problems, shown, data, "datasets",
                                  lambda i, d: str(d.get("DATASET_NAME") or f"datasets[{i}]")):
        f = Fields(problems, shown, label, item)
        purpose = f.string("DATA_PURPOSE", choices=DATA_PURPOSES)
        # Data folders may be empty or absent: the model's generator fills them.
        data_path = f.path("DATA_PATH", root, must_exist=False)
        name = f.string("DATASET_NAME", pattern=r"[A-Za-z0-9_-]{1,255}",
                        expected="letters, digits, '_' or '-'")
        desc = f.string("DATASET_DESC")
        f.check_unknown()
        if None not in (purpose, data_path, name, desc):
            datasets.append(Dataset(purpose, data_path, name, desc))
    purposes = [d.purpose for d in datasets]
    for purpose in DATA_PURPOSES:
        if len(problems) == before and purposes.count(purpose) != 1:
            problems.append(Problem(shown, None, "DATA_PURPOSE",
                                    f"expected exactly one dataset with purpose {purpose!r}, "
                                    f"found {purposes.count(purpose)}"))
    return DataConfig(file=path, datasets=tuple(datasets)) if len(problems) == before else None


# ---------------------------------------------------------------- cross-file checks

def _check_batch_clusters(entries: dict[tuple[str, str], ModelEnvConfig],
                          infra: list[InfraConfig], root: Path, problems: list[Problem]) -> None:
    """Every batch config names the batch cluster of every infrastructure environment (a
    promotion deploys the same endpoints in each)."""
    seen: set[Path] = set()
    for entry in entries.values():
        if entry.batch.file in seen:
            continue
        seen.add(entry.batch.file)
        wrong = [env for env in infra if entry.batch.batch_cluster_name != env.batch_cluster_name]
        if wrong:
            wanted = sorted({env.batch_cluster_name for env in wrong})
            problems.append(Problem(
                _relative(entry.batch.file, root), None, "BATCH_CLUSTER_NAME",
                f"expected {' or '.join(map(repr, wanted))} to match BATCH_CLUSTER_NAME of "
                f"{INFRA_FILE} ({', '.join(env.env_name for env in wrong)}), found "
                f"{entry.batch.batch_cluster_name!r}"))


def _check_environment_coverage(declared: set[tuple[str, str]], problems: list[Problem]) -> None:
    models = sorted({m for m, _ in declared})
    envs = sorted(set(REQUIRED_ENVIRONMENTS) | {e for _, e in declared})
    for model in models:
        for env in envs:
            if (model, env) not in declared:
                problems.append(Problem(MODEL_FILE, f"{model}/{env}", None,
                                        f"missing entry: every model needs one for each environment "
                                        f"({', '.join(envs)})"))


def _check_endpoint_names(entries: dict[tuple[str, str], ModelEnvConfig], root: Path,
                          problems: list[Problem]) -> None:
    """Endpoint names are global: two config files must never claim the same one."""
    owners: dict[str, Path] = {}
    for entry in entries.values():
        for cfg in (entry.batch, entry.realtime):
            name = cfg.endpoint_name.lower()
            owner = owners.setdefault(name, cfg.file)
            if owner != cfg.file:
                problems.append(Problem(
                    _relative(cfg.file, root), None, "ENDPOINT_NAME",
                    f"expected a unique endpoint name, found {cfg.endpoint_name!r} "
                    f"also used by {_relative(owner, root)}"))
