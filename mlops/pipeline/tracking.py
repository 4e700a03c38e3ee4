"""MLflow runs for a pipeline: a parent run and one child run per step.

Importing mlflow costs several seconds, which would dominate a fully reused (warm) build. For a
SQLite tracking store that MLflow has already initialised and that holds the experiment, the
few writes the runner needs (create run, tags, metrics, status) go straight to MLflow's tables
with sqlite3; the integration tests read them back through MlflowClient. Anything else (a new
store, a new experiment, a non-SQLite URI) goes through MlflowClient.
"""

from __future__ import annotations

import getpass
import sqlite3
import threading
import time
import uuid
from pathlib import Path
from typing import Protocol

_REQUIRED = {
    "experiments": {"experiment_id", "name", "artifact_location", "lifecycle_stage"},
    "runs": {"run_uuid", "name", "source_type", "source_name", "entry_point_name", "user_id",
             "status", "start_time", "end_time", "source_version", "lifecycle_stage",
             "artifact_uri", "experiment_id", "deleted_time"},
    "tags": {"key", "value", "run_uuid"},
    "metrics": {"key", "value", "timestamp", "run_uuid", "step", "is_nan"},
    "latest_metrics": {"key", "value", "timestamp", "step", "is_nan", "run_uuid"},
}


class Tracker(Protocol):
    experiment_id: str

    def create_run(self, name: str, tags: dict[str, str], parent_id: str | None = None) -> str: ...

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None: ...

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None: ...

    def finish(self, run_id: str, status: str) -> None: ...

    def run_metrics(self, run_id: str) -> dict[str, float]: ...


def _now_ms() -> int:
    return int(time.time() * 1000)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


