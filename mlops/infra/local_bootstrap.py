"""Creates the local workspace's parts; the local stack's ``local-exec`` provisioners call it:

    python -m mlops.infra.local_bootstrap <kind> '<json spec>'

Every action is idempotent and crash-safe (temp + os.replace), so a re-run after ``kill -9``
mid-apply converges. Kinds: mlflow-store, directory, cluster.
"""

from __future__ import annotations

import json
import os
import sqlite3
import sys
import tempfile
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
    from mlflow.store.tracking.sqlalchemy_store import SqlAlchemyStore  # runs the migrations

    store = SqlAlchemyStore(f"sqlite:///{tmp}", artifacts.as_uri())
    store.engine.dispose()
    if _has_mlflow_schema(db):  # another run finished first: keep its store
        tmp.unlink(missing_ok=True)
    else:
        os.replace(tmp, db)
    return f"MLflow store {db} created (artifacts in {artifacts})"


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
