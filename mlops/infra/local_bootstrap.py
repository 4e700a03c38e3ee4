"""Creates the local workspace's parts; the local stack's ``local-exec`` provisioners call it:

    python -m mlops.infra.local_bootstrap <kind> '<json spec>'

Every action is idempotent and crash-safe (temp + os.replace), so a re-run after ``kill -9``
mid-apply converges. Kinds: mlflow-store, directory, cluster.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _write_json(path: Path, value: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(fd, "w") as handle:
        json.dump(value, handle, indent=2, sort_keys=True)
    os.replace(tmp, path)


def _has_mlflow_schema(db: Path) -> bool:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
            return conn.execute("select version_num from alembic_version").fetchone() is not None
    except sqlite3.Error:
        return False


SCHEMA_ENV = "FACTORY_MLFLOW_SCHEMA"  # another place for the copy below (a read-only env)


def schema_template() -> Path:
    """A new, migrated MLflow store of this environment's MLflow version, kept in the
    environment: the next workspace copies it instead of importing MLflow and running its
    migrations (about 8 s)."""
    from importlib.metadata import version

    if os.environ.get(SCHEMA_ENV):
        return Path(os.environ[SCHEMA_ENV])
    return Path(sys.prefix) / "share" / "model-factory" / f"mlflow-{version('mlflow')}.db"


def _keep_template(store: Path, template: Path) -> None:
    """Keep a copy of a store just migrated (before anything else writes to it)."""
    with contextlib.suppress(OSError):  # a read-only environment: the next one migrates again
        template.parent.mkdir(parents=True, exist_ok=True)
        tmp = template.parent / f".{template.name}.{os.getpid()}.tmp"
        shutil.copyfile(store, tmp)
        os.replace(tmp, template)


def _from_template(template: Path, store: Path, artifacts: Path) -> bool:
    """The template copied to ``store``, its Default experiment (the only row MLflow's
    migrations write that names the workspace) pointed at this artifact root, as
    SqlAlchemyStore would have: <artifact root>/0, created now."""
    if not _has_mlflow_schema(template):
        return False
    shutil.copyfile(template, store)
    now = int(time.time() * 1000)
    with contextlib.closing(sqlite3.connect(store)) as conn, conn:
        conn.execute("UPDATE experiments SET artifact_location = ?, creation_time = ?, "
                     "last_update_time = ? WHERE experiment_id = 0",
                     (f"{artifacts.as_uri()}/0", now, now))
    return True


def mlflow_store(spec: dict[str, Any]) -> str:
    """The MLflow tracking + registry store (SQLite, schema migrated) and its artifact root."""
    db, artifacts = Path(spec["db"]), Path(spec["artifact_root"])
    artifacts.mkdir(parents=True, exist_ok=True)
    db.parent.mkdir(parents=True, exist_ok=True)
    if _has_mlflow_schema(db):
        return f"MLflow store {db} already exists; kept"
    for stale in db.parent.glob(f".{db.name}.*.tmp"):  # left by a killed earlier run
        stale.unlink(missing_ok=True)
    tmp = db.parent / f".{db.name}.{os.getpid()}.tmp"
    template = schema_template()
    how = "from the migrated schema kept in the environment"
    if not _from_template(template, tmp, artifacts):
        from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # runs the migrations

        store = SqlAlchemyStore(f"sqlite:///{tmp}", artifacts.as_uri())
        store.engine.dispose()
        _keep_template(tmp, template)
        how = "migrated"
    if _has_mlflow_schema(db):  # another run finished first: keep its store
        tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, db)
    return f"MLflow store {db} created ({how}; artifacts in {artifacts})"


def directory(spec: dict[str, Any]) -> str:
    path = Path(spec["path"])
    path.mkdir(parents=True, exist_ok=True)
    if spec.get("mode"):
        path.chmod(int(spec["mode"], 8))
    return f"{spec.get('label', 'folder')} {path} ready"


def cluster(spec: dict[str, Any]) -> str:
    """A local compute cluster is its description: max_nodes is the local runner's parallelism."""
    spec = {k: v for k, v in spec.items() if k != "kind"}
    path = Path(spec.pop("path"))
    _write_json(path, spec)
    return f"cluster {spec['name']} ({spec['size']}, {spec['min_nodes']}-{spec['max_nodes']} nodes)"


ACTIONS: dict[str, Callable[[dict[str, Any]], str]] = {
    "mlflow-store": mlflow_store, "directory": directory, "cluster": cluster}


def present(spec: dict[str, Any]) -> bool:
    """Whether the part a spec describes is really there. Terraform records a terraform_data
    resource as created before its provisioner finishes, so after a kill -9 the state can claim
    a part that does not exist; provision re-creates every part for which this is False."""
    kind = spec.get("kind")
    if kind == "mlflow-store":
        return _has_mlflow_schema(Path(spec["db"])) and Path(spec["artifact_root"]).is_dir()
    if kind == "directory":
        return Path(spec["path"]).is_dir()
    if kind == "cluster":
        try:
            written = json.loads(Path(spec["path"]).read_text())
        except (OSError, ValueError):
            return False
        return written.get("max_nodes") == spec["max_nodes"] and written.get("name") == spec["name"]
    return True  # a part this version does not know how to check


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ACTIONS:
        print(f"usage: python -m mlops.infra.local_bootstrap {{{','.join(ACTIONS)}}} JSON",
              file=sys.stderr)
        return 2
    print(ACTIONS[argv[0]](json.loads(argv[1])), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
