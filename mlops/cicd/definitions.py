"""Which CI pipelines exist. One list, used by the YAML generator and by the Azure DevOps stack
(build definitions, branch policies, the promotion environment), so the two can never disagree.

Each pipeline belongs to one infrastructure environment, whose Azure DevOps stack creates its
build definition and whose service connection and variable group it uses: the data, PR and CI
pipelines to the development environment (dev), an infrastructure pipeline to every
environment, and a CD pipeline per model to every environment that takes models from another
(PROMOTE_FROM): it promotes the approved version there after the CI pipeline has finished.
"""

from __future__ import annotations

from dataclasses import dataclass

from mlops.cicd._sessions import INFRA_ENV as CI_ENV
from mlops.config import DEPLOY_ENVIRONMENT, FactoryConfig
from mlops.plugins import model_filters

AZURE_DIR = ".azure-pipelines"
GITHUB_DIR = ".github/workflows"
# The set-up steps, once per CI system: an Azure Pipelines step template (referenced relative to
# the pipeline files) and a GitHub composite action (referenced from the repository root).
AZURE_SETUP_TEMPLATE = f"{AZURE_DIR}/templates/setup.yml"
GITHUB_SETUP_ACTION = ".github/actions/setup/action.yml"


AZURE, GITHUB = "azure", "github"
# GitHub runs pull-request builds through one workflow that picks the models a change touches
# (`pr_build -- --changed`, the branch-policy rule) and calls a reusable workflow per model;
# Azure DevOps has a PR pipeline per model, run by build-validation policies with the same filters.
CHANGED_MODELS_WORKFLOW, MODEL_PR_WORKFLOW = "pr_build_changed_models", "model_pr_build"


@dataclass(frozen=True)
class PipelineDefinition:
    name: str  # file stem, e.g. "nyc_taxi_pr_dev_pipeline"
    kind: str  # "infra" | "data" | "pr" | "ci" | "cd" | "monitor" | "pr_changed" | "pr_model"
    model: str | None
    path_filters: tuple[str, ...]  # PR triggers and branch-policy filters
    env: str = CI_ENV  # the infrastructure environment it runs in (its connection, its group)
    source_env: str | None = None  # cd: the environment it promotes from
    systems: tuple[str, ...] = (AZURE, GITHUB)  # the CI systems that get this pipeline
    schedule: str | None = None  # cron (UTC) of a scheduled pipeline: monitor runs

    @property
    def azure_path(self) -> str:
        return f"{AZURE_DIR}/{self.name}.yml"

    @property
    def github_path(self) -> str:
        return f"{GITHUB_DIR}/{self.name}.yml"


def infra_pipeline_name(env: str) -> str:
    """The seed's infra_provision_pipeline for dev; one of its own for every other environment."""
    return "infra_provision_pipeline" if env == CI_ENV else f"infra_provision_{env}_pipeline"


def ci_pipeline_name(model: str) -> str:
    return f"{model}_ci_{CI_ENV}_pipeline"


def pipeline_definitions(config: FactoryConfig) -> list[PipelineDefinition]:
    infra_paths = ("config/infra_config.json", "cdktf_app/*", "terraform/*")
    envs = [CI_ENV, *sorted(e for e in config.infra if e != CI_ENV)]
    result = [PipelineDefinition(infra_pipeline_name(env), "infra", None, infra_paths, env)
              for env in envs]
    result.append(PipelineDefinition("data_registration_pipeline", "data", None,
                                     ("config/model_config.json",
                                      "mlops/*/configs/data_config.json")))
    for model in config.model_names:
        filters = model_filters(config.entry(model, "pr").path_filters)
        result.append(PipelineDefinition(f"{model}_pr_dev_pipeline", "pr", model, filters,
                                         systems=(AZURE,)))
        result.append(PipelineDefinition(ci_pipeline_name(model), "ci", model, filters))
        # the deployed model's monitoring, on its MONITOR_CRON (the entry `nox -s deploy`
        # serves), when it is served online: only an online endpoint collects requests
        deployed = config.entry(model, DEPLOY_ENVIRONMENT)
        if "online" in deployed.endpoint_kinds:
            result.append(PipelineDefinition(f"{model}_monitor_{CI_ENV}_pipeline", "monitor",
                                             model, filters, schedule=deployed.monitor_cron))
        for env in envs:
            source = config.infra_env(env).promote_from
            if source is not None:
                result.append(PipelineDefinition(f"{model}_cd_{env}_pipeline", "cd", model, (),
                                                 env, source))
    result.append(PipelineDefinition(CHANGED_MODELS_WORKFLOW, "pr_changed", None, (),
                                     systems=(GITHUB,)))
    result.append(PipelineDefinition(MODEL_PR_WORKFLOW, "pr_model", None, (),
                                     systems=(GITHUB,)))
    return result


def definitions_for(config: FactoryConfig, system: str) -> list[PipelineDefinition]:
    return [d for d in pipeline_definitions(config) if system in d.systems]
