"""Registry clean-up on Azure ML (the seed's clean-up workflow), through azure-ai-ml: model
versions that are neither champion nor approved for production nor among the newest KEEP are
archived (Azure ML archives model versions rather than deleting them: archived versions drop
out of listings and can be restored), and the PR experiments' finished jobs beyond the KEEP most
recent are archived. Nothing changes with dry_run."""

from __future__ import annotations

from typing import Any

from mlops.config import ModelEnvConfig
from mlops.config.loader import PR_ENV
from mlops.platform._retention import name_prefix, sweep
from mlops.platform.azure import _assets
from mlops.platform.azure.client import AzureClient, connect, log
from mlops.records import CleanupResult, Workspace

# Azure ML job states after which a job can no longer change (mlops.platform.azure._assets).
_FINISHED = set(_assets.TERMINAL)


def cleanup(workspace: Workspace, entries: list[ModelEnvConfig], keep: int,
            dry_run: bool = False, *, client: AzureClient | None = None) -> CleanupResult:
    client = client or connect(workspace)
    removed, kept, experiments = [], [], []
    containers = [m.name for m in client.models.list()]
    for entry in entries:
        prefix = name_prefix(entry, entry.model_base_name)
        for name in sorted(n for n in containers if n.startswith(prefix)):
            versions = sorted(client.models.list(name=name), key=_assets._version_key,
                              reverse=True)
            champion = str(_assets.champion(client, name).version) if versions else None
            gone, stay = sweep(name, versions, champion, keep, dry_run=dry_run,
                               remove=lambda v, n=name: client.models.archive(
                                   name=n, version=str(v.version)))
            removed += gone
            kept += stay
        if entry.env != PR_ENV:
            continue
        prefix = name_prefix(entry, entry.experiment_base_name)
        jobs = [j for j in client.jobs.list() if str(j.experiment_name or "").startswith(prefix)]
        by_experiment: dict[str, list[Any]] = {}
        for job in jobs:
            by_experiment.setdefault(job.experiment_name, []).append(job)
        latest = sorted(by_experiment, key=lambda e: max(_created(j) for j in by_experiment[e]),
                        reverse=True)
        for experiment in latest[keep:]:
            if any(j.status not in _FINISHED for j in by_experiment[experiment]):
                continue  # a build is still running in it
            experiments.append(experiment)
            if not dry_run:
                for job in by_experiment[experiment]:
                    client.jobs.archive(name=job.name)
    if removed or experiments:
        verb = "would archive" if dry_run else "archived"
        log(f"clean-up: {verb} {len(removed)} model version(s), "
            f"{len(experiments)} PR experiment(s)")
    model = entries[0].model if entries else ""
    return CleanupResult(model, tuple(removed), tuple(kept), tuple(experiments), dry_run)


def _created(job: Any) -> str:
    context = getattr(job, "creation_context", None)
    stamp = getattr(context, "created_at", None)
    return str(stamp or "")
