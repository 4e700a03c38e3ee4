"""The local stack's provisioner actions are idempotent and leave nothing half-written."""

from __future__ import annotations

import json
import sqlite3

from mlops.platform.local import bootstrap


def test_cluster_description_is_rewritten_atomically(tmp_path):
    path = tmp_path / "compute" / "cpu-cluster.json"
    spec = {"path": str(path), "name": "cpu-cluster", "size": "S", "min_nodes": 0, "max_nodes": 2}
    assert bootstrap.main(["cluster", json.dumps(spec)]) == 0
    assert json.loads(path.read_text())["max_nodes"] == 2
    bootstrap.main(["cluster", json.dumps({**spec, "max_nodes": 4})])
    assert json.loads(path.read_text()) == {"name": "cpu-cluster", "size": "S", "min_nodes": 0,
                                            "max_nodes": 4}
    assert [p.name for p in path.parent.iterdir()] == ["cpu-cluster.json"]


def test_directory_with_private_mode_is_idempotent(tmp_path):
    spec = json.dumps({"path": str(tmp_path / "endpoints"), "mode": "0700", "label": "registry"})
    for _ in range(2):
        assert bootstrap.main(["directory", spec]) == 0
    assert oct((tmp_path / "endpoints").stat().st_mode & 0o777) == "0o700"


def test_existing_mlflow_store_is_kept(tmp_path, capsys):
    db = tmp_path / "mlflow.db"
    with sqlite3.connect(db) as conn:
        conn.execute("create table alembic_version (version_num text)")
        conn.execute("insert into alembic_version values ('abc')")
        conn.execute("create table runs (id text)")
    spec = {"db": str(db), "artifact_root": str(tmp_path / "artifacts")}
    assert bootstrap.main(["mlflow-store", json.dumps(spec)]) == 0
    assert "already exists; kept" in capsys.readouterr().out
    with sqlite3.connect(db) as conn:  # untouched: not re-created
        assert conn.execute("select count(*) from runs").fetchone() == (0,)
    assert (tmp_path / "artifacts").is_dir()


def test_unknown_action_is_a_usage_error(capsys):
    assert bootstrap.main(["nope", "{}"]) == 2
    assert "usage:" in capsys.readouterr().err
