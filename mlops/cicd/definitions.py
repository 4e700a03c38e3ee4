"""Which CI pipelines exist. One list, used by the YAML generator and by the Azure DevOps stack
(build definitions, branch policies), so the two can never disagree."""

from __future__ import annotations

from dataclasses import dataclass

from mlops.config import FactoryConfig

AZURE_DIR = ".azure-pipelines"
GITHUB_DIR = ".github/workflows"
# The set-up steps, once per CI system: an Azure Pipelines step template (referenced relative to
# the pipeline files) and a GitHub composite action (referenced from the repository root).
AZURE_SETUP_TEMPLATE = f"{AZURE_DIR}/templates/setup.yml"
GITHUB_SETUP_ACTION = ".github/actions/setup/action.yml"


@dataclass(frozen=True)
class PipelineDefinition:
    name: str  # file stem, e.g. "nyc_taxi_pr_dev_pipeline"
    kind: str  # "infra" | "data" | "pr" | "ci" | "monitor"
    model: str | None
    path_filters: tuple[str, ...]  # PR triggers and branch-policy filters
    schedule: str | None = None  # cron (UTC) of a scheduled pipeline: monitor runs

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
        filters = config.entry(model, "pr").path_filters
        result.append(PipelineDefinition(f"{model}_pr_dev_pipeline", "pr", model, filters))
        result.append(PipelineDefinition(f"{model}_ci_dev_pipeline", "ci", model, filters))
        # the deployed model's monitoring, on its MONITOR_CRON (the entry `nox -s deploy` serves)
        result.append(PipelineDefinition(f"{model}_monitor_dev_pipeline", "monitor", model,
                                         filters, config.entry(model, "dev").monitor_cron))
    return result