class SqliteTracker:
    """Direct writes to an initialised MLflow SQLite store (see module docstring)."""

    def __init__(self, db: Path, experiment_id: str, artifact_location: str):
        self.db, self.experiment_id, self.artifact_location = db, experiment_id, artifact_location

    @classmethod
    def open(cls, db: Path, experiment: str) -> SqliteTracker | None:
        """A tracker when ``db`` has MLflow's tables and the active experiment, else None."""
        if not db.is_file():
            return None
        try:
            with sqlite3.connect(db, timeout=30) as conn:
                for table, columns in _REQUIRED.items():
                    have = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
                    if not columns <= have:
                        return None
                row = conn.execute("SELECT experiment_id, artifact_location FROM experiments "
                                   "WHERE name = ? AND lifecycle_stage = 'active'",
                                   (experiment,)).fetchone()
        except sqlite3.Error:
            return None
        return cls(db, str(row[0]), row[1]) if row else None

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.db, timeout=60)

    def create_run(self, name: str, tags: dict[str, str], parent_id: str | None = None) -> str:
        run_id = uuid.uuid4().hex
        all_tags = {"mlflow.runName": name, "mlflow.user": _user(),
                    "mlflow.source.type": "LOCAL", "mlflow.source.name": "mlops.pipeline", **tags}
        if parent_id:
            all_tags["mlflow.parentRunId"] = parent_id
        with self._connect() as conn:
            conn.execute(
                "INSERT INTO runs (run_uuid, name, source_type, source_name, entry_point_name, "
                "user_id, status, start_time, end_time, source_version, lifecycle_stage, "
                "artifact_uri, experiment_id, deleted_time) "
                "VALUES (?, ?, 'UNKNOWN', '', '', ?, 'RUNNING', ?, NULL, '', 'active', ?, ?, NULL)",
                (run_id, name, _user(), _now_ms(),
                 f"{self.artifact_location.rstrip('/')}/{run_id}/artifacts",
                 int(self.experiment_id)))
            conn.executemany("INSERT INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                             [(k, str(v), run_id) for k, v in all_tags.items()])
        return run_id

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        with self._connect() as conn:
            conn.executemany("INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                             [(k, str(v), run_id) for k, v in tags.items()])

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        stamp = _now_ms()
        rows = [(k, float(v), stamp, run_id, 0, 0) for k, v in metrics.items()]
        with self._connect() as conn:
            conn.executemany("INSERT OR REPLACE INTO metrics (key, value, timestamp, run_uuid, "
                             "step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", rows)
            conn.executemany("INSERT OR REPLACE INTO latest_metrics (key, value, timestamp, "
                             "run_uuid, step, is_nan) VALUES (?, ?, ?, ?, ?, ?)", rows)

    def finish(self, run_id: str, status: str) -> None:
        with self._connect() as conn:
            conn.execute("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                         (status, _now_ms(), run_id))

    def run_metrics(self, run_id: str) -> dict[str, float]:
        with self._connect() as conn:
            return {k: v for k, v in conn.execute(
                "SELECT key, value FROM latest_metrics WHERE run_uuid = ?", (run_id,))}


class ClientTracker:
    """The same operations through MlflowClient (any tracking URI)."""

    def __init__(self, tracking_uri: str, experiment: str, artifact_location: str | None):
        from mlflow.tracking import MlflowClient

        self.client = MlflowClient(tracking_uri)
        found = self.client.get_experiment_by_name(experiment)
        if found is None:
            self.experiment_id = self.client.create_experiment(
                experiment, artifact_location=artifact_location)
        else:
            self.experiment_id = found.experiment_id

    def create_run(self, name: str, tags: dict[str, str], parent_id: str | None = None) -> str:
        tags = dict(tags)
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        return self.client.create_run(self.experiment_id, run_name=name, tags=tags).info.run_id

    def set_tags(self, run_id: str, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            self.client.set_tag(run_id, key, value)

    def log_metrics(self, run_id: str, metrics: dict[str, float]) -> None:
        for key, value in metrics.items():
            self.client.log_metric(run_id, key, float(value))

    def finish(self, run_id: str, status: str) -> None:
        self.client.set_terminated(run_id, status)

    def run_metrics(self, run_id: str) -> dict[str, float]:
        return dict(self.client.get_run(run_id).data.metrics)


def open_tracker(tracking_uri: str, experiment: str, artifact_root: Path | None) -> Tracker:
    """The cheapest tracker that is correct for this store and experiment."""
    db = _sqlite_path(tracking_uri)
    if db is not None:
        fast = SqliteTracker.open(db, experiment)
        if fast is not None:
            return fast
        db.parent.mkdir(parents=True, exist_ok=True)
    location = (artifact_root / experiment).as_uri() if artifact_root else None
    # pipelines of one build start in threads: one of them creates a new store's tables
    with _CREATING:
        client = ClientTracker(tracking_uri, experiment, location)
    if db is not None:  # the store and experiment exist now: use the fast path from here on
        fast = SqliteTracker.open(db, experiment)
        if fast is not None:
            return fast
    return client


_CREATING = threading.Lock()


def close_runs(tracking_uri: str, run_ids: list[str], status: str, tags: dict[str, str]) -> None:
    """Set ``status`` (and ``tags``) on runs another process left open; missing runs are skipped."""
    if not run_ids:
        return
    db = _sqlite_path(tracking_uri)
    if db is not None:
        if not db.is_file():
            return
        with sqlite3.connect(db, timeout=60) as conn:
            known = {row[0] for row in conn.execute(
                f"SELECT run_uuid FROM runs WHERE run_uuid IN ({','.join('?' * len(run_ids))})",
                run_ids)}
            conn.executemany("UPDATE runs SET status = ?, end_time = ? WHERE run_uuid = ?",
                             [(status, _now_ms(), r) for r in known])
            conn.executemany("INSERT OR REPLACE INTO tags (key, value, run_uuid) VALUES (?, ?, ?)",
                             [(k, v, r) for r in known for k, v in tags.items()])
        return
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    for run_id in run_ids:
        try:
            for key, value in tags.items():
                client.set_tag(run_id, key, value)
            client.set_terminated(run_id, status)
        except MlflowException:
            continue


def registry_state(registry_uri: str, model: str, run_id: str) -> dict:
    """What the model registry holds for registered model ``model``: each alias -> [version, run
    id of that version], and the versions that run ``run_id`` created. ``readable`` is False when
    the store exists but could not be read (such a state never matches a recorded one)."""
    state: dict = {"model": model, "readable": True, "aliases": {}, "created": []}
    db = _sqlite_path(registry_uri)
    if db is not None:
        if not db.is_file():
            return state
        try:
            with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
                tables = {row[0] for row in conn.execute(
                    "SELECT name FROM sqlite_master WHERE type = 'table'")}
                if not {"registered_model_aliases", "model_versions"} <= tables:
                    return state  # a store MLflow has not initialised yet: an empty registry
                state["aliases"] = {alias: [str(version), run] for alias, version, run in conn.execute(
                    "SELECT a.alias, a.version, v.run_id FROM registered_model_aliases a "
                    "LEFT JOIN model_versions v ON v.name = a.name AND v.version = a.version "
                    "WHERE a.name = ?", (model,))}
                state["created"] = sorted(str(row[0]) for row in conn.execute(
                    "SELECT version FROM model_versions WHERE name = ? AND run_id = ? AND "
                    "current_stage != 'Deleted_Internal'", (model, run_id)))
        except sqlite3.Error:
            state["readable"] = False
        return state
    from mlflow.exceptions import MlflowException
    from mlflow.tracking import MlflowClient

    client = MlflowClient(registry_uri=registry_uri)
    try:
        versions = {str(v.version): v.run_id for v in
                    client.search_model_versions(f"name = '{model}'")}
        aliases = client.get_registered_model(model).aliases
    except MlflowException as exc:
        if "RESOURCE_DOES_NOT_EXIST" in str(getattr(exc, "error_code", "")):
            return state
        state["readable"] = False
        return state
    state["aliases"] = {a: [str(v), versions.get(str(v))] for a, v in aliases.items()}
    state["created"] = sorted(v for v, run in versions.items() if run == run_id)
    return state
