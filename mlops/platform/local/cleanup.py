"""Registry clean-up on the local platform (the seed's clean-up workflow): for each model,
delete the registered versions that are neither champion nor approved for production nor among
the newest KEEP of their registered model, and the PR experiments (one per branch) beyond the
KEEP most recently used whose runs have all finished. Nothing is deleted with dry_run."""

from __future__ import annotations

from mlops.config import ModelEnvConfig
from mlops.config.loader import PR_ENV
from mlops.platform._retention import name_prefix, sweep
from mlops.records import CleanupResult, Workspace
from mlops.registry_names import CHAMPION_ALIAS


def cleanup(workspace: Workspace, entries: list[ModelEnvConfig], keep: int,
            dry_run: bool = False) -> CleanupResult:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType
    from mlflow.exceptions import MlflowException

    client = MlflowClient(workspace.mlflow_tracking_uri, workspace.mlflow_registry_uri)
    removed, kept, experiments = [], [], []
    for entry in entries:
        prefix = name_prefix(entry, entry.model_base_name)
        for registered in client.search_registered_models(f"name LIKE '{prefix}%'"):
            name = registered.name
            try:
                champion = str(client.get_model_version_by_alias(name, CHAMPION_ALIAS).version)
            except MlflowException:
                champion = None
            versions = sorted(client.search_model_versions(f"name = '{name}'"),
                              key=lambda v: int(v.version), reverse=True)
            gone, stay = sweep(name, versions, champion, keep, dry_run=dry_run,
                               remove=lambda v, n=name: client.delete_model_version(n, v.version))
            removed += gone
            kept += stay
        if entry.env != PR_ENV:
            continue
        found = [e for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
                 if e.name.startswith(name_prefix(entry, entry.experiment_base_name))]
        found.sort(key=lambda e: e.last_update_time or 0, reverse=True)
        for experiment in found[keep:]:
            running = client.search_runs([experiment.experiment_id],
                                         "attributes.status = 'RUNNING'", max_results=1)
            if running:
                continue  # a build is still using it
            experiments.append(experiment.name)
            if not dry_run:
                client.delete_experiment(experiment.experiment_id)
    model = entries[0].model if entries else ""
    return CleanupResult(model, tuple(removed), tuple(kept), tuple(experiments), dry_run)
