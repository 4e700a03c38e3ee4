"""The local stack's provisioner actions are idempotent and leave nothing half-written."""

from __future__ import annotations

import json
import sqlite3

from mlops.infra import local_bootstrap as bootstrap


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


def test_present_checks_each_part_on_disk(tmp_path):
    folder = {"kind": "directory", "path": str(tmp_path / "data")}
    assert not bootstrap.present(folder)
    bootstrap.directory(folder)
    assert bootstrap.present(folder)

    cluster = {"kind": "cluster", "path": str(tmp_path / "c.json"), "name": "cpu", "size": "S",
               "min_nodes": 0, "max_nodes": 2}
    assert not bootstrap.present(cluster)
    bootstrap.cluster(dict(cluster))
    assert bootstrap.present(cluster)
    assert not bootstrap.present({**cluster, "max_nodes": 4})  # stale description

    store = {"kind": "mlflow-store", "db": str(tmp_path / "m" / "mlflow.db"),
             "artifact_root": str(tmp_path / "m" / "artifacts")}
    (tmp_path / "m").mkdir()
    sqlite3.connect(tmp_path / "m" / "mlflow.db").close()  # a file, but no MLflow schema
    assert not bootstrap.present(store)


def test_missing_parts_recorded_in_state_are_planned_for_replacement(tmp_path):
    from mlops.infra.layout import Layout
    from mlops.infra.lifecycle import _missing_local_parts

    layout = Layout(tmp_path)
    there = {"kind": "directory", "path": str(tmp_path)}
    gone = {"kind": "directory", "path": str(tmp_path / "deleted")}
    state = {"resources": [
        {"type": "terraform_data", "name": name,
         "instances": [{"attributes": {"triggers_replace": {"value": spec}}}]}
        for name, spec in (("data_store", there), ("endpoint_registry", gone))]}
    layout.local_state().parent.mkdir(parents=True)
    layout.local_state().write_text(json.dumps(state))
    assert _missing_local_parts(layout) == ["terraform_data.endpoint_registry"]
