"""Local model monitoring: the online endpoint's collected requests (the data collector's files
under the workspace's collected/ folder) against the model's training data, drift by evidently.

Reference: the training_data asset's latest registered version through the model's own prep and
features (mlops/monitoring/reference.py), a seeded sample of it, with the served champion's
predictions on it (the pipeline's predict step). Current: every logged request's inputs and
predictions. A column drifts when its distance reaches the model's DRIFT_THRESHOLD."""

from __future__ import annotations

from pathlib import Path

from mlops.config import ModelEnvConfig
from mlops.errors import FactoryError
from mlops.monitoring.reference import reference_features, reference_predictions
from mlops.naming import RunNames
from mlops.plugins import read_plugin
from mlops.records import MonitorRecord, Workspace
from mlops.serving.collector import PREDICTION_COLUMN

COLLECTED_DIR = "collected"


def collection_root(workspace: Workspace) -> Path:
    """Where local deployments' data collectors write (FACTORY_COLLECT_DIR)."""
    if workspace.root is None:
        raise FactoryError(f"workspace {workspace.name} has no local root (target "
                           f"{workspace.target}); run `nox -s provision`")
    return workspace.root / COLLECTED_DIR


def monitor(workspace: Workspace, entry: ModelEnvConfig, names: RunNames, reports: Path,
            env: str) -> MonitorRecord:
    import pandas as pd  # here, not above: every command loads the platform, few monitor

    from mlops.monitoring import drift
    from mlops.monitoring.collected import read_collected
    from mlops.platform.local.data import latest_asset
    from mlops.platform.local.endpoints import champion_model, registry_of

    endpoint = entry.realtime.endpoint_name
    collected = read_collected(collection_root(workspace), endpoint)
    features = list(read_plugin(entry.model_dir).features)
    missing = [c for c in features if c not in collected.inputs.columns]
    if missing or PREDICTION_COLUMN not in collected.outputs.columns:
        raise FactoryError(f"{entry.model}: the collected data of {endpoint} lacks "
                           f"{', '.join(missing or [PREDICTION_COLUMN])}; expected the model's "
                           f"inputs ({', '.join(features)}) and '{PREDICTION_COLUMN}'")
    dataset = entry.data.by_purpose("training_data")
    asset = latest_asset(workspace, dataset)
    print(f"{entry.model}: {collected.requests} logged requests of {endpoint} "
          f"({len(collected.inputs)} rows) vs {asset.name}:{asset.version}", flush=True)
    reference = drift.sample(pd.read_csv(reference_features(entry, Path(asset.uri),
                                                            asset.version)))
    registry = registry_of(workspace)
    _, model_dir = champion_model(workspace, names.model_name, registry.root / "_models")
    reference = reference.assign(**{drift.PREDICTION: reference_predictions(
        entry, reference, model_dir)})
    current = collected.inputs[features].assign(
        **{drift.PREDICTION: collected.outputs[PREDICTION_COLUMN].to_numpy()})
    html, summary_path = drift.report_paths(reports, entry.model, env)
    columns = drift.compare(reference, current, [*features, drift.PREDICTION],
                            entry.drift_threshold, html,
                            f"{entry.model} ({env}): {endpoint} vs {asset.name}:{asset.version}")
    record = MonitorRecord(
        model=entry.model, env=env, target=workspace.target, endpoint=endpoint,
        threshold=entry.drift_threshold,
        drifted_columns=tuple(c.column for c in columns if c.drifted), columns=tuple(columns),
        reference=f"{asset.name}:{asset.version}", reference_rows=len(reference),
        current_rows=len(current), requests=collected.requests,
        model_versions=tuple(collected.model_versions), window=(collected.first, collected.last),
        html=str(html), created=drift.now())
    drift.write_record(record, summary_path)
    return record
