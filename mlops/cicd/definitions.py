"""Which CI pipelines exist. One list, used by the YAML generator and by the Azure DevOps stack
(build definitions, branch policies), so the two can never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.config import FactoryConfig
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
    kind: str  # "infra" | "data" | "pr" | "ci" | "pr_changed" | "pr_model"
    model: str | None
    path_filters: tuple[str, ...]  # PR triggers and branch-policy filters
    systems: tuple[str, ...] = (AZURE, GITHUB)  # the CI systems that get this pipeline

    @property
    def azure_path(self) -> str:
        return f"{AZURE_DIR}/{self.name}.yml"

    @property
    def github_path(self) -> str:
        return f"{GITHUB_DIR}/{self.name}.yml"


def pipeline_definitions(config: FactoryConfig) -> list[PipelineDefinition]:
    infra_paths = ("config/infra_config.json", "cdktf_app/*", "terraform/*")
    result = [
        PipelineDefinition("infra_provision_pipeline", "infra", None, infra_paths),
        PipelineDefinition("data_registration_pipeline", "data", None,
                           ("config/model_config.json", "mlops/*/configs/data_config.json")),
    ]
    for model in config.model_names:
        filters = model_filters(config.entry(model, "pr").path_filters)
        result.append(PipelineDefinition(f"{model}_pr_dev_pipeline", "pr", model, filters,
                                         systems=(AZURE,)))
        result.append(PipelineDefinition(f"{model}_ci_dev_pipeline", "ci", model, filters))
    result.append(PipelineDefinition(CHANGED_MODELS_WORKFLOW, "pr_changed", None, (),
                                     systems=(GITHUB,)))
    result.append(PipelineDefinition(MODEL_PR_WORKFLOW, "pr_model", None, (),
                                     systems=(GITHUB,)))
    return result


def definitions_for(config: FactoryConfig, system: str) -> list[PipelineDefinition]:
    return [d for d in pipeline_definitions(config) if system in d.systems]
