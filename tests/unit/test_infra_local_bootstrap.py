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


def _schema(db) -> list[str]:
    with sqlite3.connect(db) as conn:
        return sorted(sql for (sql,) in conn.execute("select sql from sqlite_master where sql "
                                                     "is not null"))


def _default_experiment(db) -> tuple:
    with sqlite3.connect(db) as conn:
        return conn.execute("select name, artifact_location, lifecycle_stage from experiments "
                            "where experiment_id = 0").fetchone()


def test_a_second_store_is_copied_from_the_migrated_schema_without_mlflow(tmp_path,
                                                                          monkeypatch):
    """The first workspace runs MLflow's migrations and keeps the result; the next copies it
    (no MLflow import) and is the store MLflow would have made: same schema, its own Default
    experiment, usable by MLflow as it is."""
    import subprocess
    import sys

    template = tmp_path / "env" / "mlflow-x.db"
    monkeypatch.setattr(bootstrap, "schema_template", lambda: template)
    first = {"db": str(tmp_path / "a" / "mlflow.db"), "artifact_root": str(tmp_path / "a" / "art")}
    assert "migrated" in bootstrap.mlflow_store(first)
    assert template.is_file()
    # MLflow's own Default experiment: what a copy must reproduce for its workspace
    assert _default_experiment(first["db"]) == \
        ("Default", f"{(tmp_path / 'a' / 'art').as_uri()}/0", "active")

    second = {"db": str(tmp_path / "b" / "mlflow.db"), "artifact_root": str(tmp_path / "b" / "art")}
    script = ("import json, sys\nfrom pathlib import Path\nfrom mlops.infra import local_bootstrap "
              "as b\nb.schema_template = lambda: Path(sys.argv[2])\n"
              "print(b.mlflow_store(json.loads(sys.argv[1])))\n"
              "print('mlflow imported' if 'mlflow' in sys.modules else 'no mlflow')\n")
    out = subprocess.run([sys.executable, "-c", script, json.dumps(second), str(template)],
                         capture_output=True, text=True, check=True).stdout
    assert "from the migrated schema kept in the environment" in out and "no mlflow" in out
    assert _schema(second["db"]) == _schema(first["db"])
    assert _default_experiment(second["db"]) == \
        ("Default", f"{(tmp_path / 'b' / 'art').as_uri()}/0", "active")
    assert not list((tmp_path / "b").glob(".*.tmp"))

    from mlflow import MlflowClient

    uri = f"sqlite:///{second['db']}"
    client = MlflowClient(uri, uri)
    experiment = client.create_experiment("e", artifact_location=(tmp_path / "b" / "art").as_uri())
    run = client.create_run(experiment)
    client.log_metric(run.info.run_id, "r2", 0.9)
    client.create_registered_model("m")
    assert client.get_run(run.info.run_id).data.metrics == {"r2": 0.9}
    assert _schema(second["db"]) == _schema(first["db"])  # MLflow migrated nothing


def test_a_broken_template_is_not_copied(tmp_path, monkeypatch):
    template = tmp_path / "env" / "mlflow-x.db"
    template.parent.mkdir()
    template.write_bytes(b"not a database")
    monkeypatch.setattr(bootstrap, "schema_template", lambda: template)
    spec = {"db": str(tmp_path / "a" / "mlflow.db"), "artifact_root": str(tmp_path / "a" / "art")}
    assert "migrated" in bootstrap.mlflow_store(spec)
    assert bootstrap.present({"kind": "mlflow-store", **spec})
    assert _schema(template) == _schema(spec["db"])  # replaced by a good one
